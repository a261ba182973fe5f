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
use super::filekind::{describe, is_char_device};
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
        mask_path(
            &root,
            Path::new(path),
            &mut null,
            &format!("linux.maskedPaths[{i}] ({path})"),
        )?;
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
fn mask_path(
    root: &InRoot,
    path: &Path,
    null: &mut Option<OwnedFd>,
    ctx: &str,
) -> Result<(), RootfsError> {
    let Some(fd) = open_optional(root, path).ctx(|| ctx)? else {
        return Ok(());
    };
    let stat = nix::sys::stat::fstat(fd.as_raw_fd())
        .map_err(|e| SysError::new("fstat", shown(path), e))
        .ctx(|| ctx)?;
    let is_dir = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
    let tree = if is_dir {
        let attrs = libc::MOUNT_ATTR_RDONLY
            | libc::MOUNT_ATTR_NOSUID
            | libc::MOUNT_ATTR_NODEV
            | libc::MOUNT_ATTR_NOEXEC;
        sys::fsmount_new("tmpfs", attrs).map_err(|e| SysError::new("fsmount tmpfs", shown(path), e))
    } else {
        let null = match null {
            Some(null) => null,
            None => null.insert(open_dev_null(root, ctx)?),
        };
        let flags = libc::OPEN_TREE_CLONE | libc::AT_EMPTY_PATH as u32;
        sys::open_tree(Some(null.as_fd()), Path::new(""), flags)
            .map_err(|e| SysError::new("open_tree", DEV_NULL, e))
    }
    .ctx(|| ctx)?;
    sys::move_mount(tree.as_fd(), fd.as_fd())
        .map_err(|e| SysError::new("move_mount", shown(path), e))
        .ctx(|| ctx)
}

const DEV_NULL: &str = "/dev/null";

/// Opens the container's `/dev/null` for masking and checks that it is the
/// null device itself (CVE-2025-31133): not a symlink (not even one that stays
/// in the root), a regular file or another device. The check is made on the
/// opened fd, which is what gets bound, so nothing can be swapped in after it.
fn open_dev_null(root: &InRoot, ctx: &str) -> Result<OwnedFd, RootfsError> {
    let path = Path::new(DEV_NULL);
    let fd = root
        .open_with(path, libc::O_PATH | libc::O_NOFOLLOW)
        .ctx(|| ctx)?;
    let st = nix::sys::stat::fstat(fd.as_raw_fd())
        .map_err(|e| SysError::new("fstat", path, e))
        .ctx(|| ctx)?;
    if !is_char_device(&st, 1, 3) {
        return Err(RootfsError::Unexpected {
            context: ctx.to_string(),
            path: path.to_path_buf(),
            found: describe(&st),
            expected: "the character device 1:3",
        });
    }
    Ok(fd)
}
