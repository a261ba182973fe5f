//! Process helpers: waiting for (non-child) processes with pidfds, liveness, namespaces.

use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::error::{Error, Result};

/// The deadline for anything the tests wait on; only a guard against hangs, never asserted.
pub const WAIT_LIMIT: Duration = Duration::from_secs(120);

/// `pidfd_open(pid, 0)`; `None` if the process does not exist.
fn pidfd_open(pid: i32) -> Result<Option<OwnedFd>> {
    // SAFETY: pidfd_open takes two integers and returns a new fd or -1; no memory is shared.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        let errno = nix::errno::Errno::last();
        if errno == nix::errno::Errno::ESRCH {
            return Ok(None);
        }
        return Err(Error::Sys {
            call: "pidfd_open",
            context: format!("pid {pid}"),
            source: errno,
        });
    }
    let fd = RawFd::try_from(fd).map_err(|_| Error::Sys {
        call: "pidfd_open",
        context: format!("pid {pid}: fd out of range"),
        source: nix::errno::Errno::EBADF,
    })?;
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Waits until process `pid` has terminated (a zombie counts), up to `limit`.
///
/// Returns `Ok(true)` once it has, `Ok(false)` if it is still alive at the deadline.
pub fn wait_pid_exit(pid: i32, limit: Duration) -> Result<bool> {
    let Some(fd) = pidfd_open(pid)? else {
        return Ok(true);
    };
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let millis = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(millis)) {
            Ok(0) if left.is_zero() => return Ok(false),
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => return Ok(true),
            Err(source) => {
                return Err(Error::Sys {
                    call: "poll",
                    context: format!("pidfd of {pid}"),
                    source,
                })
            }
        }
    }
}

/// Whether `pid` exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the last ')' (the command name may contain parentheses).
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Polls `condition` every 20 ms until it holds; `Err(Timeout)` after [`WAIT_LIMIT`].
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + WAIT_LIMIT;
    while !condition() {
        if Instant::now() > deadline {
            return Err(Error::Timeout {
                what: what.to_string(),
                seconds: WAIT_LIMIT.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Waits until process `pid` runs the program named `comm` (its `/proc/<pid>/comm`), e.g.
/// until a started container's init has executed its program.
pub fn wait_comm(pid: i32, comm: &str) -> Result<()> {
    wait_until(&format!("process {pid} to run {comm}"), || {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
    })
}

/// The target of `/proc/<pid>/ns/<kind>` (e.g. `net:[4026531840]`), `"self"` for this process.
pub fn ns_link(pid: &str, kind: &str) -> Result<String> {
    let path = format!("/proc/{pid}/ns/{kind}");
    std::fs::read_link(&path)
        .map(|target| target.to_string_lossy().into_owned())
        .map_err(crate::error::io_err("readlink", path))
}

/// The (device, inode) of `path`, following symlinks.
pub fn dev_ino(path: &Path) -> Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(crate::error::io_err("stat", path))?;
    Ok((meta.dev(), meta.ino()))
}

/// CPU time (utime + stime, in clock ticks) used so far by `pid`; 0 if gone.
pub fn cpu_ticks(pid: i32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return 0;
    };
    let fields: Vec<&str> = rest.split(' ').collect();
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    let get = |n: usize| {
        fields
            .get(n - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(14) + get(15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_a_child_and_sees_it_gone() {
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let pid = i32::try_from(child.id()).expect("pid fits i32");
        assert!(wait_pid_exit(pid, WAIT_LIMIT).expect("wait"));
        assert!(!pid_alive(pid), "a zombie is not alive");
        child.wait().expect("reap");
        assert!(wait_pid_exit(pid, WAIT_LIMIT).expect("wait on a reaped pid"));
    }
}
