//! Tests of the terminal module. The "container init" is a forked child that
//! calls `setup_console` on the host's /dev/ptmx; everything asserted is read
//! back from the kernel (ttyname, tcgetpgrp, TIOCGWINSZ, stat of the pts).

mod proxy;
mod setup;
mod socket;

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::panic::AssertUnwindSafe;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

/// A forked child; killed (by pid) and reaped on drop unless already reaped.
pub(super) struct Child {
    pub pid: Pid,
    reaped: bool,
}

impl Child {
    /// Waits for the child and returns its exit code.
    pub fn wait(&mut self) -> i32 {
        let status = waitpid(self.pid, None).expect("waitpid");
        self.reaped = true;
        match status {
            WaitStatus::Exited(_, code) => code,
            other => panic!("child ended with {other:?}"),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

/// Forks; the child runs `body` and exits with its result (101 if it panics),
/// never returning into the test harness.
pub(super) fn fork_child(body: impl FnOnce() -> i32) -> Child {
    match fork_raw() {
        ForkResult::Parent { child } => Child {
            pid: child,
            reaped: false,
        },
        ForkResult::Child => {
            let code = std::panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or(101);
            crate::init::exit_now(code)
        }
    }
}

fn fork_raw() -> ForkResult {
    // SAFETY: the child only runs the test body (plain syscalls and
    // allocation, which glibc keeps usable across fork) and then _exits.
    unsafe { fork() }.expect("fork")
}

/// Moves the calling (forked) process into a private mount namespace.
pub(super) fn private_mount_ns() -> nix::Result<()> {
    use nix::mount::{mount, MsFlags};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
    let none = None::<&str>;
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)
}

/// A close-on-exec pipe: (read end, write end).
pub(super) fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe2")
}

/// Writes all of `data` to `fd`.
pub(super) fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(e) => panic!("write: {e}"),
        }
    }
}

/// Reads what `fd` holds right now, without waiting: until EOF, EAGAIN or
/// EIO (a pty master whose slave is closed).
pub(super) fn read_available(fd: BorrowedFd<'_>) -> String {
    let flags = OFlag::from_bits_truncate(fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL).unwrap());
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
            Ok(0) | Err(Errno::EAGAIN | Errno::EIO) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(Errno::EINTR) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads `fd` (blocking) until EOF.
pub(super) fn read_to_eof(fd: BorrowedFd<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(Errno::EINTR) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Reads one line from `fd`, a byte at a time (for the child's stdin).
pub(super) fn read_line(fd: BorrowedFd<'_>) -> String {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while let Ok(1) = nix::unistd::read(fd.as_raw_fd(), &mut b) {
        if b[0] == b'\n' {
            break;
        }
        line.push(b[0]);
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// The child's fd 0, 1 or 2 (only used after `setup_console` put the pty there).
pub(super) fn stdio(n: u8) -> BorrowedFd<'static> {
    // SAFETY: fds 0-2 stay open for the whole life of the test child.
    unsafe { BorrowedFd::borrow_raw(i32::from(n.min(2))) }
}
