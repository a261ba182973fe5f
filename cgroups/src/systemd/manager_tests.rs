//! The job handling of [`Systemd`] against a stand-in for systemd's manager on a private
//! dbus-daemon: the answers systemd gives rarely (a failed job, a job that never ends, a unit
//! that exists) given on purpose, and what the client does with them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Systemd, UnitError, DEST, MANAGER, PATH};
use crate::systemd::dbus::tests::Bus;
use crate::systemd::dbus::{Connection, Kind, Message, Value};

/// How the stand-in answers each StartTransientUnit, in turn.
#[derive(Clone, Copy)]
enum Start {
    /// `org.freedesktop.systemd1.UnitExists`.
    Exists,
    /// A job, then its JobRemoved with this result.
    Job(&'static str),
    /// A job whose JobRemoved never comes.
    Hang,
}

/// The stand-in: owns systemd's name on the bus and answers calls per `starts`; returns the
/// members it was called with, in order, once `stop` is set.
struct Fake {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<String>>>,
}

impl Fake {
    fn start(address: &str, starts: Vec<Start>) -> Fake {
        let stop = Arc::new(AtomicBool::new(false));
        let mut conn = Connection::open(address).unwrap();
        let owner = conn
            .call(Message::bus_driver(
                "RequestName",
                vec![Value::Str(DEST.into()), Value::U32(4)],
            ))
            .unwrap();
        assert_eq!(owner.body.first().and_then(Value::as_u32), Some(1)); // primary owner
        let flag = stop.clone();
        let thread = std::thread::spawn(move || serve(conn, starts, &flag));
        Fake {
            stop,
            thread: Some(thread),
        }
    }

    fn calls(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn reply(to: &Message, kind: Kind, error: Option<&str>, body: Vec<Value>) -> Message {
    Message {
        kind,
        serial: 0,
        reply_serial: Some(to.serial),
        path: None,
        interface: None,
        member: None,
        error_name: error.map(str::to_string),
        destination: to.sender.clone(),
        sender: None,
        body,
    }
}

fn serve(mut conn: Connection, starts: Vec<Start>, stop: &AtomicBool) -> Vec<String> {
    let mut starts = starts.into_iter();
    let mut calls = Vec::new();
    let mut jobs = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let Some(m) = conn.next_message(Duration::from_millis(50)).unwrap() else {
            continue;
        };
        if m.kind != Kind::Call {
            continue;
        }
        let member = m.member.clone().unwrap_or_default();
        calls.push(member.clone());
        let unit = m
            .body
            .first()
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let answer = match (member.as_str() == "StartTransientUnit")
            .then(|| starts.next())
            .flatten()
        {
            Some(Start::Exists) => {
                let name = "org.freedesktop.systemd1.UnitExists";
                let text = Value::Str(format!("Unit {unit} was already loaded"));
                reply(&m, Kind::Error, Some(name), vec![text])
            }
            Some(start) => {
                jobs += 1;
                let job = format!("{PATH}/job/{jobs}");
                conn.send(&reply(
                    &m,
                    Kind::Return,
                    None,
                    vec![Value::Path(job.clone())],
                ))
                .unwrap();
                if let Start::Job(result) = start {
                    let mut signal = Message::call("", PATH, MANAGER, "JobRemoved", vec![]);
                    signal.kind = Kind::Signal;
                    signal.destination = None;
                    signal.body = vec![
                        Value::U32(jobs),
                        Value::Path(job),
                        Value::Str(unit),
                        Value::Str(result.into()),
                    ];
                    conn.send(&signal).unwrap();
                }
                continue;
            }
            None => reply(&m, Kind::Return, None, vec![]),
        };
        conn.send(&answer).unwrap();
    }
    calls
}

/// The calls of a start whose unit exists: reset, then once more.
const RESET_AND_RETRY: [&str; 4] = [
    "Subscribe",
    "StartTransientUnit",
    "ResetFailedUnit",
    "StartTransientUnit",
];

fn client(bus: &Bus) -> Systemd {
    Systemd::new(Connection::open(&bus.address).unwrap())
        .unwrap()
        .with_job_timeout(Duration::from_millis(500))
}

#[test]
fn a_job_that_ends_done_starts_the_unit() {
    let bus = Bus::start();
    let fake = Fake::start(&bus.address, vec![Start::Job("done")]);
    client(&bus).start_transient("t-ok.scope", vec![]).unwrap();
    assert_eq!(fake.calls(), ["Subscribe", "StartTransientUnit"]);
}

#[test]
fn a_failed_job_names_the_unit_and_its_result() {
    let bus = Bus::start();
    let _fake = Fake::start(&bus.address, vec![Start::Job("failed")]);
    let err = client(&bus)
        .start_transient("t-failed.scope", vec![])
        .unwrap_err();
    assert!(
        matches!(&err, UnitError::Job { result, .. } if result == "failed"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "systemd unit t-failed.scope: start job failed"
    );
}

#[test]
fn a_job_that_never_ends_times_out_naming_the_unit() {
    let bus = Bus::start();
    let _fake = Fake::start(&bus.address, vec![Start::Hang]);
    let begin = std::time::Instant::now();
    let err = client(&bus)
        .start_transient("t-hang.scope", vec![])
        .unwrap_err();
    assert!(matches!(err, UnitError::Timeout { .. }), "{err:?}");
    assert!(begin.elapsed() >= Duration::from_millis(500));
    assert!(
        err.to_string()
            .starts_with("systemd unit t-hang.scope: start job did not finish within"),
        "{err}"
    );
}

#[test]
fn a_unit_that_exists_is_reset_and_started_once_more() {
    let bus = Bus::start();
    let fake = Fake::start(&bus.address, vec![Start::Exists, Start::Job("done")]);
    client(&bus)
        .start_transient("t-exists.scope", vec![])
        .unwrap();
    assert_eq!(fake.calls(), RESET_AND_RETRY);
}

#[test]
fn a_unit_that_still_exists_after_the_reset_is_in_use() {
    let bus = Bus::start();
    let fake = Fake::start(&bus.address, vec![Start::Exists, Start::Exists]);
    let err = client(&bus)
        .start_transient("t-busy.scope", vec![])
        .unwrap_err();
    assert!(matches!(err, UnitError::InUse { .. }), "{err:?}");
    assert!(
        err.to_string().contains("t-busy.scope already exists"),
        "{err}"
    );
    assert_eq!(fake.calls(), RESET_AND_RETRY);
}
