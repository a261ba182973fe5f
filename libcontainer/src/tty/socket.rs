//! The console socket: how a pty master travels from the container init to
//! whoever owns the terminal (conmon, containerd-shim, or `kiln run` itself).
//!
//! Wire format (runc's): one `sendmsg` on a unix stream socket whose data is
//! the master's file name, [`MASTER_NAME`], and whose only control message is
//! SCM_RIGHTS carrying the master fd.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::socket::{
    connect, recvmsg, sendmsg, socket, socketpair, AddressFamily, ControlMessage,
    ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixAddr,
};

use super::error::{Result, TtyError};
use super::sys::retry;
use super::term;

/// The data sent with the master fd: the name of the file it was opened as.
/// runc sends its master's `os.File` name, which is always `/dev/ptmx`.
pub const MASTER_NAME: &str = "/dev/ptmx";

/// Longest name accepted with a received fd (runc's `MaxNameLen` is 4096).
const MAX_NAME: usize = 4096;

/// Connects to the `--console-socket` at `path` (a listening unix stream
/// socket). Call in the runtime before cloning the init, which inherits it.
pub(crate) fn connect_console_socket(path: &Path) -> Result<OwnedFd> {
    let addr = UnixAddr::new(path).map_err(|e| TtyError::path("console socket", path, e))?;
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| TtyError::sys("socket(AF_UNIX, SOCK_STREAM) for the console socket", e))?;
    retry(|| connect(fd.as_raw_fd(), &addr))
        .map_err(|e| TtyError::path("connect to console socket", path, e))?;
    Ok(fd)
}

/// A connected unix stream pair standing in for a console socket when
/// `kiln run` proxies the terminal itself: `(ours, the init's)`.
pub(crate) fn console_socketpair() -> Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| TtyError::sys("socketpair(AF_UNIX, SOCK_STREAM) for the console", e))
}

/// Sends `master` over `socket` in one `sendmsg`, with [`MASTER_NAME`] as data.
pub(super) fn send_master(socket: BorrowedFd<'_>, master: BorrowedFd<'_>) -> Result<()> {
    let data = MASTER_NAME.as_bytes();
    let fds = [master.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(data)];
    let sent = retry(|| {
        sendmsg::<()>(
            socket.as_raw_fd(),
            &iov,
            &cmsg,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
    })
    .map_err(|e| TtyError::sys("sendmsg pty master on console socket", e))?;
    // A stream socket may in theory take less; the fd went with the first byte.
    let mut rest = data.get(sent..).unwrap_or_default();
    while !rest.is_empty() {
        let n = retry(|| nix::sys::socket::send(socket.as_raw_fd(), rest, MsgFlags::MSG_NOSIGNAL))
            .map_err(|e| TtyError::sys("send pty name on console socket", e))?;
        rest = rest.get(n..).unwrap_or_default();
    }
    Ok(())
}

/// Receives a pty master from a console socket (as sent by the init's
/// `setup_console`): returns the fd (close-on-exec) and the name sent with it.
/// Extra fds, if a peer sends several, are closed.
pub fn receive_master(socket: BorrowedFd<'_>) -> Result<(OwnedFd, String)> {
    let mut buf = vec![0u8; MAX_NAME];
    let mut space = nix::cmsg_space!([RawFd; 4]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = loop {
        match recvmsg::<()>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(Errno::EINTR) => continue,
            other => break other,
        }
    }
    .map_err(|e| TtyError::sys("recvmsg on console socket", e))?;
    let len = msg.bytes;
    let mut received: Vec<OwnedFd> = Vec::new();
    for c in msg
        .cmsgs()
        .map_err(|e| TtyError::sys("console socket control message", e))?
    {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the kernel just installed these fds for us (SCM_RIGHTS).
            received.extend(
                fds.into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    let Some(master) = received.into_iter().next() else {
        return Err(TtyError::NoMaster(if len == 0 {
            "closed before a pty master was sent (did the container init fail?)"
        } else {
            "message carried no file descriptor"
        }));
    };
    if !term::is_tty(master.as_fd()) {
        return Err(TtyError::NotATerminal(
            "the fd received on the console socket",
        ));
    }
    let name = String::from_utf8_lossy(&buf[..len]).into_owned();
    Ok((master, name))
}
