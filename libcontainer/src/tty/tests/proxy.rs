//! The foreground proxy, against a real container-side pty in a forked child.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::mpsc;

use nix::errno::Errno;
use nix::pty::openpty;
use nix::sys::pthread::{pthread_kill, pthread_self};
use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
use nix::sys::termios::{tcgetattr, LocalFlags, OutputFlags, Termios};

use super::{fork_child, pipe, read_available, read_line, read_to_eof, stdio, write_all, Child};
use crate::process::pidfd;
use crate::tty::{console_socketpair, proxy_with, receive_master, setup_console, sys, TtyError};

/// A "container": a child whose stdio is a pty set up by `setup_console`
/// and which then runs `body`. Returns it with the master and a pidfd.
fn container(body: impl FnOnce() -> i32) -> (Child, OwnedFd, OwnedFd) {
    let (ours, theirs) = console_socketpair().unwrap();
    let child = fork_child(|| match setup_console(theirs.as_fd(), None, false) {
        Ok(()) => body(),
        Err(_) => 1,
    });
    drop(theirs);
    let (master, _) = receive_master(ours.as_fd()).unwrap();
    let pidfd = pidfd::open(child.pid.as_raw()).unwrap();
    (child, master, pidfd)
}

/// The fields of a terminal mode that matter.
fn mode(t: &Termios) -> String {
    format!(
        "{:?} {:?} {:?} {:?} {:?}",
        t.input_flags, t.output_flags, t.control_flags, t.local_flags, t.control_chars
    )
}

fn winsize(rows: u16, cols: u16) -> libc::winsize {
    libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// Reads `fd` until what was read contains `marker`.
fn read_until(fd: BorrowedFd<'_>, marker: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(marker) {
        match nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&fd), &mut buf) {
            Ok(0) => panic!(
                "EOF before {marker:?}; got {:?}",
                String::from_utf8_lossy(&seen)
            ),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(Errno::EINTR) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn copies_both_ways_and_returns_when_the_container_exits() {
    let (mut child, master, pidfd) = container(|| {
        let line = read_line(stdio(0));
        write_all(stdio(1), format!("got: {line}\n").as_bytes());
        0
    });
    let (in_r, in_w) = pipe();
    let (out_r, out_w) = pipe();
    write_all(in_w.as_fd(), b"ping\n");
    drop(in_w); // EOF on input must not end the proxy
    proxy_with(in_r.as_fd(), out_w.as_fd(), master, pidfd.as_fd()).unwrap();
    assert_eq!(child.wait(), 0);
    // The pty's echo of our input, then the answer; bare \n (ONLCR cleared).
    assert_eq!(read_available(out_r.as_fd()), "ping\ngot: ping\n");
}

#[test]
fn drains_everything_the_container_wrote() {
    const LEN: usize = 300_000;
    let (mut child, master, pidfd) = container(|| {
        write_all(stdio(1), &[b'x'; LEN]);
        0
    });
    let (in_r, in_w) = pipe();
    drop(in_w);
    let (out_r, out_w) = pipe();
    let got = std::thread::scope(|s| {
        let reader = s.spawn(|| read_to_eof(out_r.as_fd()));
        proxy_with(in_r.as_fd(), out_w.as_fd(), master, pidfd.as_fd()).unwrap();
        drop(out_w);
        reader.join().unwrap()
    });
    assert_eq!(child.wait(), 0);
    assert_eq!(got.len(), LEN);
    assert!(got.iter().all(|b| *b == b'x'));
}

#[test]
fn a_terminal_is_made_raw_resized_and_restored() {
    let (mut child, master, pidfd) = container(|| {
        for _ in 0..2 {
            let _ = read_line(stdio(0));
            let ws = sys::get_winsize(stdio(0)).unwrap();
            write_all(
                stdio(1),
                format!("size {} {}\n", ws.ws_row, ws.ws_col).as_bytes(),
            );
        }
        0
    });
    // The user's terminal: the slave of a pty we drive through its master.
    let user = openpty(None, None).unwrap();
    sys::set_winsize(user.slave.as_fd(), &winsize(50, 132)).unwrap();
    let before = tcgetattr(user.slave.as_fd()).unwrap();
    let (out_r, out_w) = pipe();
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        let tty = user.slave.as_fd();
        let pidfd = pidfd.as_fd();
        let proxy = s.spawn(move || {
            tx.send(pthread_self()).unwrap();
            let r = proxy_with(tty, out_w.as_fd(), master, pidfd);
            let mut mask = SigSet::empty();
            pthread_sigmask(SigmaskHow::SIG_BLOCK, None, Some(&mut mask)).unwrap();
            (r, mask.contains(Signal::SIGWINCH))
        });
        let thread = rx.recv().unwrap();
        write_all(user.master.as_fd(), b"one\n");
        // The size was copied before any input went through.
        read_until(out_r.as_fd(), "size 50 132\n");
        let raw = tcgetattr(tty).unwrap();
        assert!(!raw
            .local_flags
            .intersects(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG));
        assert!(
            raw.output_flags.contains(OutputFlags::OPOST),
            "output processing kept"
        );
        // Resize, signal the proxy thread, then type: the resize lands first.
        sys::set_winsize(user.master.as_fd(), &winsize(60, 100)).unwrap();
        pthread_kill(thread, Signal::SIGWINCH).unwrap();
        write_all(user.master.as_fd(), b"two\n");
        read_until(out_r.as_fd(), "size 60 100\n");
        let (r, winch_blocked) = proxy.join().unwrap();
        r.unwrap();
        assert!(!winch_blocked, "SIGWINCH unblocked again");
    });
    assert_eq!(child.wait(), 0);
    let after = tcgetattr(user.slave.as_fd()).unwrap();
    assert_eq!(mode(&after), mode(&before), "terminal mode restored");
}

#[test]
fn the_terminal_mode_is_restored_on_error() {
    let user = openpty(None, None).unwrap();
    let before = tcgetattr(user.slave.as_fd()).unwrap();
    // A stand-in container pty with output pending, and an output fd that
    // cannot be written (a pipe's read end): the proxy fails mid-way.
    let fake = openpty(None, None).unwrap();
    write_all(fake.slave.as_fd(), b"output");
    let (stop, _stop_w) = pipe();
    let (bad_out, _w) = pipe();
    let err = proxy_with(
        user.slave.as_fd(),
        bad_out.as_fd(),
        fake.master,
        stop.as_fd(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, TtyError::Sys { source: Errno::EBADF, call } if call == "write stdout"),
        "{err}"
    );
    let after = tcgetattr(user.slave.as_fd()).unwrap();
    assert_eq!(mode(&after), mode(&before));
}
