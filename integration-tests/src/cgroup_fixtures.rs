//! Host cgroup situations a runtime must cope with, each undone on drop even when the test
//! fails: a stray plain directory under /sys/fs/cgroup, and frozen cgroups.

use std::path::{Path, PathBuf};

use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};

use crate::cgroup::PARENT;
use crate::error::{io_err, Result};
use crate::mountinfo::host_mounts;
use crate::sys::wait_until;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// v1 controller names that are often not mounted on a host (tried in this order).
const UNMOUNTED_CANDIDATES: &[&str] = &["misc", "rdma", "net_prio", "perf_event", "net_cls"];

/// A plain directory `/sys/fs/cgroup/<controller>` (on the cgroup tmpfs, not a mount), as
/// other tools leave behind. Made only if absent, and then removed on drop.
#[derive(Debug)]
pub struct StrayDir {
    path: PathBuf,
    made: bool,
}

impl StrayDir {
    /// A stray directory for a controller not mounted here; `None` if /sys/fs/cgroup is no
    /// tmpfs (pure v2) or every candidate is a mount.
    pub fn new() -> Result<Option<StrayDir>> {
        if statfs(CGROUP_ROOT).is_ok_and(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC) {
            return Ok(None);
        }
        let mounts = host_mounts()?;
        for name in UNMOUNTED_CANDIDATES {
            let path = Path::new(CGROUP_ROOT).join(name);
            let mounted = mounts.iter().any(|m| m.mount_point == path);
            if mounted || !is_plain_dir_or_absent(&path) {
                continue;
            }
            let made = match std::fs::create_dir(&path) {
                Ok(()) => true,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
                Err(e) => return Err(io_err("create directory", &path)(e)),
            };
            return Ok(Some(StrayDir { path, made }));
        }
        Ok(None)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// True when `path` does not exist, or is a directory that is not a cgroup filesystem.
fn is_plain_dir_or_absent(path: &Path) -> bool {
    match std::fs::symlink_metadata(path) {
        Err(_) => true,
        Ok(m) => {
            m.is_dir()
                && statfs(path).is_ok_and(|s| {
                    let t = s.filesystem_type();
                    t != CGROUP_SUPER_MAGIC && t != CGROUP2_SUPER_MAGIC
                })
        }
    }
}

impl Drop for StrayDir {
    fn drop(&mut self) {
        // Only what this guard made, and only while it is still a plain directory.
        if self.made && is_plain_dir_or_absent(&self.path) {
            if let Err(e) = std::fs::remove_dir_all(&self.path) {
                eprintln!("warning: removing {}: {e}", self.path.display());
            }
        }
    }
}

/// Which freezer the host has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// v1 `freezer.state` under the freezer hierarchy.
    V1,
    /// v2 `cgroup.freeze` (pure v2 host).
    V2,
}

/// The freezer hierarchy's mount point, from mountinfo.
fn freezer_mount() -> Result<Option<(PathBuf, Kind)>> {
    let mounts = host_mounts()?;
    if let Some(m) = mounts
        .iter()
        .rev()
        .find(|m| m.fstype == "cgroup" && m.has_super_option("freezer"))
    {
        return Ok(Some((m.mount_point.clone(), Kind::V1)));
    }
    let v2 = statfs(CGROUP_ROOT).is_ok_and(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC);
    Ok(v2.then(|| (PathBuf::from(CGROUP_ROOT), Kind::V2)))
}

/// The freezer cgroup `/kiln-it/<id>` in the state FROZEN; thawed on drop, and removed if
/// this guard created it.
#[derive(Debug)]
pub struct Frozen {
    dir: PathBuf,
    kind: Kind,
    made: bool,
}

impl Frozen {
    /// Creates the freezer cgroup of container `id` (before the runtime does) and freezes it.
    /// `None` when the host has no freezer.
    pub fn premade(id: &str) -> Result<Option<Frozen>> {
        let Some((mount, kind)) = freezer_mount()? else {
            return Ok(None);
        };
        let parent = mount.join(PARENT);
        match std::fs::create_dir(&parent) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err("create directory", &parent)(e)),
        }
        let dir = parent.join(id);
        std::fs::create_dir(&dir).map_err(io_err("create directory", &dir))?;
        let frozen = Frozen {
            dir,
            kind,
            made: true,
        };
        frozen.freeze()?;
        Ok(Some(frozen))
    }

    /// Freezes the existing freezer cgroup of container `id` directly (not through the runtime).
    pub fn existing(id: &str) -> Result<Option<Frozen>> {
        let Some((mount, kind)) = freezer_mount()? else {
            return Ok(None);
        };
        let frozen = Frozen {
            dir: mount.join(PARENT).join(id),
            kind,
            made: false,
        };
        frozen.freeze()?;
        Ok(Some(frozen))
    }

    /// The cgroup directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn write(&self, frozen: bool) -> Result<()> {
        let (file, value) = match (self.kind, frozen) {
            (Kind::V1, true) => ("freezer.state", "FROZEN"),
            (Kind::V1, false) => ("freezer.state", "THAWED"),
            (Kind::V2, true) => ("cgroup.freeze", "1"),
            (Kind::V2, false) => ("cgroup.freeze", "0"),
        };
        let path = self.dir.join(file);
        std::fs::write(&path, value).map_err(io_err("write", path))
    }

    /// Whether the kernel reports the cgroup frozen now.
    pub fn is_frozen(&self) -> bool {
        let read = |f: &str| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        match self.kind {
            Kind::V1 => read("freezer.state").trim() == "FROZEN",
            Kind::V2 => read("cgroup.events").lines().any(|l| l == "frozen 1"),
        }
    }

    fn freeze(&self) -> Result<()> {
        self.write(true)?;
        wait_until(&format!("{} to freeze", self.dir.display()), || {
            self.is_frozen()
        })
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if !self.dir.is_dir() {
            return;
        }
        if let Err(e) = self.write(false) {
            eprintln!("warning: thawing: {e}");
        }
        if self.made {
            if let Err(e) = std::fs::remove_dir(&self.dir) {
                eprintln!("warning: rmdir {}: {e}", self.dir.display());
            }
        }
    }
}
