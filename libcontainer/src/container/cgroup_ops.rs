//! Operations that act on the container's cgroup: pause, resume, update,
//! statistics, the list of its processes, and removing it.

use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use super::Container;
use crate::error::{Error, Result};
use crate::state::Status;

/// Kills whatever still runs in `cgroup` (freeze, SIGKILL, thaw; again until
/// it is empty, at most 10 s) and removes it. One piece for `delete`, the undo
/// of a failed `create`, and `delete -f` of a create that was killed. A cgroup
/// that was never made (or is gone) is fine.
pub(super) fn kill_and_remove(cgroup: &kiln_cgroups::Manager) -> Result<()> {
    if !cgroup.has_hierarchies() {
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match cgroup.pids() {
            Ok(p) if p.is_empty() => break,
            Ok(_) => cgroup.kill_all(libc::SIGKILL)?,
            Err(kiln_cgroups::CgroupError::NotFound { .. }) => break,
            Err(e) => return Err(e.into()),
        }
        if Instant::now() > deadline {
            return Err(Error::InitDied(
                "processes of the container's cgroup survive SIGKILL".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(cgroup.destroy()?)
}

impl Container {
    /// Freezes every process of a running container (`kiln pause`).
    pub fn pause(&self) -> Result<()> {
        let _lock = self.lock()?;
        let status = self.status();
        if status != Status::Running {
            return Err(self.refuse(status, "cannot pause a container that is not running"));
        }
        Ok(self.cgroup()?.freeze()?)
    }

    /// Thaws a paused container (`kiln resume`).
    pub fn resume(&self) -> Result<()> {
        let _lock = self.lock()?;
        let status = self.status();
        if status != Status::Paused {
            return Err(self.refuse(status, "cannot resume a container that is not paused"));
        }
        Ok(self.cgroup()?.thaw()?)
    }

    /// Resource usage of the container's cgroup.
    pub fn stats(&self) -> Result<kiln_cgroups::Stats> {
        let status = self.status();
        if status == Status::Stopped {
            return Err(self.refuse(status, "container not running"));
        }
        Ok(self.cgroup()?.stats()?)
    }

    /// Number of OOM kills in the container's cgroup so far.
    pub fn oom_kill_count(&self) -> Result<u64> {
        Ok(self.cgroup()?.oom_kill_count()?)
    }

    /// Host pids of every process in the container: those of its cgroup, or for a rootless
    /// container without one, its init and the init's descendants.
    pub fn processes(&self) -> Result<Vec<i32>> {
        let cgroup = self.cgroup()?;
        if cgroup.has_hierarchies() {
            return Ok(cgroup.pids()?);
        }
        Ok(self
            .pid()
            .map(crate::process::procfs::descendants_and_self)
            .unwrap_or_default())
    }

    /// The resources currently configured (config.json plus later updates).
    pub fn resources(&self) -> LinuxResources {
        self.record
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.resources().clone())
            .unwrap_or_default()
    }

    /// Applies new resource limits to a live container (`kiln update`) and
    /// records them. Device rules are not changed by an update.
    pub fn update(&mut self, mut resources: LinuxResources) -> Result<()> {
        let _lock = self.lock()?;
        let status = self.status();
        if status == Status::Stopped {
            return Err(self.refuse(status, "cannot update a stopped container"));
        }
        let devices = self.resources().devices().clone();
        resources.set_devices(None);
        self.cgroup()?.apply(&resources)?;
        resources.set_devices(devices);
        if let Some(linux) = self.record.spec.linux_mut() {
            linux.set_resources(Some(resources));
        }
        self.record.save(&self.dir)
    }
}
