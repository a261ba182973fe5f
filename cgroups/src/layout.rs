//! The host's cgroup hierarchies, found in `/proc/self/mountinfo` and confirmed with statfs(2).
//!
//! A directory under `/sys/fs/cgroup` is not a hierarchy because it exists: that directory is
//! usually a tmpfs where other tools leave plain directories (`hugetlb`, `net_cls`…) behind.
//! Only a visible `cgroup`/`cgroup2` mount counts, and kiln never writes anywhere else.

use std::path::{Path, PathBuf};

use nix::sys::statfs::{statfs, FsType, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};

use crate::mountinfo::{self, MountInfo};
use crate::CgroupError;

/// The standard mount point of the cgroup filesystems.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// v1 hierarchies kiln knows about, in the order they are listed and joined. `systemd` is
/// the named `name=systemd` hierarchy, which carries no controller but is joined like runc does.
pub(crate) const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "rdma",
    "misc",
    "systemd",
];

/// Host cgroup layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Only cgroup v1 hierarchies under `/sys/fs/cgroup/<controller>`.
    V1,
    /// A single cgroup2 hierarchy mounted at `/sys/fs/cgroup`.
    V2,
    /// v1 controller hierarchies plus cgroup2 at `/sys/fs/cgroup/unified` (systemd's "hybrid" mode).
    Hybrid,
}

/// One mounted v1 hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct V1Mount {
    /// The known controllers it carries (several when co-mounted, e.g. `cpu,cpuacct`),
    /// in [`V1_CONTROLLERS`] order.
    pub controllers: Vec<&'static str>,
    /// Where it is mounted.
    pub mount: PathBuf,
}

/// The cgroup hierarchies of the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mounts {
    pub layout: Layout,
    /// v1 hierarchies (none on a pure v2 host).
    pub v1: Vec<V1Mount>,
    /// The cgroup2 mount (`None` on a pure v1 host).
    pub unified: Option<PathBuf>,
    /// Hierarchies left out because an unprivileged caller may not write there (see
    /// [`crate::Manager::create_unprivileged`]): mount point and controllers.
    pub withheld: Vec<(PathBuf, Vec<&'static str>)>,
}

impl Mounts {
    /// The hierarchies mounted under [`CGROUP_ROOT`] in this mount namespace.
    pub(crate) fn discover() -> Result<Self, CgroupError> {
        let path = Path::new(mountinfo::SELF);
        let entries = mountinfo::read(path)
            .map_err(|e| CgroupError::Layout(format!("reading {}: {e}", path.display())))?;
        let mut mounts = Self::from_mountinfo(&entries, Path::new(CGROUP_ROOT))?;
        mounts.confirm_with_statfs()?;
        Ok(mounts)
    }

    /// The hierarchies mounted directly under `root` according to `entries` (pure; unit
    /// tested). A later mount hides earlier ones on the same mount point or below it.
    pub(crate) fn from_mountinfo(entries: &[MountInfo], root: &Path) -> Result<Self, CgroupError> {
        let mut visible: Vec<&MountInfo> = Vec::new();
        for m in entries {
            visible.retain(|v| !v.mount_point.starts_with(&m.mount_point));
            visible.push(m);
        }
        if visible
            .iter()
            .any(|m| m.mount_point == root && m.fstype == "cgroup2")
        {
            return Ok(Self {
                layout: Layout::V2,
                v1: Vec::new(),
                unified: Some(root.to_path_buf()),
                withheld: Vec::new(),
            });
        }
        let below_root = |m: &&&MountInfo| m.mount_point.parent() == Some(root);
        let v1: Vec<V1Mount> = visible
            .iter()
            .filter(below_root)
            .filter(|m| m.fstype == "cgroup")
            .filter_map(|m| {
                let controllers = v1_controllers(m);
                (!controllers.is_empty()).then(|| V1Mount {
                    controllers,
                    mount: m.mount_point.clone(),
                })
            })
            .collect();
        let unified = root.join("unified");
        let unified = visible
            .iter()
            .any(|m| m.mount_point == unified && m.fstype == "cgroup2")
            .then_some(unified);
        let layout = match (v1.is_empty(), &unified) {
            (false, Some(_)) => Layout::Hybrid,
            (false, None) => Layout::V1,
            (true, _) => {
                return Err(CgroupError::Layout(format!(
                    "no cgroup v1 or v2 filesystem is mounted at {}",
                    root.display()
                )))
            }
        };
        Ok(Self {
            layout,
            v1,
            unified,
            withheld: Vec::new(),
        })
    }

    /// Leaves out the hierarchy mounted at `mount` (the layout stays what the host has).
    pub(crate) fn withhold(&mut self, mount: &Path) {
        if let Some(i) = self.v1.iter().position(|h| h.mount == mount) {
            let h = self.v1.remove(i);
            self.withheld.push((h.mount, h.controllers));
        } else if self.unified.as_deref() == Some(mount) {
            self.unified = None;
            self.withheld.push((mount.to_path_buf(), vec!["unified"]));
        }
    }

    /// Whether the hierarchy of `controller` (v1 name, or "unified") was withheld.
    pub(crate) fn is_withheld(&self, controller: &str) -> bool {
        self.withheld.iter().any(|(_, c)| c.contains(&controller))
    }

    /// Drops any hierarchy whose mount point does not resolve to a cgroup filesystem now
    /// (one statfs each), so that nothing is ever written into another filesystem.
    fn confirm_with_statfs(&mut self) -> Result<(), CgroupError> {
        let is =
            |path: &Path, magic: FsType| statfs(path).is_ok_and(|s| s.filesystem_type() == magic);
        self.v1.retain(|h| is(&h.mount, CGROUP_SUPER_MAGIC));
        if let Some(u) = &self.unified {
            if !is(u, CGROUP2_SUPER_MAGIC) {
                if self.layout == Layout::V2 {
                    return Err(CgroupError::Layout(format!(
                        "{} is listed as cgroup2 in mountinfo but statfs disagrees",
                        u.display()
                    )));
                }
                self.unified = None;
            }
        }
        if self.layout == Layout::Hybrid && self.unified.is_none() {
            self.layout = Layout::V1;
        }
        if self.layout != Layout::V2 && self.v1.is_empty() {
            return Err(CgroupError::Layout(format!(
                "no cgroup filesystem is mounted under {CGROUP_ROOT}"
            )));
        }
        Ok(())
    }

    /// The mount point of the v1 hierarchy carrying `controller`.
    pub(crate) fn v1_mount(&self, controller: &str) -> Option<&Path> {
        self.v1
            .iter()
            .find(|h| h.controllers.contains(&controller))
            .map(|h| h.mount.as_path())
    }
}

/// The known controllers of a v1 mount, from its superblock options (`rw,cpu,cpuacct`,
/// `rw,xattr,name=systemd`).
fn v1_controllers(m: &MountInfo) -> Vec<&'static str> {
    V1_CONTROLLERS
        .iter()
        .copied()
        .filter(|&c| match c {
            "systemd" => m.has_super_option("name=systemd"),
            c => m.has_super_option(c),
        })
        .collect()
}

/// Detects the layout of the calling process's mount namespace from `/proc/self/mountinfo`.
pub fn detect_layout() -> Result<Layout, CgroupError> {
    Ok(Mounts::discover()?.layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    fn mounts(text: &str) -> Result<Mounts, CgroupError> {
        Mounts::from_mountinfo(&mountinfo::parse(text), Path::new(CGROUP_ROOT))
    }

    #[test]
    fn finds_the_hybrid_hierarchies_by_their_mounts() {
        let m = mounts(HYBRID).unwrap();
        assert_eq!(m.layout, Layout::Hybrid);
        assert_eq!(
            m.v1_mount("cpuacct"),
            Some(Path::new("/sys/fs/cgroup/cpu,cpuacct"))
        );
        assert_eq!(m.v1[0].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(
            m.v1_mount("systemd"),
            Some(Path::new("/sys/fs/cgroup/systemd"))
        );
        assert_eq!(m.unified, Some(PathBuf::from("/sys/fs/cgroup/unified")));
        // Plain directories (hugetlb, net_cls… on the tmpfs) are not in mountinfo.
        assert_eq!(m.v1_mount("hugetlb"), None);
        assert_eq!(m.v1_mount("net_cls"), None);
    }

    #[test]
    fn other_filesystems_and_deeper_mounts_are_not_hierarchies() {
        let text = format!(
            "{HYBRID}\
50 31 0:60 / /sys/fs/cgroup/hugetlb rw - tmpfs tmpfs rw
51 35 0:32 /x /sys/fs/cgroup/memory/sub/pids rw - cgroup cgroup rw,pids
52 31 0:61 / /sys/fs/cgroup/named rw - cgroup cgroup rw,name=other
"
        );
        let m = mounts(&text).unwrap();
        assert_eq!(m.v1_mount("hugetlb"), None);
        assert_eq!(m.v1_mount("pids"), None);
        assert_eq!(m.v1.len(), 3, "{:?}", m.v1);
    }

    #[test]
    fn a_later_mount_hides_the_hierarchy_below_it() {
        let hidden = format!(
            "{HYBRID}50 41 0:60 / /sys/fs/cgroup/unified rw - tmpfs tmpfs rw\n\
             51 35 0:61 / /sys/fs/cgroup/memory rw - tmpfs tmpfs rw\n"
        );
        let m = mounts(&hidden).unwrap();
        assert_eq!(m.layout, Layout::V1);
        assert_eq!(m.v1_mount("memory"), None);
        let remounted = format!("{HYBRID}60 23 0:70 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n");
        assert!(mounts(&remounted).is_err(), "a new root tmpfs hides all");
    }

    #[test]
    fn detects_v1_without_unified() {
        let text: String = HYBRID.lines().take(3).map(|l| format!("{l}\n")).collect();
        assert_eq!(mounts(&text).unwrap().layout, Layout::V1);
    }

    #[test]
    fn detects_v2() {
        let text =
            "29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
        let m = mounts(text).unwrap();
        assert_eq!(m.layout, Layout::V2);
        assert_eq!(m.unified, Some(PathBuf::from(CGROUP_ROOT)));
        assert!(m.v1.is_empty());
    }

    #[test]
    fn later_root_mount_shadows_earlier() {
        let text = format!("{HYBRID}50 23 0:40 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        assert_eq!(mounts(&text).unwrap().layout, Layout::V2);
    }

    #[test]
    fn no_cgroups_is_an_error() {
        assert!(mounts("22 1 0:21 / /proc rw - proc proc rw\n").is_err());
        let only_tmpfs = "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n";
        assert!(mounts(only_tmpfs).is_err());
    }
}
