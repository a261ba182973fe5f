//! Bind-mounts the container's pty slave on `/dev/console`, checking both
//! ends (CVE-2025-52565: a `/dev/console` swapped for a symlink made runc
//! bind the pty over, or create, a file of the attacker's choosing).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode, SFlag};
use nix::sys::statfs::{fstatfs, DEVPTS_SUPER_MAGIC};

use super::error::{Result, TtyError};
use super::sys;
use crate::rootfs::filekind::describe;

/// Majors of Unix98 pty slaves (`UNIX98_PTY_SLAVE_MAJOR` and the 7 after it).
const PTY_SLAVE_MAJORS: std::ops::RangeInclusive<u32> = 136..=143;

/// Bind-mounts the pty slave open as `slave` (named `name`, for messages) on
/// `target`, creating an empty file there if nothing exists.
///
/// - `slave` must be a pty slave on a devpts (it was opened through its master
///   with TIOCGPTPEER, so no path was involved; checked anyway);
/// - `target`'s directory is resolved inside `/` without magic links, and
///   `target` itself is created and opened without following a symlink: a
///   symlink, a directory or a device other than a pty is refused;
/// - the mount is made from fd to fd (open_tree + move_mount), and what
///   `target` then is, is checked to be the slave.
pub(super) fn bind(slave: BorrowedFd<'_>, name: &str, target: &Path) -> Result<()> {
    let st = check_pty_slave(slave, name)?;
    let (dir, file) = parent_in_root(target)?;
    let create = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY;
    match sys::openat(dir.as_fd(), file, create, Mode::from_bits_truncate(0o666)) {
        Ok(_) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(TtyError::path("create", target, e)),
    }
    let spot = sys::openat(
        dir.as_fd(),
        file,
        OFlag::O_PATH | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .map_err(|e| TtyError::path("open", target, e))?;
    let here = fstat(spot.as_raw_fd()).map_err(|e| TtyError::path("fstat", target, e))?;
    let kind = SFlag::from_bits_truncate(here.st_mode) & SFlag::S_IFMT;
    if kind != SFlag::S_IFREG && !is_pty_slave(&here) {
        return Err(unexpected(
            target,
            &here,
            "a file or a pty to bind the console onto",
        ));
    }
    let tree =
        sys::clone_file_mount(slave).map_err(|e| TtyError::sys(format!("open_tree {name}"), e))?;
    sys::attach_mount(tree.as_fd(), spot.as_fd())
        .map_err(|e| TtyError::path("move_mount console onto", target, e))?;
    let now = fstatat(Some(dir.as_raw_fd()), file, AtFlags::AT_SYMLINK_NOFOLLOW)
        .map_err(|e| TtyError::path("fstatat", target, e))?;
    if now.st_mode & libc::S_IFMT != libc::S_IFCHR || now.st_rdev != st.st_rdev {
        return Err(unexpected(target, &now, "the container's pty slave"));
    }
    Ok(())
}

/// `fstat` of `slave`, once it is known to be a pty slave on a devpts.
fn check_pty_slave(slave: BorrowedFd<'_>, name: &str) -> Result<FileStat> {
    let fs = fstatfs(slave).map_err(|e| TtyError::path("fstatfs", name, e))?;
    let st = fstat(slave.as_raw_fd()).map_err(|e| TtyError::path("fstat", name, e))?;
    if fs.filesystem_type() != DEVPTS_SUPER_MAGIC || !is_pty_slave(&st) {
        return Err(unexpected(Path::new(name), &st, "a pty slave on a devpts"));
    }
    Ok(st)
}

/// Whether `st` is a Unix98 pty slave device.
fn is_pty_slave(st: &FileStat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFCHR
        && PTY_SLAVE_MAJORS.contains(&libc::major(st.st_rdev))
}

fn unexpected(path: &Path, st: &FileStat, expected: &'static str) -> TtyError {
    TtyError::Unexpected {
        path: path.to_path_buf(),
        found: describe(st),
        expected,
    }
}

/// The directory of the absolute `target`, resolved inside `/` with no magic
/// link followed, and `target`'s last component.
fn parent_in_root(target: &Path) -> Result<(OwnedFd, &std::ffi::OsStr)> {
    let (Some(parent), Some(file)) = (target.parent(), target.file_name()) else {
        return Err(TtyError::path("open", target, Errno::EINVAL));
    };
    let root = sys::open(
        Path::new("/"),
        OFlag::O_PATH | OFlag::O_DIRECTORY,
        Mode::empty(),
    )
    .map_err(|e| TtyError::path("open", "/", e))?;
    let rel = parent.strip_prefix("/").unwrap_or(parent);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    let flags = libc::O_PATH | libc::O_DIRECTORY;
    let dir = crate::rootfs::sys::openat2(root.as_fd(), rel, flags, 0, resolve)
        .map_err(|e| TtyError::path("openat2", parent, e))?;
    Ok((dir, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_pty_slave_passes() {
        let null = std::fs::File::open("/dev/null").unwrap();
        let err = check_pty_slave(null.as_fd(), "/dev/null").unwrap_err();
        assert!(
            err.to_string()
                .contains("is the character device 1:3, not a pty slave on a devpts"),
            "{err}"
        );
        let ptmx = sys::open("/dev/ptmx", OFlag::O_RDWR | OFlag::O_NOCTTY, Mode::empty()).unwrap();
        sys::unlock_pt(ptmx.as_fd()).unwrap();
        let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
        let slave = sys::open_peer(ptmx.as_fd(), flags).unwrap();
        check_pty_slave(slave.as_fd(), "slave").unwrap();
    }

    #[test]
    fn a_symlink_or_a_directory_is_not_a_console() {
        use crate::tty::tests::{fork_child, private_mount_ns};
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "victim").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        for (target, found) in [(&link, "a symbolic link"), (&sub, "a directory")] {
            // In a private mount namespace: a regression must not mount on the host.
            let mut child = fork_child(|| {
                private_mount_ns().unwrap();
                let ptmx = "/dev/ptmx";
                let ptmx = sys::open(ptmx, OFlag::O_RDWR | OFlag::O_NOCTTY, Mode::empty()).unwrap();
                sys::unlock_pt(ptmx.as_fd()).unwrap();
                let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
                let slave = sys::open_peer(ptmx.as_fd(), flags).unwrap();
                let err = bind(slave.as_fd(), "slave", target).unwrap_err();
                assert!(
                    matches!(&err, TtyError::Unexpected { found: f, .. } if f == found),
                    "{err}"
                );
                0
            });
            assert_eq!(child.wait(), 0, "{}", target.display());
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "victim");
    }
}
