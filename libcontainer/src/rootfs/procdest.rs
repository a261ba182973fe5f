//! Where a mount may go inside `/proc`: only a procfs on `/proc` itself, and
//! over the few files lxcfs-style tools emulate.

use std::os::fd::BorrowedFd;
use std::path::Path;

use super::error::RootfsError;
use super::mounts::Entry;
use super::{sys, RootfsOptions};

/// Paths inside `/proc` that may be mounted over (the files lxcfs emulates).
const PROC_OVERRIDABLE: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// Refuses mounts over `/proc` that are not procfs, and mounts over anything
/// inside `/proc` except the few files lxcfs-style tools emulate: the kernel
/// relies on procfs files (e.g. `/proc/self/attr`) being genuine. The check
/// uses where the destination really resolved to, symlinks included.
pub(super) fn check_proc_destination(
    o: &RootfsOptions<'_>,
    e: &Entry<'_>,
    target: BorrowedFd<'_>,
    source_is_procfs: bool,
) -> Result<(), RootfsError> {
    let host = std::fs::read_link(sys::proc_fd_path(target))
        .map_err(|err| RootfsError::io(&e.ctx, &sys::proc_fd_path(target), err))?;
    let Ok(inside) = host.strip_prefix(o.rootfs) else {
        return Ok(());
    };
    let inside = Path::new("/").join(inside);
    let Ok(rel) = inside.strip_prefix("/proc") else {
        return Ok(());
    };
    if rel.as_os_str().is_empty() {
        if e.typ == "proc" || source_is_procfs {
            return Ok(());
        }
        return Err(RootfsError::invalid(
            &e.ctx,
            "only a procfs may be mounted on /proc",
        ));
    }
    if PROC_OVERRIDABLE.iter().any(|p| Path::new(p) == inside) {
        return Ok(());
    }
    Err(RootfsError::invalid(
        &e.ctx,
        format!(
            "{} is inside /proc and may not be mounted over",
            inside.display()
        ),
    ))
}

/// proc and sysfs only go on an ordinary directory (or a missing one, made
/// here): never through a symlink in the image, even one that stays inside the
/// rootfs (CVE-2019-19921, CVE-2023-27561; runc's check and wording).
pub(super) fn check_ordinary_directory(
    root: &super::inroot::InRoot,
    e: &Entry<'_>,
) -> Result<(), RootfsError> {
    if e.typ != "proc" && e.typ != "sysfs" {
        return Ok(());
    }
    let fd = match root.open_with(e.dest, libc::O_PATH | libc::O_NOFOLLOW) {
        Ok(fd) => fd,
        Err(err) if err.errno == nix::errno::Errno::ENOENT => return Ok(()),
        Err(err) => return Err(err.within(&e.ctx)),
    };
    let st = nix::sys::stat::fstat(std::os::fd::AsRawFd::as_raw_fd(&fd))
        .map_err(|errno| e.err("fstat", errno))?;
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        return Ok(());
    }
    Err(RootfsError::invalid(
        &e.ctx,
        format!(
            "filesystem {:?} must be mounted on ordinary directory",
            e.typ
        ),
    ))
}
