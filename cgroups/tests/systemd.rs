//! The D-Bus client and the manager wrapper against a real systemd (PID 1): run in the
//! systemd VM (integration-tests/systemd-vm); `#[ignore]`d elsewhere.

use std::process::Command;

use kiln_cgroups::systemd::dbus::{Connection, Value};
use kiln_cgroups::systemd::manager::Systemd;

fn prop(name: &str, v: Value) -> Value {
    Value::Struct(vec![Value::Str(name.into()), Value::Variant(Box::new(v))])
}

#[test]
#[ignore = "needs systemd as PID 1 (integration-tests/systemd-vm)"]
fn a_transient_scope_with_limits_comes_and_goes() {
    let mut sd = Systemd::new(Connection::system().expect("system bus")).expect("subscribe");
    let mut child = Command::new("sleep").arg("60").spawn().unwrap();
    let unit = format!("kiln-test-{}.scope", child.id());
    sd.start_transient(
        &unit,
        vec![
            prop("Description", Value::Str("kiln test".into())),
            prop("Slice", Value::Str("system.slice".into())),
            prop("Delegate", Value::Bool(true)),
            prop(
                "PIDs",
                Value::Array("u".into(), vec![Value::U32(child.id())]),
            ),
            prop("MemoryAccounting", Value::Bool(true)),
            prop("MemoryMax", Value::U64(64 << 20)),
            prop("TasksMax", Value::U64(42)),
        ],
    )
    .unwrap();
    let dir = format!("/sys/fs/cgroup/system.slice/{unit}");
    let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).unwrap_or_default();
    assert_eq!(read("memory.max").trim(), (64u64 << 20).to_string());
    assert_eq!(read("pids.max").trim(), "42");
    assert!(read("cgroup.procs").contains(&child.id().to_string()));
    sd.set_properties(&unit, vec![prop("TasksMax", Value::U64(7))])
        .unwrap();
    assert_eq!(read("pids.max").trim(), "7");
    child.kill().unwrap();
    child.wait().unwrap();
    sd.stop(&unit).unwrap();
    assert!(!std::path::Path::new(&dir).exists(), "{dir} left");
    // Stopping it again is fine; a bad name is an error naming the unit.
    sd.stop(&unit).unwrap();
    let err = sd.start_transient("not a unit name", vec![]).unwrap_err();
    assert!(err.to_string().contains("not a unit name"), "{err}");
}
