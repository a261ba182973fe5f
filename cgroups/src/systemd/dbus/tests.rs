use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::*;

#[test]
fn values_round_trip_through_the_wire_format() {
    let props = Value::Array(
        "(sv)".into(),
        vec![
            Value::Struct(vec![
                Value::Str("Description".into()),
                Value::Variant(Box::new(Value::Str("kiln container".into()))),
            ]),
            Value::Struct(vec![
                Value::Str("PIDs".into()),
                Value::Variant(Box::new(Value::Array("u".into(), vec![Value::U32(4242)]))),
            ]),
            Value::Struct(vec![
                Value::Str("MemoryMax".into()),
                Value::Variant(Box::new(Value::U64(64 << 20))),
            ]),
            Value::Struct(vec![
                Value::Str("Delegate".into()),
                Value::Variant(Box::new(Value::Bool(true))),
            ]),
            Value::Struct(vec![
                Value::Str("AllowedCPUs".into()),
                Value::Variant(Box::new(Value::Array("y".into(), vec![Value::Byte(3)]))),
            ]),
        ],
    );
    let body = vec![
        Value::Str("kiln-x.scope".into()),
        Value::Str("fail".into()),
        props,
        Value::Array("(sa(sv))".into(), vec![]),
    ];
    let sig: String = body.iter().map(Value::signature).collect();
    assert_eq!(sig, "ssa(sv)a(sa(sv))");
    let mut e = Encoder::default();
    for v in &body {
        e.put(v);
    }
    let back = Decoder::new(&e.buf).get_all(&sig).unwrap();
    assert_eq!(back, body);
}

#[test]
fn a_message_round_trips_and_its_length_is_known_from_the_header() {
    let m = Message::call(
        "org.freedesktop.systemd1",
        "/org/freedesktop/systemd1",
        "org.freedesktop.systemd1.Manager",
        "StopUnit",
        vec![
            Value::Str("kiln-x.scope".into()),
            Value::Str("replace".into()),
        ],
    );
    let bytes = m.encode(7);
    let mut fixed = [0u8; 16];
    fixed.copy_from_slice(&bytes[..16]);
    assert_eq!(Message::total_len(&fixed).unwrap(), bytes.len());
    let back = Message::decode(&bytes).unwrap();
    assert_eq!(back.serial, 7);
    assert_eq!(back.member.as_deref(), Some("StopUnit"));
    assert_eq!(back.body, m.body);
}

#[test]
fn malformed_input_is_an_error_not_a_panic() {
    let m = Message::call("d", "/p", "i.f", "M", vec![Value::Str("x".repeat(40))]);
    let bytes = m.encode(1);
    for cut in 0..bytes.len() {
        assert!(Message::decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    // An array claiming more bytes than there are; a deep nesting; a bad boolean.
    let mut d = Decoder::new(&[0xff, 0xff, 0, 0, 1, 2, 3, 4]);
    assert!(d.get("ay").is_err());
    let deep = format!("{}y", "a".repeat(200));
    assert!(Decoder::new(&[4, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0])
        .get(&deep)
        .is_err());
    assert!(Decoder::new(&[2, 0, 0, 0]).get("b").is_err());
    assert!(split_first_type("a(su").is_err());
}

/// A private message bus (Debian's dbus-daemon with its session configuration) on a socket
/// in a temporary directory; killed on drop.
pub(crate) struct Bus {
    child: Child,
    pub(crate) address: String,
    _dir: tempfile::TempDir,
}

impl Bus {
    pub(crate) fn start() -> Bus {
        let dir = tempfile::tempdir().unwrap();
        let address = format!("unix:path={}", dir.path().join("bus").display());
        let child = Command::new("dbus-daemon")
            .args([
                "--session",
                "--nofork",
                "--nopidfile",
                "--address",
                &address,
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("dbus-daemon (Debian package dbus-daemon) must be installed");
        let socket = dir.path().join("bus");
        for _ in 0..500 {
            if socket.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Bus {
            child,
            address,
            _dir: dir,
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn calls_errors_and_signals_on_a_real_bus() {
    let bus = Bus::start();
    let mut a = Connection::open(&bus.address).unwrap();
    assert!(a.unique_name().starts_with(':'), "{}", a.unique_name());
    let names = a.call(Message::bus_driver("ListNames", vec![])).unwrap();
    let Some(Value::Array(_, names)) = names.body.first() else {
        panic!("ListNames gave {names:?}")
    };
    let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
    assert!(names.contains(&"org.freedesktop.DBus"), "{names:?}");
    assert!(names.contains(&a.unique_name()), "{names:?}");
    // An error reply names the error.
    let err = a
        .call(Message::bus_driver("NoSuchMethod", vec![]))
        .unwrap_err();
    assert!(
        matches!(&err, DbusError::Remote { name, .. } if name == "org.freedesktop.DBus.Error.UnknownMethod"),
        "{err}"
    );
    // A signal: subscribe, then a second connection appears on the bus.
    let rule = "type='signal',interface='org.freedesktop.DBus',member='NameOwnerChanged'";
    a.call(Message::bus_driver(
        "AddMatch",
        vec![Value::Str(rule.into())],
    ))
    .unwrap();
    let b = Connection::open(&bus.address).unwrap();
    let mut seen = false;
    while let Some(sig) = a.next_signal(Duration::from_secs(5)).unwrap() {
        if sig.member.as_deref() == Some("NameOwnerChanged")
            && sig.body.first().and_then(Value::as_str) == Some(b.unique_name())
        {
            seen = true;
            break;
        }
    }
    assert!(seen, "no NameOwnerChanged for {}", b.unique_name());
    // Nothing more: the wait for a signal ends at its timeout.
    let quiet = a.next_signal(Duration::from_millis(100)).unwrap();
    assert!(quiet.is_none_or(|s| s.member.as_deref() == Some("NameOwnerChanged")));
}

#[test]
fn an_unreachable_bus_is_named() {
    let err = Connection::open("unix:path=/nonexistent/kiln-bus").unwrap_err();
    assert!(err.to_string().contains("/nonexistent/kiln-bus"), "{err}");
    let err = Connection::open("tcp:host=localhost").unwrap_err();
    assert!(matches!(err, DbusError::Address(_)), "{err}");
}
