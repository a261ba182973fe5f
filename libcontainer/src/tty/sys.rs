//! Thin wrappers around the terminal ioctls and mount syscalls nix lacks.
//! Each holds exactly one `unsafe` call.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

/// `ioctl(master, TIOCSPTLCK, &0)`: unlocks the slave of a pty master.
pub(super) fn unlock_pt(master: BorrowedFd<'_>) -> nix::Result<()> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int through the pointer, which is valid.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) };
    Errno::result(r).map(drop)
}

/// `ioctl(master, TIOCGPTN)`: the index N of the slave `/dev/pts/N`.
pub(super) fn pty_number(master: BorrowedFd<'_>) -> nix::Result<u32> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int through the pointer, which is valid.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) };
    Errno::result(r).map(|_| n)
}

/// `ioctl(master, TIOCGPTPEER, flags)`: opens the slave of `master` without a
/// path lookup, so it is always the slave of *this* master (in the devpts
/// instance the master came from), whatever `/dev/pts` holds.
pub(super) fn open_peer(master: BorrowedFd<'_>, flags: libc::c_int) -> nix::Result<OwnedFd> {
    // SAFETY: TIOCGPTPEER takes open flags by value and returns a new fd.
    let fd = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    let fd = Errno::result(fd)?;
    // SAFETY: the kernel just returned this new fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `ioctl(tty, TIOCSCTTY, 0)`: makes `tty` the controlling terminal of the
/// calling session leader (without stealing it from another session).
pub(super) fn set_controlling_tty(tty: BorrowedFd<'_>) -> nix::Result<()> {
    // SAFETY: TIOCSCTTY takes an int by value.
    let r = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSCTTY, 0 as libc::c_int) };
    Errno::result(r).map(drop)
}

/// `ioctl(tty, TIOCGWINSZ)`: the window size of a terminal.
pub(super) fn get_winsize(tty: BorrowedFd<'_>) -> nix::Result<libc::winsize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one struct winsize through the pointer, which is valid.
    let r = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    Errno::result(r).map(|_| ws)
}

/// `ioctl(tty, TIOCSWINSZ, ws)`: sets the window size of a terminal (and
/// sends SIGWINCH to its foreground process group when it changes).
pub(super) fn set_winsize(tty: BorrowedFd<'_>, ws: &libc::winsize) -> nix::Result<()> {
    // SAFETY: TIOCSWINSZ reads one struct winsize through the pointer, which is valid.
    let r = unsafe {
        libc::ioctl(
            tty.as_raw_fd(),
            libc::TIOCSWINSZ,
            ws as *const libc::winsize,
        )
    };
    Errno::result(r).map(drop)
}

/// `open_tree(fd, "", OPEN_TREE_CLONE | AT_EMPTY_PATH)`: a detached bind
/// mount of the file `fd` refers to.
pub(super) fn clone_file_mount(fd: BorrowedFd<'_>) -> nix::Result<OwnedFd> {
    let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as u32;
    // SAFETY: open_tree takes a dirfd, a NUL-terminated path and flags and
    // returns a new fd or -1.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), c"".as_ptr(), flags) };
    let fd = Errno::result(r)?;
    // SAFETY: the kernel just returned this new fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// `move_mount(tree, "", target, "", F_EMPTY_PATH | T_EMPTY_PATH)`: attaches
/// a detached mount onto the file `target` refers to.
pub(super) fn attach_mount(tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> nix::Result<()> {
    let empty: &CStr = c"";
    let flags = libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH;
    // SAFETY: move_mount takes two (fd, NUL-terminated path) pairs and flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            target.as_raw_fd(),
            empty.as_ptr(),
            flags,
        )
    };
    Errno::result(r).map(drop)
}

/// `open(path, flags | O_CLOEXEC, mode)` as an owned fd.
pub(super) fn open<P: ?Sized + nix::NixPath>(
    path: &P,
    flags: nix::fcntl::OFlag,
    mode: nix::sys::stat::Mode,
) -> nix::Result<OwnedFd> {
    let fd = nix::fcntl::open(path, flags | nix::fcntl::OFlag::O_CLOEXEC, mode)?;
    // SAFETY: open just returned this new fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `openat(dir, path, flags | O_CLOEXEC, mode)` as an owned fd.
pub(super) fn openat<P: ?Sized + nix::NixPath>(
    dir: BorrowedFd<'_>,
    path: &P,
    flags: nix::fcntl::OFlag,
    mode: nix::sys::stat::Mode,
) -> nix::Result<OwnedFd> {
    let flags = flags | nix::fcntl::OFlag::O_CLOEXEC;
    let fd = nix::fcntl::openat(Some(dir.as_raw_fd()), path, flags, mode)?;
    // SAFETY: openat just returned this new fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Returns `fd` unchanged when it is above 2, else a close-on-exec copy at
/// 3 or above (the original is closed): an fd that stdio is about to be
/// dup2'ed over must not sit on 0, 1 or 2.
pub(super) fn above_stdio(fd: OwnedFd) -> nix::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    let copy = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3))?;
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) just returned this new fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

/// Runs `f` again while it fails with EINTR.
pub(super) fn retry<T>(mut f: impl FnMut() -> nix::Result<T>) -> nix::Result<T> {
    loop {
        match f() {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}
