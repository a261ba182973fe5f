//! Init step "cgroup": the init moves itself into the container's cgroups.
//!
//! Moving another process into a cgroup v1 hierarchy (writing its pid to
//! `cgroup.procs`) takes the kernel's global threadgroup lock for writing,
//! which waits for an RCU grace period: ~8–10 ms on this class of machine,
//! more than everything else `run` does. A single-threaded process that moves
//! *itself* by writing `0` to `tasks` skips that lock, so the init joins its
//! v1 cgroups on its own (47 µs for all of them). The cgroup v2 hierarchy
//! (pure v2, or the unified one of a hybrid host) is joined at clone time
//! with CLONE_INTO_CGROUP, which does not take the lock either.
//!
//! In a new user namespace the init cannot write the host's cgroup files;
//! there the parent moves it with [`kiln_cgroups::Manager::add_process`].
//! Under the systemd driver the parent has systemd start the container's
//! scope with the init in it ([`kiln_cgroups::Manager::start_unit`]).

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// How the init gets into its cgroups.
#[derive(Debug, Default)]
pub(crate) struct CgroupJoin {
    /// v1 `tasks` files the init writes `0` to itself (empty: the parent joins it).
    pub tasks: Vec<PathBuf>,
    /// cgroup2 directory for CLONE_INTO_CGROUP.
    pub clone_into: Option<OwnedFd>,
    /// Whether the parent must call `add_process` (new user namespace).
    pub by_parent: bool,
    /// systemd driver: the parent starts the scope unit (with these extra properties) with
    /// the init in it, instead of creating the cgroup and joining it.
    pub unit: Option<kiln_cgroups::SystemdProperties>,
}

impl CgroupJoin {
    /// Plans the join for `manager`'s directories.
    pub(crate) fn plan(
        manager: &kiln_cgroups::Manager,
        new_user_ns: bool,
        unit: Option<kiln_cgroups::SystemdProperties>,
    ) -> Self {
        if unit.is_some() {
            return CgroupJoin {
                unit,
                ..Default::default()
            };
        }
        if new_user_ns {
            return CgroupJoin {
                by_parent: true,
                ..Default::default()
            };
        }
        let mut join = CgroupJoin::default();
        for (name, dir) in manager.paths() {
            if name == "unified" {
                continue;
            }
            let tasks = dir.join("tasks");
            if !join.tasks.contains(&tasks) {
                join.tasks.push(tasks);
            }
        }
        join
    }

    /// Creates the cgroup2 directory the init is cloned into (the rest of the
    /// cgroup is created while the init sets up its namespaces).
    pub(crate) fn prepare_clone(&mut self, manager: &kiln_cgroups::Manager) -> Result<()> {
        if !self.by_parent && self.unit.is_none() {
            self.clone_into = manager.create_for_clone()?;
        }
        Ok(())
    }
}

/// In the init: moves this (single-threaded) process into each v1 cgroup.
/// `tasks` is opened without O_CREAT: a missing file means the directory is no cgroup,
/// and nothing may be created there.
pub(crate) fn self_join(tasks: &[PathBuf]) -> Result<()> {
    use std::io::Write as _;
    for path in tasks {
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut f| f.write_all(b"0"))
            .map_err(|e| Error::io("join cgroup (write 0 to)", path, e))?;
    }
    Ok(())
}
