//! Init side: `setup_console` in a forked child, checked from both ends.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::sys::stat::{fstat, stat, SFlag};
use nix::unistd::{getpid, getsid, tcgetpgrp, ttyname};
use oci_spec::runtime::BoxBuilder;

use super::{fork_child, pipe, private_mount_ns, read_available, stdio, write_all};
use crate::tty::pty::setup_console_at;
use crate::tty::{
    chown_stdio, console_socketpair, receive_master, setup_console, sys, TtyError, MASTER_NAME,
};

/// What a child running `setup_console` left behind.
struct Outcome {
    /// The master received over the console socket (still open).
    _master: OwnedFd,
    /// What the child's stdout showed on the master.
    shown: String,
    /// What the child reported on its report pipe.
    report: String,
    /// `/dev/pts/N` of the received master (TIOCGPTN).
    pts: String,
}

/// Runs `setup_console` + `then` (given the report pipe) in a child, which
/// then writes "hello" on its stdout and exits.
fn run_child(
    size: Option<&oci_spec::runtime::Box>,
    console: Option<&Path>,
    then: impl FnOnce(BorrowedFd<'_>),
) -> Outcome {
    let (ours, theirs) = console_socketpair().unwrap();
    let (report_r, report_w) = pipe();
    let mut child = fork_child(|| {
        if console.is_some() {
            // A private mount namespace: the console mount dies with the child.
            if let Err(e) = private_mount_ns() {
                write_all(report_w.as_fd(), format!("unshare: {e}").as_bytes());
                return 2;
            }
        }
        if let Err(e) = setup_console_at(theirs.as_fd(), size, console) {
            write_all(report_w.as_fd(), format!("setup_console: {e}").as_bytes());
            return 1;
        }
        then(report_w.as_fd());
        write_all(stdio(1), b"hello");
        0
    });
    drop((theirs, report_w));
    let received = receive_master(ours.as_fd());
    let code = child.wait();
    let (master, name) = match received {
        Ok(m) if code == 0 => m,
        other => panic!(
            "child exited {code} ({}); received {:?}",
            read_available(report_r.as_fd()),
            other.map(|m| m.1)
        ),
    };
    let n = sys::pty_number(master.as_fd()).unwrap();
    let shown = read_available(master.as_fd());
    let report = read_available(report_r.as_fd());
    assert_eq!(name, MASTER_NAME, "runc's payload");
    Outcome {
        _master: master,
        shown,
        report,
        pts: format!("/dev/pts/{n}"),
    }
}

#[test]
fn the_pty_becomes_stdio_and_controlling_terminal() {
    let o = run_child(None, None, |out| {
        let name =
            |n| ttyname(stdio(n)).map_or_else(|e| format!("?{e}"), |p| p.display().to_string());
        let fg = tcgetpgrp(stdio(0)).map_or(-1, |p| p.as_raw());
        let sid = getsid(None).map_or(-1, |p| p.as_raw());
        let line = format!(
            "{} {} {} {fg} {sid} {}",
            name(0),
            name(1),
            name(2),
            getpid()
        );
        write_all(out, line.as_bytes());
    });
    // What the child wrote on its stdout came out of the master we received.
    assert_eq!(o.shown, "hello");
    let f: Vec<&str> = o.report.split(' ').collect();
    assert_eq!(f.len(), 6, "report {:?}", o.report);
    assert_eq!(
        &f[..3],
        [o.pts.as_str(); 3],
        "stdin, stdout, stderr are the pty"
    );
    assert_eq!(
        f[3], f[5],
        "the child's group is the terminal's foreground group"
    );
    assert_eq!(f[4], f[5], "the child leads its session");
}

#[test]
fn console_size_is_set_on_the_pty() {
    let size = BoxBuilder::default()
        .height(37u64)
        .width(123u64)
        .build()
        .unwrap();
    let o = run_child(Some(&size), None, |out| {
        let ws = sys::get_winsize(stdio(0)).unwrap();
        write_all(out, format!("{} {}", ws.ws_row, ws.ws_col).as_bytes());
    });
    assert_eq!(o.report, "37 123");
}

#[test]
fn console_size_with_a_zero_side_is_left_alone() {
    let size = BoxBuilder::default()
        .height(0u64)
        .width(80u64)
        .build()
        .unwrap();
    let o = run_child(Some(&size), None, |out| {
        let ws = sys::get_winsize(stdio(0)).unwrap();
        write_all(out, format!("{} {}", ws.ws_row, ws.ws_col).as_bytes());
    });
    assert_eq!(o.report, "0 0");
}

#[test]
fn oversized_console_size_is_refused() {
    let size = BoxBuilder::default()
        .height(70000u64)
        .width(80u64)
        .build()
        .unwrap();
    let (ours, theirs) = console_socketpair().unwrap();
    let (report_r, report_w) = pipe();
    let mut child = fork_child(|| {
        let r = setup_console(theirs.as_fd(), Some(&size), false);
        let refused = matches!(
            r,
            Err(TtyError::ConsoleSize {
                height: 70000,
                width: 80
            })
        );
        // Refused before anything about the caller changed: no setsid happened.
        let untouched = getsid(None).is_ok_and(|s| s != getpid());
        write_all(
            report_w.as_fd(),
            format!("{refused} {untouched}").as_bytes(),
        );
        0
    });
    drop((theirs, report_w));
    assert!(matches!(
        receive_master(ours.as_fd()),
        Err(TtyError::NoMaster(_))
    ));
    assert_eq!(child.wait(), 0);
    assert_eq!(read_available(report_r.as_fd()), "true true");
}

#[test]
fn the_slave_is_bind_mounted_on_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("console");
    let o = run_child(None, Some(&target), |out| {
        let mounted = stat(&target).map(|s| s.st_rdev);
        let tty = fstat(0).map(|s| s.st_rdev);
        write_all(out, format!("{mounted:?} {tty:?}").as_bytes());
    });
    let (mounted, tty) = o.report.split_once(' ').unwrap();
    assert!(mounted.starts_with("Ok("), "{}", o.report);
    assert_eq!(mounted, tty, "the console is the pty slave");
    // Created as a plain file; the mount stayed in the child's namespace.
    let here = stat(&target).unwrap();
    assert_eq!(
        SFlag::from_bits_truncate(here.st_mode) & SFlag::S_IFMT,
        SFlag::S_IFREG
    );
}

#[test]
fn stdio_is_given_to_the_user() {
    let o = run_child(None, None, |out| {
        let r = chown_stdio(4321).map_err(|e| e.to_string());
        write_all(out, format!("{r:?}").as_bytes());
    });
    assert_eq!(o.report, "Ok(())");
    // The pts node lives as long as our master: its owner is what the child set.
    assert_eq!(stat(o.pts.as_str()).unwrap().st_uid, 4321);
}
