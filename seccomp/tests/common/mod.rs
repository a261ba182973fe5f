//! Helpers shared by the integration tests: profiles from JSON, and running code in a forked
//! child process (so a loaded filter never touches the test process).
#![allow(dead_code)]

pub mod docker_profile;

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use oci_spec::runtime::LinuxSeccomp;

/// A `LinuxSeccomp` from a `serde_json::json!` value.
pub fn profile(value: serde_json::Value) -> LinuxSeccomp {
    serde_json::from_value(value).expect("test profile must deserialize")
}

/// A child process that is killed and reaped if the test gives up on it.
pub struct Child {
    pid: Pid,
    reaped: bool,
}

impl Child {
    /// The child's pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Waits for the child to end.
    pub fn wait(mut self) -> WaitStatus {
        let status = waitpid(self.pid, None).expect("waitpid");
        self.reaped = true;
        status
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

/// Forks; the child runs `body` and exits with its return value (101 if it panics).
///
/// `body` runs in a fork of a multi-threaded process: it must only make async-signal-safe
/// calls (raw syscalls, `CompiledFilter::load`), no allocation.
pub fn spawn(body: impl FnOnce() -> i32) -> Child {
    // SAFETY: in the child we only run `body`, which callers keep async-signal-safe, and then
    // `_exit`; the child never returns into the test harness.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(101);
            exit_now(code)
        }
        ForkResult::Parent { child } => Child {
            pid: child,
            reaped: false,
        },
    }
}

/// `_exit(2)`: leaves the forked child without running atexit handlers or destructors.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(code) }
}

/// Sets no_new_privs, as kiln does before loading the filter.
pub fn set_no_new_privs() -> bool {
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 }
}

/// Disables core dumps (for children that are killed with SIGSYS on purpose).
pub fn no_core_dumps() {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `zero` is a valid rlimit for the duration of the call.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) };
}

/// The raw `mkdir(2)` syscall (glibc's mkdir may use mkdirat): `Ok(())` or the errno.
pub fn sys_mkdir(path: &CString, mode: u32) -> Result<(), Errno> {
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
    let rc = unsafe { libc::syscall(libc::SYS_mkdir, path.as_ptr(), libc::c_ulong::from(mode)) };
    if rc == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

/// The raw `chmod(2)` syscall (glibc's chmod may use fchmodat): `Ok(())` or the errno.
pub fn sys_chmod(path: &CString, mode: u32) -> Result<(), Errno> {
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
    let rc = unsafe { libc::syscall(libc::SYS_chmod, path.as_ptr(), libc::c_ulong::from(mode)) };
    if rc == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

/// `path` as a C string (built before fork: the child must not allocate).
pub fn cpath(path: &Path) -> CString {
    CString::new(path.as_os_str().as_encoded_bytes()).expect("no NUL in test paths")
}

/// Writes one byte to `fd` (async-signal-safe).
pub fn write_byte(fd: &OwnedFd, byte: u8) -> bool {
    nix::unistd::write(fd, &[byte]) == Ok(1)
}

/// Writes an i32 to `fd` (async-signal-safe).
pub fn write_i32(fd: &OwnedFd, value: i32) -> bool {
    nix::unistd::write(fd, &value.to_ne_bytes()) == Ok(4)
}

/// Reads exactly `buf.len()` bytes from `fd`; false on EOF or error.
pub fn read_exact(fd: &OwnedFd, buf: &mut [u8]) -> bool {
    let mut done = 0;
    while done < buf.len() {
        match nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(fd), &mut buf[done..]) {
            Ok(0) => return false,
            Ok(n) => done += n,
            Err(Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
    true
}

/// A pipe (read end, write end), close-on-exec.
pub fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe2")
}

/// Copies fd `target_fd` out of process `pid` with pidfd_getfd(2) (as a runtime does with the
/// notify fd of its container init).
pub fn steal_fd(pid: Pid, target_fd: i32) -> OwnedFd {
    // SAFETY: pidfd_open takes a pid and flags; no pointers.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    assert!(pidfd >= 0, "pidfd_open: {}", Errno::last());
    // SAFETY: pidfd_open just returned this fd and nothing else owns it.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&pidfd);
    // SAFETY: pidfd_getfd takes a pidfd, an fd number and flags; no pointers.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, raw, target_fd, 0) };
    assert!(fd >= 0, "pidfd_getfd: {}", Errno::last());
    // SAFETY: pidfd_getfd just returned this new fd and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

/// `Seccomp:` and `Seccomp_filters:` of /proc/<pid>/status.
pub fn seccomp_status(pid: Pid) -> (String, String) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    (field("Seccomp:"), field("Seccomp_filters:"))
}
