//! The last rootfs step: read-only and masked paths, deferred read-only
//! remounts, `root.readonly` and `linux.rootfsPropagation`.
//!
//! Runs after `pivot_root`, so `/` is the container's root; everything is done
//! on file descriptors with the new mount API (no dependence on the container
//! having a `/proc`).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::mount;
use nix::sys::stat::SFlag;

use super::error::{Context, RootfsError, SysError, SysResult};
use super::inroot::{shown, InRoot};
use super::mounts::root_propagation;
use super::sys::{self, MountAttr};
use super::{PreparedRootfs, RootfsOptions};

const RDONLY: MountAttr = MountAttr {
    attr_set: libc::MOUNT_ATTR_RDONLY,
    attr_clr: 0,
    propagation: 0,
    userns_fd: 0,
};

pub(super) fn finalize(o: &RootfsOptions<'_>, p: PreparedRootfs) -> Result<(), RootfsError> {
    let root = InRoot::open(Path::new("/")).ctx(|| "finalize")?;
    let linux = o.spec.linux().as_ref();
    let readonly = linux
        .and_then(|l| l.readonly_paths().as_deref())
        .unwrap_or(&[]);
    for (i, path) in readonly.iter().enumerate() {
        readonly_path(&root, Path::new(path))
            .ctx(|| format!("linux.readonlyPaths[{i}] ({path})"))?;
    }
    let masked = linux
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or(&[]);
    let mut null = None;
    let mut done: Vec<PathBuf> = Vec::with_capacity(masked.len());
    for (i, path) in masked.iter().enumerate() {
        // A path listed twice is masked once (one mount, as runc).
        let cleaned = super::mounts::clean(Path::new(path));
        if done.contains(&cleaned) {
            continue;
        }
        done.push(cleaned);
        mask_path(&root, Path::new(path), &mut null)
            .ctx(|| format!("linux.maskedPaths[{i}] ({path})"))?;
    }
    for (ctx, fd) in &p.deferred_ro {
        sys::mount_setattr(fd.as_fd(), false, &RDONLY)
            .map_err(|e| SysError::bare("mount_setattr (make read-only)", e))
            .ctx(|| ctx.as_str())?;
    }
    if o.spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        sys::mount_setattr(root.fd(), false, &RDONLY)
            .map_err(|e| SysError::new("mount_setattr (make read-only)", "/", e))
            .ctx(|| "root.readonly")?;
    }
    if let Some(prop) = root_propagation(o.spec)? {
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            prop.mount_flags(),
            None::<&str>,
        )
        .map_err(|e| SysError::new("mount (set propagation)", "/", e))
        .ctx(|| "linux.rootfsPropagation")?;
    }
    Ok(())
}

/// Opens a path that may legitimately be missing (`None` then).
fn open_optional(root: &InRoot, path: &Path) -> SysResult<Option<OwnedFd>> {
    match root.open_path(path) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if matches!(e.errno, Errno::ENOENT | Errno::ENOTDIR) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Binds `path` onto itself, recursively read-only; the flags it had
/// (nosuid, nodev, noexec, atime) are kept.
fn readonly_path(root: &InRoot, path: &Path) -> SysResult<()> {
    let Some(fd) = open_optional(root, path)? else {
        return Ok(());
    };
    let flags = libc::OPEN_TREE_CLONE | libc::AT_RECURSIVE as u32 | libc::AT_EMPTY_PATH as u32;
    let tree = sys::open_tree(Some(fd.as_fd()), Path::new(""), flags)
        .map_err(|e| SysError::new("open_tree", shown(path), e))?;
    sys::mount_setattr(tree.as_fd(), true, &RDONLY)
        .map_err(|e| SysError::new("mount_setattr (make read-only)", shown(path), e))?;
    sys::move_mount(tree.as_fd(), fd.as_fd())
        .map_err(|e| SysError::new("move_mount", shown(path), e))
}

/// Hides `path`: `/dev/null` is bound over files, an empty read-only tmpfs is
/// mounted over directories.
fn mask_path(root: &InRoot, path: &Path, null: &mut Option<OwnedFd>) -> SysResult<()> {
    let Some(fd) = open_optional(root, path)? else {
        return Ok(());
    };
    let stat = nix::sys::stat::fstat(fd.as_raw_fd())
        .map_err(|e| SysError::new("fstat", shown(path), e))?;
    let is_dir = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
    let tree = if is_dir {
        let attrs = libc::MOUNT_ATTR_RDONLY
            | libc::MOUNT_ATTR_NOSUID
            | libc::MOUNT_ATTR_NODEV
            | libc::MOUNT_ATTR_NOEXEC;
        sys::fsmount_new("tmpfs", attrs)
            .map_err(|e| SysError::new("fsmount tmpfs", shown(path), e))?
    } else {
        if null.is_none() {
            *null = Some(root.open_path(Path::new("/dev/null"))?);
        }
        let Some(null) = null.as_ref() else {
            return Err(SysError::new("open", "/dev/null", Errno::ENOENT));
        };
        let flags = libc::OPEN_TREE_CLONE | libc::AT_EMPTY_PATH as u32;
        sys::open_tree(Some(null.as_fd()), Path::new(""), flags)
            .map_err(|e| SysError::new("open_tree", "/dev/null", e))?
    };
    sys::move_mount(tree.as_fd(), fd.as_fd())
        .map_err(|e| SysError::new("move_mount", shown(path), e))
}
