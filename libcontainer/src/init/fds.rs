//! The init's file descriptors, at both ends of its life.
//!
//! First step ([`close_inherited`]): close every fd inherited through the
//! clone but not needed: the caller's other open files, `create`'s lock on the
//! container directory, the cgroup directory used for CLONE_INTO_CGROUP. None
//! of them may be reachable from inside the container (through /proc/1/fd, by
//! an `exec`'d process, between `create` and `start`), and a lock held by a
//! surviving init would block `delete`.
//!
//! Last steps ([`cloexec_from`]): mark the runtime's remaining fds
//! close-on-exec before the user program runs (CVE-2024-21626). Done before
//! the seccomp filter is loaded, since many profiles predate close_range or are
//! allow-lists without it. Everything the runtime opens afterwards is opened
//! close-on-exec (the start fifo, hook pipes; the kernel makes the seccomp
//! listener fd close-on-exec). When close_range is refused anyway (an older
//! kernel, or kiln itself running under a filter without it), the fds listed
//! in /proc/self/fd are marked one by one.

use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::sys::stat::Mode;

use crate::error::{Error, Result};

/// Where the fallback finds the fds; must be a procfs.
const PROC_FDS: &str = "/proc/self/fd";

/// Marks every fd from `first` on close-on-exec: close_range(CLOSE_RANGE_CLOEXEC), or, when
/// that is refused (EPERM from a seccomp filter, ENOSYS/EINVAL from a kernel older than
/// 5.11), each fd in /proc/self/fd with fcntl.
pub(crate) fn cloexec_from(first: u32) -> Result<()> {
    match close_range_cloexec(first) {
        Ok(()) => Ok(()),
        Err(refused @ (Errno::EPERM | Errno::ENOSYS | Errno::EINVAL)) => {
            walk_proc_fds(first).map_err(|e| {
                Error::sys(
                    format!("close_range CLOSE_RANGE_CLOEXEC: {refused}; fallback: mark the fds in {PROC_FDS} close-on-exec"),
                    e,
                )
            })
        }
        Err(e) => Err(Error::sys("close_range CLOSE_RANGE_CLOEXEC", e)),
    }
}

fn close_range_cloexec(first: u32) -> nix::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets fd flags; it closes nothing and
    // takes no pointers.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    Errno::result(r).map(drop)
}

/// Sets FD_CLOEXEC on every fd >= `first` listed in /proc/self/fd (the directory's own fd is
/// close-on-exec already and closed on return).
fn walk_proc_fds(first: u32) -> nix::Result<()> {
    let fd = nix::fcntl::open(
        PROC_FDS,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: open just returned this fd; nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // A container could have mounted something else there: only a procfs lists our fds.
    if nix::sys::statfs::fstatfs(&fd)?.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        return Err(Errno::EXDEV);
    }
    let mut dir = nix::dir::Dir::from_fd(fd.into_raw_fd())?;
    let own = dir.as_raw_fd();
    let mut fds: Vec<RawFd> = Vec::new();
    for entry in dir.iter() {
        let entry = entry?;
        let Some(fd) = entry.file_name().to_str().ok().and_then(|s| s.parse().ok()) else {
            continue; // "." and ".."
        };
        if fd != own && u32::try_from(fd).is_ok_and(|fd| fd >= first) {
            fds.push(fd);
        }
    }
    for fd in fds {
        let flags = FdFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFD)?);
        fcntl(fd, FcntlArg::F_SETFD(flags | FdFlag::FD_CLOEXEC))?;
    }
    Ok(())
}

/// Closes every fd except stdio, fds `3..3+preserve` and `keep`.
pub(crate) fn close_inherited(preserve: u32, keep: &[RawFd]) -> Result<()> {
    let first_free = 3u32.saturating_add(preserve);
    let mut keep: Vec<u32> = keep
        .iter()
        .filter_map(|&fd| u32::try_from(fd).ok())
        .filter(|&fd| fd >= first_free)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    for (lo, hi) in gaps(first_free, &keep) {
        close_range(lo, hi)?;
    }
    Ok(())
}

/// The inclusive ranges from `from` to `u32::MAX` that `keep` (sorted, all
/// `>= from`) leaves uncovered.
fn gaps(from: u32, keep: &[u32]) -> Vec<(u32, u32)> {
    let mut out = Vec::with_capacity(keep.len() + 1);
    let mut lo = from;
    for &k in keep {
        if k > lo {
            out.push((lo, k - 1));
        }
        lo = k.saturating_add(1);
    }
    if lo != u32::MAX || keep.last() != Some(&u32::MAX) {
        out.push((lo, u32::MAX));
    }
    out
}

fn close_range(lo: u32, hi: u32) -> Result<()> {
    // SAFETY: close_range only closes descriptors; none of the ones closed here
    // is owned by a live Rust object the init still uses (they are all in
    // `keep`), and the init is single-threaded.
    let r = unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0u32) };
    if r < 0 {
        return Err(Error::sys(
            format!("close_range {lo}..={hi} (inherited fds)"),
            nix::Error::last(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three fds without FD_CLOEXEC (on /dev/null), lowest first.
    fn inheritable() -> [OwnedFd; 3] {
        let open = || {
            let fd = nix::fcntl::open("/dev/null", OFlag::O_RDONLY, Mode::empty()).unwrap();
            // SAFETY: open just returned this fd; nothing else owns it.
            unsafe { OwnedFd::from_raw_fd(fd) }
        };
        let mut fds = [open(), open(), open()];
        fds.sort_by_key(|f| f.as_raw_fd());
        fds
    }

    fn cloexec(fd: &OwnedFd) -> bool {
        let flags = FdFlag::from_bits_retain(fcntl(fd.as_raw_fd(), FcntlArg::F_GETFD).unwrap());
        flags.contains(FdFlag::FD_CLOEXEC)
    }

    /// Runs `child` in a forked child (fd flags and filters stay there); its exit code.
    fn in_child(child: impl FnOnce() -> i32) -> i32 {
        // SAFETY: the child runs only `child` (syscalls, and malloc, which glibc keeps usable
        // across fork) and leaves with _exit; it takes no lock another test thread could hold.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => crate::init::exit_now(child()),
            nix::unistd::ForkResult::Parent { child } => {
                match nix::sys::wait::waitpid(child, None).unwrap() {
                    nix::sys::wait::WaitStatus::Exited(_, code) => code,
                    other => panic!("{other:?}"),
                }
            }
        }
    }

    /// 0 when marking from the middle one of `fds` left the lowest alone and marked the others.
    fn check_marked_from_middle(fds: &[OwnedFd; 3], mark: impl FnOnce(u32) -> bool) -> i32 {
        if !mark(fds[1].as_raw_fd() as u32) {
            return 12;
        }
        match (cloexec(&fds[0]), cloexec(&fds[1]), cloexec(&fds[2])) {
            (false, true, true) => 0,
            _ => 13,
        }
    }

    #[test]
    fn refused_close_range_falls_back_to_proc_self_fd() {
        for errno in [libc::EPERM, libc::ENOSYS, libc::EINVAL] {
            let profile = serde_json::json!({ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                { "names": ["close_range"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno }] });
            let filter = kiln_seccomp::compile(&serde_json::from_value(profile).unwrap()).unwrap();
            let fds = inheritable();
            let code = in_child(|| {
                let nnp = nix::sys::prctl::set_no_new_privs();
                if nnp.is_err() || filter.load().is_err() {
                    return 10;
                }
                if close_range_cloexec(0) != Err(Errno::from_raw(errno)) {
                    return 11; // the filter did not refuse close_range
                }
                check_marked_from_middle(&fds, |first| cloexec_from(first).is_ok())
            });
            assert_eq!(code, 0, "close_range refused with {errno}");
        }
    }

    #[test]
    fn close_range_marks_from_first() {
        let fds = inheritable();
        let code = in_child(|| check_marked_from_middle(&fds, |f| cloexec_from(f).is_ok()));
        assert_eq!(code, 0);
    }

    #[test]
    fn gaps_around_kept_fds() {
        assert_eq!(gaps(3, &[]), [(3, u32::MAX)]);
        assert_eq!(gaps(3, &[3, 4, 9]), [(5, 8), (10, u32::MAX)]);
        assert_eq!(gaps(5, &[7]), [(5, 6), (8, u32::MAX)]);
    }
}
