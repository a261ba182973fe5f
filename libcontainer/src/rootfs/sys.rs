//! Thin, safe wrappers around the system calls that neither `libc` nor `nix`
//! wraps: `openat2`, the file-descriptor based mount API (`open_tree`,
//! `move_mount`, `mount_setattr`, `fsopen`/`fsconfig`/`fsmount`).
//!
//! Every `unsafe` block of the rootfs module lives here.

use std::ffi::{CString, OsStr};
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

/// `struct open_how` of `openat2(2)` (libc's version cannot be built outside libc).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MountAttr {
    /// `MOUNT_ATTR_*` flags to set.
    pub(crate) attr_set: u64,
    /// `MOUNT_ATTR_*` flags to clear.
    pub(crate) attr_clr: u64,
    /// One of `MS_SHARED`, `MS_SLAVE`, `MS_PRIVATE`, `MS_UNBINDABLE`, or 0.
    pub(crate) propagation: u64,
    /// A user namespace fd for `MOUNT_ATTR_IDMAP`.
    pub(crate) userns_fd: u64,
}

impl MountAttr {
    /// Whether applying this would change nothing.
    pub(crate) fn is_noop(&self) -> bool {
        self.attr_set == 0 && self.attr_clr == 0 && self.propagation == 0
    }
}

/// A path as a C string; interior NUL bytes are EINVAL, like the kernel would say.
pub(crate) fn cstring(s: &OsStr) -> Result<CString, Errno> {
    CString::new(s.as_bytes()).map_err(|_| Errno::EINVAL)
}

/// `/proc/self/fd/<fd>`: a path that the kernel resolves to exactly the object `fd` holds.
pub(crate) fn proc_fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Wraps a syscall's return value: a new fd on success, `errno` on failure.
fn new_fd(ret: libc::c_long) -> Result<OwnedFd, Errno> {
    if ret < 0 {
        return Err(Errno::last());
    }
    let fd = RawFd::try_from(ret).map_err(|_| Errno::EBADF)?;
    // SAFETY: the kernel has just returned `fd` as a new descriptor of this
    // process; nothing else owns it, so taking ownership is sound.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Wraps a syscall that returns 0 or -1.
fn unit(ret: libc::c_long) -> Result<(), Errno> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// `openat2(dirfd, path, {flags | O_CLOEXEC, mode, resolve})`, retried on EAGAIN
/// (which the kernel returns when a concurrent rename or mount raced with a
/// scoped lookup).
pub(crate) fn openat2(
    dirfd: BorrowedFd<'_>,
    path: &Path,
    flags: libc::c_int,
    mode: libc::mode_t,
    resolve: u64,
) -> Result<OwnedFd, Errno> {
    let c_path = cstring(path.as_os_str())?;
    let how = OpenHow {
        flags: u64::from((flags | libc::O_CLOEXEC) as u32),
        mode: u64::from(mode),
        resolve,
    };
    let mut tries = 0;
    loop {
        // SAFETY: `c_path` and `how` are valid for the duration of the call, and
        // the size passed is exactly the size of the struct the pointer points to.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd.as_raw_fd(),
                c_path.as_ptr(),
                &how as *const OpenHow,
                size_of::<OpenHow>(),
            )
        };
        match new_fd(ret) {
            Err(Errno::EAGAIN | Errno::EINTR) if tries < 32 => tries += 1,
            other => return other,
        }
    }
}

/// `open_tree(dirfd, path, flags | OPEN_TREE_CLOEXEC)`; `None` is `AT_FDCWD`.
pub(crate) fn open_tree(
    dirfd: Option<BorrowedFd<'_>>,
    path: &Path,
    flags: libc::c_uint,
) -> Result<OwnedFd, Errno> {
    let c_path = cstring(path.as_os_str())?;
    let dirfd = dirfd.map_or(libc::AT_FDCWD, |fd| fd.as_raw_fd());
    // SAFETY: `c_path` is a valid NUL-terminated string for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            dirfd,
            c_path.as_ptr(),
            flags | libc::OPEN_TREE_CLOEXEC,
        )
    };
    new_fd(ret)
}

/// `move_mount(from, "", to, "", F_EMPTY_PATH | T_EMPTY_PATH)`: attaches the
/// mount (tree) held by `from` on top of the object held by `to`.
pub(crate) fn move_mount(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<(), Errno> {
    let empty = c"";
    // SAFETY: both path arguments are valid (empty) C strings; the fds are borrowed
    // for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            empty.as_ptr(),
            to.as_raw_fd(),
            empty.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    unit(ret)
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH | [AT_RECURSIVE], attr)`: changes the
/// properties of the mount whose root `fd` holds.
pub(crate) fn mount_setattr(
    fd: BorrowedFd<'_>,
    recursive: bool,
    attr: &MountAttr,
) -> Result<(), Errno> {
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    let empty = c"";
    // SAFETY: `attr` points to a properly sized and initialised `struct mount_attr`,
    // and the path is a valid C string; both outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            empty.as_ptr(),
            flags,
            attr as *const MountAttr,
            size_of::<MountAttr>(),
        )
    };
    unit(ret)
}

/// Creates a detached mount of a fresh filesystem of type `fstype` (with
/// `fsopen`/`fsconfig`/`fsmount`) whose mount attributes are `attr_flags`.
pub(crate) fn fsmount_new(fstype: &str, attr_flags: u64) -> Result<OwnedFd, Errno> {
    let c_type = cstring(OsStr::new(fstype))?;
    // SAFETY: `c_type` is a valid C string for the duration of the call.
    let ret = unsafe { libc::syscall(libc::SYS_fsopen, c_type.as_ptr(), libc::FSOPEN_CLOEXEC) };
    let fs = new_fd(ret)?;
    // SAFETY: FSCONFIG_CMD_CREATE takes no key, value or aux argument (NULL, NULL, 0).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            libc::FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    unit(ret)?;
    // SAFETY: plain integer arguments; `fs` is a valid filesystem context fd.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            libc::FSMOUNT_CLOEXEC,
            attr_flags as libc::c_uint,
        )
    };
    new_fd(ret)
}

/// Starts a child process in a new user namespace that does nothing but wait
/// to be killed (its namespace is what we want). Returns its pid (in our pid
/// namespace) and a pidfd.
pub(crate) fn clone_userns_holder() -> Result<(libc::pid_t, OwnedFd), Errno> {
    let mut pidfd: libc::c_int = -1;
    let flags = (libc::CLONE_NEWUSER | libc::CLONE_PIDFD | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: `clone` without CLONE_VM behaves like `fork`: the child runs on
    // a copy of our address space and stack, and only calls `pause` until it is
    // killed (it never returns into Rust code that could touch shared state).
    // The kernel writes the pidfd to the valid `pidfd` location (parent_tid).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            0usize,
            &mut pidfd as *mut libc::c_int,
            0usize,
            0usize,
        )
    };
    if ret == 0 {
        wait_forever();
    }
    if ret < 0 {
        return Err(Errno::last());
    }
    let pid = libc::pid_t::try_from(ret).map_err(|_| Errno::EINVAL)?;
    // SAFETY: with CLONE_PIDFD the kernel stored a new descriptor in `pidfd`
    // that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    Ok((pid, pidfd))
}

/// The body of the child of [`clone_userns_holder`].
fn wait_forever() -> ! {
    loop {
        // SAFETY: pause(2) has no preconditions.
        unsafe { libc::pause() };
    }
}
