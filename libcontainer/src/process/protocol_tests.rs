//! Tests of the protocol: every message goes through a real channel and comes
//! out equal; what is not a message of the expected type is refused by name.

use std::collections::HashMap;
use std::os::fd::AsFd;

use nix::sys::socket::MsgFlags;

use super::*;
use crate::process::channel::{packets, send_packet_on, single_packet, Channel, Frame};

fn state(annotation_bytes: usize) -> State {
    let mut annotations = HashMap::new();
    annotations.insert("big".to_string(), "é".repeat(annotation_bytes / 2));
    annotations.insert("small".to_string(), "x".to_string());
    State {
        oci_version: crate::OCI_VERSION.into(),
        id: "web".into(),
        pid: 4242,
        status: crate::Status::Creating,
        bundle: "/srv/bundle".into(),
        rootfs: "/srv/bundle/rootfs".into(),
        created: "2024-01-01T00:00:00.000000000Z".into(),
        annotations,
        owner: "root".into(),
    }
}

fn failure() -> InitError {
    let e = Error::sys("setresuid 1000", nix::errno::Errno::EPERM);
    InitError::new("user", &e)
}

/// Sends `msg` on one end (from a thread: it may not fit the socket buffer)
/// and returns what the other end receives.
fn through_channel<M: Message + Send + 'static, R: Message>(msg: M) -> Result<R> {
    let (a, b) = Channel::pair().unwrap();
    let writer = std::thread::spawn(move || a.send(&msg));
    let got = b.recv();
    writer.join().unwrap().unwrap();
    got
}

#[test]
fn every_message_arrives_as_sent() {
    for m in [
        ToInit::Go,
        ToInit::MountSource(3),
        ToInit::HooksDone(Box::new(state(10))),
        ToInit::Handover,
    ] {
        assert_eq!(through_channel::<_, ToInit>(m.clone()).unwrap(), m);
    }
    for m in [
        FromInit::MapRequest(7),
        FromInit::InitPid(1234),
        FromInit::MountSources,
        FromInit::MountsDone,
        FromInit::SeccompFd,
        FromInit::Ready,
        FromInit::HandedOver,
    ] {
        assert_eq!(through_channel::<_, FromInit>(m.clone()).unwrap(), m);
    }
    for m in [ToExec::Go, ToExec::Handover] {
        assert_eq!(through_channel::<_, ToExec>(m.clone()).unwrap(), m);
    }
    for m in [FromExec::ProcessPid(99), FromExec::SeccompFd] {
        assert_eq!(through_channel::<_, FromExec>(m.clone()).unwrap(), m);
    }
}

#[test]
fn a_failure_arrives_as_the_typed_error() {
    for got in [
        through_channel::<_, FromInit>(FromInit::Failed(failure())).map(|_| ()),
        through_channel::<_, FromExec>(FromExec::Failed(failure())).map(|_| ()),
    ] {
        match got {
            Err(Error::InitFailed(e)) => {
                assert_eq!(e, failure());
                assert_eq!((e.step(), e.errno()), ("user", Some(libc::EPERM)));
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_one_mib_state_arrives_whole() {
    let big = state(1 << 20);
    let (kind, payload) = encode(&ToInit::HooksDone(Box::new(big.clone()))).unwrap();
    assert!(payload.len() > 1 << 20, "{}", payload.len());
    assert!(packets(kind, &payload).unwrap().len() > 30);
    match through_channel::<_, ToInit>(ToInit::HooksDone(Box::new(big.clone()))).unwrap() {
        ToInit::HooksDone(got) => assert_eq!(*got, big),
        other => panic!("{other:?}"),
    }
    // A hook's failure text of that size, the other way.
    let e = Error::config("hooks", "y".repeat(1 << 20));
    let report = InitError::new("create-container-hooks", &e);
    match through_channel::<_, FromInit>(FromInit::Failed(report.clone())) {
        Err(Error::InitFailed(got)) => assert_eq!(got, report),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_truncated_frame_is_refused() {
    let (kind, payload) = encode(&ToInit::HooksDone(Box::new(state(100_000)))).unwrap();
    let packets = packets(kind, &payload).unwrap();
    assert!(packets.len() > 2);
    // Over a socket: the sender stops one packet short and goes away.
    let (a, b) = Channel::pair().unwrap();
    let writer = std::thread::spawn(move || {
        for p in &packets[..packets.len() - 1] {
            send_packet_on(a.as_fd(), p, None, MsgFlags::MSG_NOSIGNAL).unwrap();
        }
    });
    let err = b.recv::<ToInit>().unwrap_err();
    writer.join().unwrap();
    assert!(matches!(err, Error::InitDied(_)), "{err}");
    // Without one: a frame whose payload stops short does not finish.
    let whole = single_packet(&ToInit::Go).unwrap();
    assert!(Frame::start(&whole).unwrap().is_complete());
    let cut = Frame::start(&whole[..whole.len() - 1]).unwrap();
    assert!(!cut.is_complete() && cut.finish().is_err());
}

#[test]
fn an_unknown_kind_or_variant_is_refused_by_name() {
    let refused = |kind: u8, payload: &[u8]| -> String {
        match decode::<ToInit>(kind, payload) {
            Err(Error::InitDied(why)) => why,
            other => panic!("{other:?}"),
        }
    };
    let why = refused(99, b"\"Go\"");
    assert!(why.contains("unknown kind 99"), "{why}");
    let why = refused(FromExec::KIND, b"\"Go\"");
    assert!(
        why.contains("expected a ToInit") && why.contains("got a FromExec"),
        "{why}"
    );
    let why = refused(ToInit::KIND, b"\"Launch\"");
    assert!(
        why.contains("malformed ToInit") && why.contains("Launch"),
        "{why}"
    );
    let why = refused(ToInit::KIND, b"{\"MountSource\":\"three\"}");
    assert!(why.contains("malformed ToInit"), "{why}");
    // The same over a socket.
    let (a, b) = Channel::pair().unwrap();
    for p in packets(42, b"\"Go\"").unwrap() {
        send_packet_on(a.as_fd(), &p, None, MsgFlags::MSG_NOSIGNAL).unwrap();
    }
    let err = b.recv::<ToInit>().unwrap_err().to_string();
    assert!(err.contains("unknown kind 42"), "{err}");
}

#[test]
fn log_entries_on_the_way_are_passed_over() {
    let (a, b) = Channel::pair().unwrap();
    let entry = LogEntry {
        level: 4,
        message: "child says hello".into(),
    };
    let packet = single_packet(&entry).unwrap();
    send_packet_on(a.as_fd(), &packet, None, MsgFlags::MSG_NOSIGNAL).unwrap();
    a.send(&FromInit::Ready).unwrap();
    assert_eq!(b.recv::<FromInit>().unwrap(), FromInit::Ready);
    // The packet is the entry's frame.
    let (first, _) = packets(LogEntry::KIND, &encode(&entry).unwrap().1)
        .unwrap()
        .split_first()
        .map(|(f, r)| (f.clone(), r.len()))
        .unwrap();
    assert_eq!(first, packet);
}

#[test]
fn kinds_are_distinct_and_named() {
    let kinds = [
        ToInit::KIND,
        FromInit::KIND,
        ToExec::KIND,
        FromExec::KIND,
        LogEntry::KIND,
    ];
    for (i, k) in kinds.iter().enumerate() {
        assert!(!kinds[..i].contains(k), "kind {k} used twice");
        assert!(kind_name(*k).is_some());
    }
    assert_eq!(kind_name(0), None);
}
