//! Waiting for the container process (foreground `run`), forwarding signals.

use std::os::fd::{AsFd, AsRawFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::Container;
use crate::error::{Error, Result};
use crate::process::pidfd;

/// How the container process ended. Serialised as `{"code":N}` or `{"signal":N}` (the
/// `data` of an `exit` [`Event`](crate::events::Event)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// It was killed by this signal.
    Signal(i32),
}

impl ExitStatus {
    /// The shell convention runc follows: the code, or 128 + signal.
    pub fn as_exit_code(self) -> i32 {
        match self {
            ExitStatus::Code(c) => c,
            ExitStatus::Signal(s) => 128 + s,
        }
    }
}

/// Signals a foreground `run` passes on to the container process.
const FORWARDED: [Signal; 9] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGCONT,
    Signal::SIGTSTP,
];

impl Container {
    /// Waits for the container process to exit and collects its status. It
    /// must be a child of the caller: it is when this program created the
    /// container through the library from a program that called
    /// [`crate::init`](fn@crate::init); a `kiln run` makes itself a child subreaper instead.
    /// Signal masks and handlers are left alone (see
    /// [`wait_forwarding_signals`](Self::wait_forwarding_signals)).
    pub fn wait(&self) -> Result<ExitStatus> {
        let fd = self.pidfd()?;
        reap(fd.as_raw_fd(), self.record.pid)
    }

    /// The status of the container process if it has exited (collecting it),
    /// `None` while it runs. Never blocks. The process must be a child of the
    /// caller, as for [`wait`](Self::wait).
    pub fn try_wait(&self) -> Result<Option<ExitStatus>> {
        let fd = self.pidfd()?;
        try_reap(fd.as_raw_fd(), self.record.pid)
    }

    /// A pidfd of the container process (for poll/epoll, or
    /// `pidfd_send_signal`): it becomes readable when the process exits.
    /// Fails with [`Error::WrongStatus`] once the process is gone (even if its
    /// pid was reused since).
    pub fn pidfd(&self) -> Result<std::os::fd::OwnedFd> {
        let fd = pidfd::open(self.record.pid)
            .map_err(|_| self.refuse(crate::Status::Stopped, "its process has exited"))?;
        // Opened by pid: make sure it is still the container's process, or has become its
        // zombie (same start time), not a process that took the pid over.
        if crate::process::procfs::start_time_and_state(self.record.pid)
            .is_some_and(|(start, _)| start == self.record.pid_start)
        {
            Ok(fd)
        } else {
            Err(self.refuse(crate::Status::Stopped, "its process has exited"))
        }
    }

    /// Waits for the container process as a foreground `kiln run` does:
    /// proxying its terminal when this container was created with
    /// [`terminal_proxy`](crate::ContainerBuilder::terminal_proxy), otherwise
    /// forwarding SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1/2, SIGALRM, SIGCONT
    /// and SIGTSTP to it (they are blocked in the calling thread meanwhile and
    /// read from a signalfd).
    pub fn wait_forwarding_signals(&mut self) -> Result<ExitStatus> {
        match self.take_console()? {
            Some(master) => wait_with_terminal(self.record.pid, master),
            None => wait_forwarding(self.record.pid),
        }
    }
}

/// Waits for `pid` (a child of the caller) to exit, forwarding signals to it.
pub(crate) fn wait_forwarding(pid: i32) -> Result<ExitStatus> {
    let init = pidfd::open(pid)?;
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    let mut old = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old))
        .map_err(|e| Error::sys("sigprocmask", e))?;
    let result = (|| {
        let sfd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(|e| Error::sys("signalfd", e))?;
        loop {
            let mut fds = [
                PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
                PollFd::new(init.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(Error::sys("poll", e)),
                Ok(_) => {}
            }
            while let Ok(Some(info)) = sfd.read_signal() {
                let _ = pidfd::send_signal(init.as_fd(), info.ssi_signo as i32);
            }
            if fds[1].revents().is_some_and(|r| !r.is_empty()) {
                return reap(init.as_raw_fd(), pid);
            }
        }
    })();
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    result
}

/// Proxies the terminal `master` to our stdio until `pid` (a child of the
/// caller) exits, then collects its status.
pub(crate) fn wait_with_terminal(pid: i32, master: std::os::fd::OwnedFd) -> Result<ExitStatus> {
    let child = pidfd::open(pid)?;
    let proxied = crate::tty::proxy(master, child.as_fd());
    let status = reap(child.as_raw_fd(), pid)?;
    proxied?;
    Ok(status)
}

/// The status of `pid` if it has exited (collected through its pidfd), without blocking.
pub(crate) fn try_reap(pidfd: i32, pid: i32) -> Result<Option<ExitStatus>> {
    wait_pidfd(pidfd, pid, libc::WNOHANG)
}

/// Collects the exit status of `pid` (through its pidfd), waiting for it to exit.
pub(crate) fn reap(pidfd: i32, pid: i32) -> Result<ExitStatus> {
    wait_pidfd(pidfd, pid, 0)?.ok_or_else(|| {
        Error::InitDied(format!(
            "waitid for process {pid} returned without a status"
        ))
    })
}

fn wait_pidfd(pidfd: i32, pid: i32, flags: libc::c_int) -> Result<Option<ExitStatus>> {
    // SAFETY: an all-zero siginfo_t is a valid value for waitid to fill.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: P_PIDFD with a valid pidfd and a pointer to our siginfo_t.
        let r = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd as libc::id_t,
                &mut info,
                libc::WEXITED | flags,
            )
        };
        if r == 0 {
            break;
        }
        let e = nix::Error::last();
        if e != nix::Error::EINTR {
            return Err(Error::sys(format!("waitid for container process {pid}"), e));
        }
    }
    // SAFETY: waitid succeeded; si_pid stays 0 when WNOHANG found nothing to collect.
    if unsafe { info.si_pid() } == 0 {
        return Ok(None);
    }
    Ok(Some(status_of(&info)))
}

/// The exit status of an exited child, without collecting it (`WNOWAIT`: whoever waits for
/// it still gets it). `None` when the process is not our child (ECHILD) or has not exited.
pub(crate) fn peek_exit_status(pidfd: std::os::fd::BorrowedFd<'_>) -> Option<ExitStatus> {
    wait_pidfd(pidfd.as_raw_fd(), 0, libc::WNOHANG | libc::WNOWAIT)
        .ok()
        .flatten()
}

/// The [`ExitStatus`] in a siginfo filled by a successful `waitid(WEXITED)`.
fn status_of(info: &libc::siginfo_t) -> ExitStatus {
    // SAFETY: waitid succeeded, so si_status is initialised for CLD_* codes.
    let status = unsafe { info.si_status() };
    match info.si_code {
        libc::CLD_EXITED => ExitStatus::Code(status),
        _ => ExitStatus::Signal(status),
    }
}
