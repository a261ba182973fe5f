//! Unit tests of the event stream: the JSON shape of events, and the stream driven by a real
//! child process (as the init), a fake OOM source and a fake statistics source.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use kiln_cgroups::{CgroupError, OomReport};
use nix::sys::eventfd::{EfdFlags, EventFd};
use serde_json::json;

use super::*;

/// OOM events on demand: the test adds to an eventfd; `u64::MAX - 1` means gone.
struct FakeOom(EventFd);

impl AsFd for FakeOom {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl OomSource for FakeOom {
    fn read(&mut self) -> std::result::Result<OomReport, CgroupError> {
        match self.0.read() {
            Ok(n) if n == GONE => Ok(OomReport {
                ooms: 0,
                gone: true,
            }),
            Ok(n) => Ok(OomReport {
                ooms: n,
                gone: false,
            }),
            Err(nix::Error::EAGAIN) => Ok(OomReport::default()),
            Err(e) => panic!("eventfd read: {e}"),
        }
    }
}

const GONE: u64 = u64::MAX - 1;

fn fake_oom() -> (Box<dyn OomSource>, OwnedFd) {
    let efd = EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC).unwrap();
    let writer = efd.as_fd().try_clone_to_owned().unwrap();
    (Box::new(FakeOom(efd)), writer)
}

fn fire(fd: &OwnedFd, n: u64) {
    nix::unistd::write(fd, &n.to_ne_bytes()).unwrap();
}

/// Statistics whose pids.current counts the calls.
fn counting_stats() -> (StatsSource, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let source = Box::new(move || {
        let n = c.fetch_add(1, Ordering::SeqCst) + 1;
        let mut s = Stats::default();
        s.pids.current = n as u64;
        Ok(s)
    });
    (source, calls)
}

/// A `sleep` child as the init of container `c`, a fake OOM source (and its trigger), counted
/// statistics, and their stream with a 30 s interval.
fn watched_sleeper() -> (Child, OwnedFd, Arc<AtomicUsize>, Events) {
    let (child, init) = sleeper();
    let (oom, trigger) = fake_oom();
    let (stats, calls) = counting_stats();
    let ev = Events::new(
        "c".into(),
        Duration::from_secs(30),
        Some(init),
        Some(oom),
        stats,
    )
    .unwrap();
    (child, trigger, calls, ev)
}

fn sleeper() -> (Child, OwnedFd) {
    let child = Command::new("sleep")
        .arg("100")
        .spawn()
        .expect("spawn sleep");
    let fd = pidfd::open(child.id() as i32).unwrap();
    (child, fd)
}

fn is_readable(e: &Events) -> bool {
    readable(e.as_fd(), "test").unwrap()
}

#[test]
fn events_serialise_as_runc_lines() {
    let mut data = Stats::default();
    data.memory.usage.usage = 4096;
    let stats = Event::Stats {
        id: "c1".into(),
        data: Box::new(data),
    };
    let line = serde_json::to_string(&stats).unwrap();
    assert!(
        line.starts_with(r#"{"type":"stats","id":"c1","data":{"cpu":"#),
        "{line}"
    );
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["data"]["memory"]["usage"]["usage"], 4096);
    assert_eq!(serde_json::from_str::<Event>(&line).unwrap(), stats);

    let oom = Event::Oom { id: "c1".into() };
    assert_eq!(
        serde_json::to_string(&oom).unwrap(),
        r#"{"type":"oom","id":"c1"}"#
    );
    // runc's own oom line parses.
    assert_eq!(
        serde_json::from_value::<Event>(json!({"type":"oom","id":"c1"})).unwrap(),
        oom
    );

    let exits = [
        (
            Some(ExitStatus::Code(3)),
            r#"{"type":"exit","id":"c1","data":{"code":3}}"#,
        ),
        (
            Some(ExitStatus::Signal(9)),
            r#"{"type":"exit","id":"c1","data":{"signal":9}}"#,
        ),
        (None, r#"{"type":"exit","id":"c1"}"#),
    ];
    for (data, want) in exits {
        let e = Event::Exit {
            id: "c1".into(),
            data,
        };
        assert_eq!(serde_json::to_string(&e).unwrap(), want);
        assert_eq!(serde_json::from_str::<Event>(want).unwrap(), e);
        assert_eq!(e.id(), "c1");
    }
}

#[test]
fn stats_oom_and_exit_in_order_then_the_end() {
    let (mut child, trigger, calls, mut ev) = watched_sleeper();
    // The first statistics come at once, then nothing until the interval.
    match ev.next() {
        Some(Ok(Event::Stats { id, data })) => {
            assert_eq!((id.as_str(), data.pids.current), ("c", 1))
        }
        other => panic!("expected stats, got {other:?}"),
    }
    assert!(ev.try_next().is_pending());
    assert!(
        !is_readable(&ev),
        "nothing pending: the fd must not be readable"
    );

    fire(&trigger, 2);
    assert!(is_readable(&ev), "an OOM makes the fd readable");
    assert!(matches!(
        ev.try_next(),
        Poll::Ready(Some(Ok(Event::Oom { .. })))
    ));
    assert!(
        ev.try_next().is_pending(),
        "two OOMs at one wake-up are one event"
    );

    child.kill().unwrap();
    match ev.next() {
        Some(Ok(Event::Exit { data, .. })) => assert_eq!(data, Some(ExitStatus::Signal(9))),
        other => panic!("expected exit, got {other:?}"),
    }
    assert!(ev.next().is_none());
    assert!(matches!(ev.try_next(), Poll::Ready(None)));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The exit status was peeked at, not collected: the parent still gets it.
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
}

#[test]
fn statistics_tick_and_errors_do_not_end_the_stream() {
    let (mut child, init) = sleeper();
    let mut n = 0;
    let stats: StatsSource = Box::new(move || {
        n += 1;
        if n == 2 {
            return Err(Error::InitDied("stats broke".into()));
        }
        Ok(Stats::default())
    });
    let mut ev = Events::new(
        "c".into(),
        Duration::from_millis(20),
        Some(init),
        None,
        stats,
    )
    .unwrap();
    let start = std::time::Instant::now();
    assert!(matches!(ev.next(), Some(Ok(Event::Stats { .. }))));
    assert!(matches!(ev.next(), Some(Err(Error::InitDied(_)))));
    assert!(matches!(ev.next(), Some(Ok(Event::Stats { .. }))));
    assert!(
        start.elapsed() >= Duration::from_millis(40),
        "{:?}",
        start.elapsed()
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // Reaped by someone else: the exit is still seen, without a status.
    let last = ev.find(|e| !matches!(e, Ok(Event::Stats { .. })));
    assert!(
        matches!(last, Some(Ok(Event::Exit { data: None, .. }))),
        "{last:?}"
    );
    assert!(ev.next().is_none());
}

#[test]
fn oom_before_exit_and_a_gone_cgroup_stops_oom_watching() {
    let (mut child, trigger, _, mut ev) = watched_sleeper();
    assert!(matches!(ev.next(), Some(Ok(Event::Stats { .. }))));
    fire(&trigger, GONE);
    assert!(ev.try_next().is_pending(), "gone is no event");
    assert!(ev.oom.is_none());
    assert!(!is_readable(&ev));

    // An OOM that kills the init: the oom event comes before the exit.
    let (oom, trigger) = fake_oom();
    let (stats, _) = counting_stats();
    let (mut child2, init2) = sleeper();
    let mut ev2 = Events::new(
        "d".into(),
        Duration::from_secs(30),
        Some(init2),
        Some(oom),
        stats,
    )
    .unwrap();
    assert!(matches!(ev2.next(), Some(Ok(Event::Stats { .. }))));
    fire(&trigger, 1);
    child2.kill().unwrap();
    sys_wait_readable(&ev2);
    let rest: Vec<Event> = ev2.map(|e| e.unwrap()).collect();
    assert!(
        matches!(rest[..], [Event::Oom { .. }, Event::Exit { .. }]),
        "{rest:?}"
    );
    child2.wait().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
}

fn sys_wait_readable(ev: &Events) {
    let mut fds = [nix::poll::PollFd::new(
        ev.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(5000u16)).unwrap();
}

#[test]
fn a_stopped_container_is_one_exit_event_and_zero_interval_is_refused() {
    let (stats, calls) = counting_stats();
    let mut ev = Events::new("gone".into(), Duration::from_secs(1), None, None, stats).unwrap();
    assert!(is_readable(&ev) || ev.try_next().is_ready());
    let all: Vec<Event> = ev.by_ref().map(|e| e.unwrap()).collect();
    assert_eq!(
        all,
        [Event::Exit {
            id: "gone".into(),
            data: None
        }]
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "no statistics after the exit"
    );

    let (stats, _) = counting_stats();
    let err = Events::new("c".into(), Duration::ZERO, None, None, stats).unwrap_err();
    assert_eq!(
        err.to_string(),
        "interval: duration interval must be greater than 0"
    );
}

#[test]
fn the_stream_can_move_to_another_thread() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<Events>();
    assert_send::<Event>();
}
