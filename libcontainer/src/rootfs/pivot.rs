//! Step "pivot_root": switch the process's root to the rootfs.

use std::os::fd::AsRawFd;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::error::{Context, RootfsError, SysError, SysResult};
use super::inroot::InRoot;
use super::mountinfo;
use super::{PreparedRootfs, RootfsOptions};

const CTX: &str = "pivot_root";

pub(super) fn pivot_root(o: &RootfsOptions<'_>, p: &mut PreparedRootfs) -> Result<(), RootfsError> {
    if o.no_pivot {
        hide_host_pseudo_filesystems(o.rootfs)?;
    }
    nix::unistd::fchdir(p.root.as_raw_fd())
        .map_err(|e| SysError::new("fchdir", o.rootfs, e))
        .ctx(|| CTX)?;
    if o.no_pivot {
        move_root().ctx(|| CTX)
    } else {
        pivot().ctx(|| CTX)
    }
}

/// `pivot_root(".", ".")`: the old root ends up stacked on top of the new one
/// at `/`; it is made slave (so that detaching it cannot propagate anywhere)
/// and detached.
fn pivot() -> SysResult<()> {
    let old_root = InRoot::open(Path::new("/"))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| SysError::new("pivot_root", ".", e))?;
    nix::unistd::fchdir(old_root.fd().as_raw_fd())
        .map_err(|e| SysError::new("fchdir", "old root", e))?;
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| SysError::new("mount (make old root rslave)", "old root", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| SysError::new("umount2", "old root", e))?;
    nix::unistd::chdir("/").map_err(|e| SysError::new("chdir", "/", e))
}

/// `--no-pivot`: move the rootfs mount (the working directory) onto `/` and chroot into it.
fn move_root() -> SysResult<()> {
    mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
        .map_err(|e| SysError::new("mount (move rootfs onto /)", "/", e))?;
    nix::unistd::chroot(".").map_err(|e| SysError::new("chroot", ".", e))?;
    nix::unistd::chdir("/").map_err(|e| SysError::new("chdir", "/", e))
}

/// Without `pivot_root` the host's mounts stay reachable below the chroot, and
/// the kernel allows a fresh procfs/sysfs mount as long as a full one is
/// visible in the namespace. Detach the host's full procfs and sysfs mounts
/// (or cover them with an empty tmpfs where detaching is not allowed).
fn hide_host_pseudo_filesystems(rootfs: &Path) -> Result<(), RootfsError> {
    let ctx = "pivot_root (--no-pivot)";
    for m in mountinfo::read_self(ctx)? {
        let full_pseudo = m.root == Path::new("/") && (m.fstype == "proc" || m.fstype == "sysfs");
        if !full_pseudo || m.mount_point.starts_with(rootfs) {
            continue;
        }
        let mp = m.mount_point.as_path();
        match mount(
            None::<&str>,
            mp,
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        ) {
            Ok(()) => {}
            // Already gone with an earlier, enclosing mount.
            Err(Errno::ENOENT | Errno::EINVAL) => continue,
            Err(e) => return Err(SysError::new("mount (make rslave)", mp, e).within(ctx)),
        }
        match umount2(mp, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            Err(Errno::EINVAL | Errno::EPERM) => {
                mount(
                    Some("tmpfs"),
                    mp,
                    Some("tmpfs"),
                    MsFlags::empty(),
                    None::<&str>,
                )
                .map_err(|e| SysError::new("mount tmpfs (cover host pseudo filesystem)", mp, e))
                .ctx(|| ctx)?;
            }
            Err(e) => return Err(SysError::new("umount2", mp, e).within(ctx)),
        }
    }
    Ok(())
}
