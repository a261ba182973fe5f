//! A thin, safe wrapper over clone3(2).
//!
//! kiln clones the container init instead of exec'ing a second runtime
//! (runc's `runc init`). The child is a copy of a *single-threaded* parent
//! (checked by [`ensure_single_threaded`]), so no other thread can hold a lock
//! (malloc, stdio) at the moment of the clone: code in the child may allocate
//! and use the standard library until it execs. That invariant is what makes
//! the child safe, and it is checked before every clone.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use crate::error::{Error, Result};
use crate::process::procfs;

/// Which side of the clone we are on.
pub(crate) enum Forked {
    /// The parent, with the child's pid and a pidfd for it.
    Parent { pid: i32, pidfd: OwnedFd },
    /// The new process.
    Child,
}

/// CLONE_INTO_CGROUP (Linux 5.7), as the u64 clone3 takes.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Refuses to clone from a multi-threaded process (see the module docs).
pub(crate) fn ensure_single_threaded() -> Result<()> {
    match procfs::thread_count() {
        Some(1) | None => Ok(()),
        Some(n) => Err(Error::MultiThreaded(n)),
    }
}

/// clone3 with `flags` (namespace flags), fork-like semantics (no new stack),
/// SIGCHLD on exit, and a pidfd for the child. `cgroup` is a cgroup2 directory
/// fd for CLONE_INTO_CGROUP.
pub(crate) fn clone3(flags: u64, cgroup: Option<RawFd>) -> Result<Forked> {
    ensure_single_threaded()?;
    let mut pidfd: RawFd = -1;
    let mut args = CloneArgs {
        flags: flags | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut RawFd as u64,
        // With CLONE_PARENT the child takes the caller's exit signal (clone3
        // refuses one of its own).
        exit_signal: if flags & libc::CLONE_PARENT as u64 != 0 {
            0
        } else {
            libc::SIGCHLD as u64
        },
        ..Default::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    let ret = raw_clone3(&mut args);
    match ret {
        r if r < 0 => Err(Error::sys(
            format!("clone3 (flags {:#x})", args.flags),
            nix::Error::last(),
        )),
        0 => Ok(Forked::Child),
        pid => {
            // SAFETY: CLONE_PIDFD made the kernel store a new, owned fd in `pidfd`.
            let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
            Ok(Forked::Parent {
                pid: pid as i32,
                pidfd,
            })
        }
    }
}

fn raw_clone3(args: &mut CloneArgs) -> libc::c_long {
    // SAFETY: `args` is a valid clone_args of the size passed; stack is 0 so the
    // child runs on a copy of this stack like fork(2). The caller checked the
    // process is single-threaded (see module docs).
    unsafe {
        libc::syscall(
            libc::SYS_clone3,
            args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    }
}

/// clone3 of a process the caller will own: the container init, the exec
/// helper. In a kiln helper (see [`crate::embed`]) it is made a child of the
/// program that started the helper (CLONE_PARENT), which is told its pid.
pub(crate) fn clone_for_caller(flags: u64, cgroup: Option<RawFd>) -> Result<Forked> {
    if !crate::embed::is_helper() {
        return clone3(flags, cgroup);
    }
    let forked = clone3(flags | libc::CLONE_PARENT as u64, cgroup)?;
    if let Forked::Parent { pid, .. } = &forked {
        crate::embed::adopted(*pid)?;
    }
    Ok(forked)
}

/// Plain fork(2) (the bind sources helper).
pub(crate) fn fork() -> Result<Forked> {
    clone3(0, None)
}

/// A fork whose child is a sibling of the caller (CLONE_PARENT): the caller's
/// parent is its parent. The intermediate process that enters a pid or time
/// namespace (which only apply to children) uses it, so that the container
/// process it makes is a child of `create`/`exec` — it can die with them
/// (PR_SET_PDEATHSIG) and they reap it — although the intermediate exits.
pub(crate) fn fork_sibling() -> Result<Forked> {
    clone3(libc::CLONE_PARENT as u64, None)
}
