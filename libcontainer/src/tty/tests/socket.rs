//! The console socket protocol and the terminal option rules.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;

use nix::sys::socket::{send, MsgFlags};
use nix::sys::termios::tcgetattr;

use super::pipe;
use crate::tty::socket::send_master;
use crate::tty::{
    check_terminal_options, connect_console_socket, console_socketpair, receive_master, sys,
    TtyError, MASTER_NAME,
};

#[test]
fn a_master_travels_over_a_connected_console_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("console.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let ours = connect_console_socket(&path).unwrap();
    let (engine, _) = listener.accept().unwrap();
    let pty = nix::pty::openpty(None, None).unwrap();
    send_master(ours.as_fd(), pty.master.as_fd()).unwrap();
    let (master, name) = receive_master(engine.as_fd()).unwrap();
    assert_eq!(name, MASTER_NAME);
    // Same pty: same index, and bytes written on its slave come out of it.
    let want = sys::pty_number(pty.master.as_fd()).unwrap();
    assert_eq!(sys::pty_number(master.as_fd()).unwrap(), want);
    std::fs::File::from(pty.slave)
        .write_all(b"via slave")
        .unwrap();
    let mut buf = [0u8; 9];
    assert_eq!(
        nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&master), &mut buf),
        Ok(9)
    );
    assert_eq!(&buf, b"via slave");
    assert!(tcgetattr(master.as_fd()).is_ok());
}

#[test]
fn connecting_to_a_missing_socket_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nobody-listens");
    let err = connect_console_socket(&path).unwrap_err();
    assert!(
        matches!(&err, TtyError::Path { path: p, .. } if *p == path),
        "{err}"
    );
    assert!(err.to_string().contains("nobody-listens"), "{err}");
}

#[test]
fn a_closed_socket_is_no_master() {
    let (ours, theirs) = console_socketpair().unwrap();
    drop(theirs);
    assert!(matches!(
        receive_master(ours.as_fd()),
        Err(TtyError::NoMaster(_))
    ));
}

#[test]
fn data_without_an_fd_is_no_master() {
    let (ours, theirs) = console_socketpair().unwrap();
    send(
        std::os::fd::AsRawFd::as_raw_fd(&theirs),
        b"/dev/ptmx",
        MsgFlags::empty(),
    )
    .unwrap();
    assert!(matches!(
        receive_master(ours.as_fd()),
        Err(TtyError::NoMaster(_))
    ));
}

#[test]
fn a_non_terminal_fd_is_refused() {
    let (ours, theirs) = console_socketpair().unwrap();
    let (r, _w) = pipe();
    send_master(theirs.as_fd(), r.as_fd()).unwrap();
    assert!(matches!(
        receive_master(ours.as_fd()),
        Err(TtyError::NotATerminal(_))
    ));
}

#[test]
fn terminal_options_follow_runc() {
    // (terminal, detach, console socket) -> allowed?
    let cases = [
        ((true, false, false), true),  // run -t: kiln proxies
        ((true, true, true), true),    // create/run -d with a socket
        ((false, true, false), true),  // plain create
        ((false, false, false), true), // plain run
        ((true, true, false), false),  // detached tty without a socket
        ((true, false, true), false),  // socket but foreground
        ((false, true, true), false),  // socket without a tty
    ];
    for ((terminal, detach, socket), ok) in cases {
        let r = check_terminal_options(terminal, detach, socket);
        assert_eq!(r.is_ok(), ok, "{terminal} {detach} {socket}: {r:?}");
    }
}
