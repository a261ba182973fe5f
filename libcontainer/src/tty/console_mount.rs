//! Bind-mounts the container's pty slave on `/dev/console`.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, Mode, SFlag};

use super::error::{Result, TtyError};
use super::sys;

/// Bind-mounts the pty slave open as `slave` (named `name`, for messages) on
/// `target`, creating an empty file there if nothing exists. The mount comes
/// from the fd itself (open_tree + move_mount), and a `target` that is a
/// symlink or a directory is refused rather than followed.
pub(super) fn bind(slave: BorrowedFd<'_>, name: &str, target: &Path) -> Result<()> {
    let create = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY;
    match sys::open(target, create, Mode::from_bits_truncate(0o666)) {
        Ok(_) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(TtyError::path("create", target, e)),
    }
    let spot = sys::open(target, OFlag::O_PATH | OFlag::O_NOFOLLOW, Mode::empty())
        .map_err(|e| TtyError::path("open", target, e))?;
    let st = fstat(spot.as_raw_fd()).map_err(|e| TtyError::path("fstat", target, e))?;
    let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
    if kind != SFlag::S_IFREG && kind != SFlag::S_IFCHR {
        return Err(TtyError::path(
            "bind console onto (not a file or device)",
            target,
            Errno::EINVAL,
        ));
    }
    let tree =
        sys::clone_file_mount(slave).map_err(|e| TtyError::sys(format!("open_tree {name}"), e))?;
    sys::attach_mount(tree.as_fd(), spot.as_fd())
        .map_err(|e| TtyError::path("move_mount console onto", target, e))
}
