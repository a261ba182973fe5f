//! pidfd helpers: race-free signalling and waiting with a timeout.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::error::{Error, Result};

/// Opens a pidfd for `pid`.
pub(crate) fn open(pid: i32) -> Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Error::sys(format!("pidfd_open {pid}"), nix::Error::last()));
    }
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Sends `sig` through a pidfd (cannot hit a recycled pid).
pub(crate) fn send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> Result<()> {
    // SAFETY: valid pidfd, a signal number, no siginfo, no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        return Err(Error::sys(
            format!("pidfd_send_signal {sig}"),
            nix::Error::last(),
        ));
    }
    Ok(())
}

/// Waits until the process exits (the pidfd turns readable) or `timeout`
/// passes; `None` waits forever. Returns whether it exited.
pub(crate) fn wait_exit(pidfd: BorrowedFd<'_>, timeout: Option<Duration>) -> Result<bool> {
    let timeout = match timeout {
        None => PollTimeout::NONE,
        Some(d) => PollTimeout::try_from(d).unwrap_or(PollTimeout::MAX),
    };
    loop {
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(n) => return Ok(n > 0),
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(Error::sys("poll pidfd", e)),
        }
    }
}

/// Collects the zombie of an exited child, if it is ours; no-op otherwise.
pub(crate) fn reap_if_child(pidfd: BorrowedFd<'_>) {
    // SAFETY: an all-zero siginfo_t is valid for waitid to fill.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: P_PIDFD with a valid pidfd; WNOHANG never blocks.
    let _ = unsafe {
        libc::waitid(
            libc::P_PIDFD,
            pidfd.as_raw_fd() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG,
        )
    };
}
