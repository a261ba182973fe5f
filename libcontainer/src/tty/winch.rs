//! SIGWINCH as a pollable fd for the terminal proxy.

use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::error::{Result, TtyError};

/// SIGWINCH as a pollable fd: blocked in this thread while it lives,
/// unblocked again on drop (unless it was blocked before).
pub(super) struct Winch {
    fd: SignalFd,
    was_blocked: bool,
}

impl Winch {
    /// Blocks SIGWINCH in the calling thread and opens a signalfd for it.
    pub(super) fn watch() -> Result<Self> {
        let mut set = SigSet::empty();
        set.add(Signal::SIGWINCH);
        let mut old = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old))
            .map_err(|e| TtyError::sys("pthread_sigmask block SIGWINCH", e))?;
        let was_blocked = old.contains(Signal::SIGWINCH);
        match SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC) {
            Ok(fd) => Ok(Winch { fd, was_blocked }),
            Err(e) => {
                unblock(was_blocked, &set);
                Err(TtyError::sys("signalfd SIGWINCH", e))
            }
        }
    }

    /// The fd to poll: readable while a SIGWINCH is pending.
    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Consumes the queued SIGWINCH (standard signals queue at most once).
    pub(super) fn drain(&self) {
        while let Ok(Some(_)) = self.fd.read_signal() {}
    }
}

impl Drop for Winch {
    fn drop(&mut self) {
        let mut set = SigSet::empty();
        set.add(Signal::SIGWINCH);
        unblock(self.was_blocked, &set);
    }
}

/// Unblocks `set` unless it was blocked before we blocked it.
fn unblock(was_blocked: bool, set: &SigSet) {
    if !was_blocked {
        if let Err(e) = pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(set), None) {
            log::warn!("cannot unblock SIGWINCH: {e}");
        }
    }
}
