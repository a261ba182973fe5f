//! Entry points for kiln's fuzz targets (`fuzz/`): the crate's private parsers of what
//! config.json and cgroupfs hand it, reachable without a [`Manager`](crate::Manager) or a
//! cgroup of one's own. Thin calls into the code kiln runs; not a stable API.

use std::path::Path;

use crate::{CgroupError, CgroupPath, Stats};

/// [`CgroupPath::parse`] with the "is systemd running" probe given.
pub fn cgroup_path(
    cgroups_path: Option<&str>,
    container_id: &str,
    systemd: bool,
    systemd_running: bool,
) -> Result<CgroupPath, CgroupError> {
    CgroupPath::parse_with(cgroups_path, container_id, systemd, systemd_running)
}

/// The statistics `events --stats` reports for the cgroup v2 directory `dir`.
pub fn stats_v2(dir: &Path) -> Result<Stats, CgroupError> {
    crate::stats::v2::collect(dir)
}

/// The statistics `events --stats` reports on cgroup v1, every controller's directory being
/// `dir` (and no cgroup2 hierarchy).
pub fn stats_v1(dir: &Path) -> Result<Stats, CgroupError> {
    crate::stats::v1::collect_in(|_| Ok(Some(dir.to_path_buf())), None)
}

/// A `cgroup.procs` listing (what `ps`, `kill --all` and `delete` read).
pub fn procs(text: &str) -> Result<Vec<i32>, CgroupError> {
    crate::procs::parse_procs(Path::new("cgroup.procs"), text)
}
