//! `type: cgroup` mounts.
//!
//! * Pure cgroup v2 host: a `cgroup2` mount (falls back to a bind mount of the
//!   container's own cgroup directory when the kernel refuses a fresh one).
//! * cgroup v1 or hybrid host: a tmpfs at the destination holding one mount per
//!   v1 hierarchy the container belongs to (named after the host's mount point:
//!   `cpu`, `memory`, `systemd`, ...). With a new cgroup namespace each
//!   hierarchy is mounted afresh (the namespace scopes it to the container's
//!   cgroup); without one, the container's own cgroup directory of each
//!   hierarchy is bind-mounted. Co-mounted hierarchies (`cpu,cpuacct`) get a
//!   symlink per controller. The cgroup2 part of a hybrid host is not mounted
//!   (like runc).

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};

use super::error::{Context, RootfsError, SysError};
use super::inroot::{shown, InRoot};
use super::mountinfo::{self, MountInfo};
use super::mounts::{attach, clone_tree, finish, Deferred, Entry, DIR_MODE};
use super::sys;
use super::RootfsOptions;

/// One line of `/proc/self/cgroup`: `hierarchy-id:controllers:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Membership {
    id: u32,
    controllers: String,
    path: PathBuf,
}

/// Parses `/proc/self/cgroup` text (malformed lines are skipped).
fn parse_memberships(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.splitn(3, ':');
            Some(Membership {
                id: f.next()?.parse().ok()?,
                controllers: f.next()?.to_string(),
                path: PathBuf::from(f.next()?),
            })
        })
        .collect()
}

fn own_memberships(ctx: &str) -> Result<Vec<Membership>, RootfsError> {
    let path = Path::new("/proc/self/cgroup");
    let text = std::fs::read_to_string(path).map_err(|e| RootfsError::io(ctx, path, e))?;
    Ok(parse_memberships(&text))
}

/// The host mount of the v1 hierarchy `m` belongs to. Unless `any_root`, its
/// root must contain `m`'s cgroup (so that the cgroup can be bind-mounted).
fn find_hierarchy<'a>(
    mounts: &'a [MountInfo],
    m: &Membership,
    any_root: bool,
) -> Option<&'a MountInfo> {
    if m.controllers.is_empty() {
        return None;
    }
    mounts.iter().find(|mi| {
        mi.fstype == "cgroup"
            && m.controllers.split(',').all(|c| mi.has_super_option(c))
            && (any_root || m.path.starts_with(&mi.root))
    })
}

fn is_cgroup2_host() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

pub(super) fn mount_cgroup(
    o: &RootfsOptions<'_>,
    root: &InRoot,
    e: &Entry<'_>,
    deferred: &mut Deferred,
) -> Result<(), RootfsError> {
    if is_cgroup2_host() {
        mount_v2(root, e, deferred)
    } else {
        mount_v1(o, root, e, deferred)
    }
}

fn mount_v2(root: &InRoot, e: &Entry<'_>, deferred: &mut Deferred) -> Result<(), RootfsError> {
    let target = root.mkdir_all(e.dest, DIR_MODE).ctx(|| &e.ctx)?;
    let data = e.opts.data_string();
    let path = sys::proc_fd_path(target.as_fd());
    match mount(
        Some("cgroup2"),
        &path,
        Some("cgroup2"),
        e.opts.flags,
        data.as_deref(),
    ) {
        Ok(()) => {}
        Err(Errno::EPERM | Errno::EBUSY) => {
            let own = own_memberships(&e.ctx)?
                .into_iter()
                .find(|m| m.id == 0)
                .ok_or_else(|| {
                    RootfsError::invalid(&e.ctx, "no cgroup v2 entry in /proc/self/cgroup")
                })?;
            let rel = own.path.strip_prefix("/").unwrap_or(&own.path);
            let host = Path::new("/sys/fs/cgroup").join(rel);
            let tree = clone_tree(&host, true).ctx(|| &e.ctx)?;
            attach(tree, &e.opts.bind_attr(), target.as_fd(), e.dest).ctx(|| &e.ctx)?;
        }
        Err(errno) => return Err(e.err("mount cgroup2", errno)),
    }
    finish(root, e, false, deferred)
}

fn mount_v1(
    o: &RootfsOptions<'_>,
    root: &InRoot,
    e: &Entry<'_>,
    deferred: &mut Deferred,
) -> Result<(), RootfsError> {
    let target = root.mkdir_all(e.dest, DIR_MODE).ctx(|| &e.ctx)?;
    let mut flags = e.opts.flags | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    flags.remove(MsFlags::MS_RDONLY);
    let mut data = vec!["mode=755".to_string()];
    data.extend(e.opts.data.iter().cloned());
    let path = sys::proc_fd_path(target.as_fd());
    mount(
        Some("tmpfs"),
        &path,
        Some("tmpfs"),
        flags,
        Some(data.join(",").as_str()),
    )
    .map_err(|errno| e.err("mount tmpfs (cgroup v1 root)", errno))?;
    let tmpfs = root.open_path(e.dest).ctx(|| &e.ctx)?;

    let host_mounts = mountinfo::read_self(&e.ctx)?;
    for m in own_memberships(&e.ctx)?.iter().filter(|m| m.id != 0) {
        // In a cgroup namespace, paths are relative to the namespace's root and
        // the host mounts' roots may lie above it: only the fresh mount works.
        let Some(hierarchy) = find_hierarchy(&host_mounts, m, o.new_cgroup_ns) else {
            continue;
        };
        let Some(name) = hierarchy.mount_point.file_name() else {
            continue;
        };
        let sub = e.dest.join(name);
        let sub_fd = root.mkdir_all(&sub, DIR_MODE).ctx(|| &e.ctx)?;
        let mut mounted = false;
        if o.new_cgroup_ns {
            let path = sys::proc_fd_path(sub_fd.as_fd());
            let data = Some(m.controllers.as_str());
            match mount(Some("cgroup"), &path, Some("cgroup"), e.opts.flags, data) {
                Ok(()) => mounted = true,
                Err(Errno::EPERM | Errno::EBUSY) => {}
                Err(errno) => {
                    return Err(SysError::new(
                        format!("mount cgroup ({})", m.controllers),
                        shown(&sub),
                        errno,
                    )
                    .within(&e.ctx))
                }
            }
        }
        if !mounted {
            let Ok(rel) = m.path.strip_prefix(&hierarchy.root) else {
                return Err(RootfsError::invalid(
                    &e.ctx,
                    format!(
                        "cannot mount cgroup hierarchy {}: a fresh mount was refused and the cgroup {} is outside the host's mount of it",
                        m.controllers,
                        m.path.display()
                    ),
                ));
            };
            let host = hierarchy.mount_point.join(rel);
            let tree = clone_tree(&host, false).ctx(|| &e.ctx)?;
            attach(tree, &e.opts.bind_attr(), sub_fd.as_fd(), &sub).ctx(|| &e.ctx)?;
        }
        let name_str = name.to_string_lossy();
        if name_str.contains(',') {
            for controller in name_str.split(',').filter(|c| !c.is_empty()) {
                match nix::unistd::symlinkat(
                    name,
                    Some(std::os::fd::AsRawFd::as_raw_fd(&tmpfs)),
                    controller,
                ) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(errno) => {
                        return Err(SysError::new(
                            "symlinkat",
                            shown(&e.dest.join(controller)),
                            errno,
                        )
                        .within(&e.ctx))
                    }
                }
            }
        }
    }
    finish(root, e, e.opts.flags.contains(MsFlags::MS_RDONLY), deferred)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::mountinfo::parse_line;

    #[test]
    fn memberships_and_hierarchies() {
        let own = parse_memberships(
            "9:name=systemd:/user.slice\n4:cpu,cpuacct:/a/b\n2:pids:/elsewhere\n0::/x:y\ngarbage\n",
        );
        assert_eq!(own.len(), 4);
        assert_eq!(own[3].path, PathBuf::from("/x:y"));
        let mounts: Vec<MountInfo> = [
            "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd",
            "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct",
            "39 31 0:36 /nested /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids",
            "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw",
        ]
        .iter()
        .filter_map(|l| parse_line(l))
        .collect();
        let found = |i: usize| find_hierarchy(&mounts, &own[i], false).map(|m| m.id);
        assert_eq!(found(0), Some(40));
        assert_eq!(found(1), Some(32));
        assert_eq!(
            found(2),
            None,
            "/elsewhere is not under the mount's root /nested"
        );
        assert_eq!(found(3), None, "v2 is not a v1 hierarchy");
        assert_eq!(
            find_hierarchy(&mounts, &own[2], true).map(|m| m.id),
            Some(39)
        );
    }
}
