//! [`Manager`]: the per-container cgroup handle and its public operations.

use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use oci_spec::runtime::LinuxResources;

use crate::layout::{Layout, Mounts, V1_CONTROLLERS};
use crate::{
    create, freezer, plan, procs, resources, stats, CgroupError, CgroupPath, FreezerState, Stats,
};

/// One distinct mounted hierarchy and the container's directory in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Hierarchy {
    /// The controllers it carries (`["unified"]` for the cgroup2 one).
    pub controllers: Vec<&'static str>,
    /// Mount point.
    pub mount: PathBuf,
    /// The container's directory.
    pub dir: PathBuf,
}

impl Hierarchy {
    /// Whether this is the cgroup2 hierarchy.
    pub(crate) fn is_unified(&self) -> bool {
        self.controllers == ["unified"]
    }
}

/// A container's cgroup across all hierarchies of the host.
///
/// Cheap to construct and clone; clones share the record of directories [`Manager::create`]
/// made, which [`Manager::destroy`] removes again.
#[derive(Clone, Debug)]
pub struct Manager {
    path: CgroupPath,
    rel: PathBuf,
    /// Where systemd's user instance put the scope (its `ControlGroup`), once known: the
    /// cgroup then lives there rather than at `rel`. Shared between clones.
    pub(crate) placed: Arc<std::sync::OnceLock<PathBuf>>,
    /// The host's hierarchies: only mounted cgroup filesystems, never a plain directory.
    mounts: Arc<Mounts>,
    created: Arc<Mutex<Vec<PathBuf>>>,
    /// The systemd driver's bus connection (made on first use), shared between clones.
    pub(crate) bus: Arc<Mutex<Option<crate::systemd::manager::Systemd>>>,
}

impl Manager {
    /// A manager for `path` on this host, finding the hierarchies in `/proc/self/mountinfo`.
    pub fn new(path: CgroupPath) -> Result<Self, CgroupError> {
        Self::with_mounts(path, Mounts::discover()?)
    }

    /// A manager for `path` in the given hierarchies (no I/O; unit tests use fake trees).
    pub(crate) fn with_mounts(path: CgroupPath, mounts: Mounts) -> Result<Self, CgroupError> {
        let rel = path.relative();
        if rel.as_os_str().is_empty() {
            return Err(CgroupError::InvalidPath {
                path: format!("{path:?}"),
                reason: "the root cgroup cannot be a container's cgroup".into(),
            });
        }
        Ok(Self {
            path,
            rel,
            placed: Arc::new(std::sync::OnceLock::new()),
            mounts: Arc::new(mounts),
            created: Arc::new(Mutex::new(Vec::new())),
            bus: Arc::new(Mutex::new(None)),
        })
    }

    /// The cgroup's path relative to each hierarchy's root.
    pub fn relative(&self) -> &Path {
        self.placed.get().unwrap_or(&self.rel)
    }

    fn rel(&self) -> &Path {
        self.relative()
    }

    /// The same cgroup at `relative` (from each hierarchy's root), where systemd's user
    /// instance placed it (recorded at create, see [`Manager::start_unit`]).
    pub fn placed_at(self, relative: PathBuf) -> Manager {
        Manager {
            placed: Arc::new(std::sync::OnceLock::from(relative)),
            ..self
        }
    }

    /// The layout this manager works with.
    pub fn layout(&self) -> Layout {
        self.mounts.layout
    }

    /// The cgroup path it manages.
    pub fn cgroup_path(&self) -> &CgroupPath {
        &self.path
    }

    /// The container's directory in the v1 hierarchy of `controller`, if that is mounted.
    pub(crate) fn v1_dir(&self, controller: &str) -> Option<PathBuf> {
        self.v1_mount(controller).map(|m| m.join(self.rel()))
    }

    /// The mount point of the v1 hierarchy of `controller`, if mounted.
    pub(crate) fn v1_mount(&self, controller: &str) -> Option<PathBuf> {
        self.mounts.v1_mount(controller).map(Path::to_path_buf)
    }

    /// The container's directory in the cgroup2 hierarchy (`None` on pure v1).
    pub(crate) fn unified_dir(&self) -> Option<PathBuf> {
        self.mounts.unified.as_ref().map(|u| u.join(self.rel()))
    }

    /// Distinct mounted hierarchies (co-mounted controllers appear once), the cgroup2 one last.
    pub(crate) fn hierarchies(&self) -> Vec<Hierarchy> {
        let v1 = self.mounts.v1.iter().map(|h| Hierarchy {
            controllers: h.controllers.clone(),
            mount: h.mount.clone(),
            dir: h.mount.join(self.rel()),
        });
        let unified = self.mounts.unified.iter().map(|u| Hierarchy {
            controllers: vec!["unified"],
            mount: u.clone(),
            dir: u.join(self.rel()),
        });
        v1.chain(unified).collect()
    }

    /// Host directories of the container cgroup per hierarchy: `(controller or "unified", dir)`.
    /// Co-mounted controllers are listed under each of their names.
    pub fn paths(&self) -> Vec<(String, PathBuf)> {
        let mut out: Vec<(String, PathBuf)> = V1_CONTROLLERS
            .iter()
            .filter_map(|c| self.v1_dir(c).map(|d| (c.to_string(), d)))
            .collect();
        if let Some(d) = self.unified_dir() {
            out.push(("unified".into(), d));
        }
        out
    }

    /// Directories [`Manager::create`] made (outermost first), shared between clones.
    pub fn created_dirs(&self) -> Vec<PathBuf> {
        self.created.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Tells this manager which directories it created, e.g. from a state file written by
    /// another process, so that [`Manager::destroy`] removes them too.
    pub fn set_created_dirs(&self, dirs: Vec<PathBuf>) {
        if let Ok(mut v) = self.created.lock() {
            *v = dirs;
        }
    }

    /// Creates only the container's cgroup2 directory (pure v2, or the unified
    /// hierarchy of a hybrid host) and opens it for `clone3(CLONE_INTO_CGROUP)`;
    /// `None` on pure v1. Lets a caller clone first and [`Manager::create`] the
    /// rest (and apply limits) while the new process sets up its namespaces.
    pub fn create_for_clone(&self) -> Result<Option<OwnedFd>, CgroupError> {
        if self.is_systemd() {
            return Ok(None); // systemd makes the scope's cgroup, with the init in it
        }
        let Some(h) = self.hierarchies().into_iter().find(Hierarchy::is_unified) else {
            return Ok(None);
        };
        let mut created = self.created.lock().unwrap_or_else(|p| p.into_inner());
        create::create_in(&h, self.rel(), self.layout(), &mut created)?;
        Ok(open_dir_fd(&h.dir).ok())
    }

    /// Creates the cgroup in every hierarchy (and the unified one on hybrid hosts, like runc),
    /// making missing parents. On v1 a new cpuset cgroup gets `cpuset.cpus`/`cpuset.mems`
    /// copied from its parent; on pure v2 every available controller is enabled in the
    /// ancestors' `cgroup.subtree_control`. Records the directories it created. Idempotent.
    pub fn create(&self) -> Result<(), CgroupError> {
        let mut created = self.created.lock().unwrap_or_else(|p| p.into_inner());
        for h in self.hierarchies() {
            create::create_in(&h, self.rel(), self.layout(), &mut created)?;
        }
        Ok(())
    }

    /// For an unprivileged caller (rootless): creates the cgroup in every hierarchy it may
    /// write and returns a manager restricted to those. A hierarchy where creating is refused
    /// (EACCES, EPERM, EROFS) is left out when `skip_refused` is set (no cgroupsPath was
    /// given: runc's rule), and always for the cgroup2 hierarchy of a hybrid host (it carries
    /// no controller a container needs); otherwise the refusal is the error. Resources of a
    /// left-out controller then fail with "could not join or create cgroup".
    pub fn create_unprivileged(&self, skip_refused: bool) -> Result<Manager, CgroupError> {
        let mut mounts = (*self.mounts).clone();
        {
            let mut created = self.created.lock().unwrap_or_else(|p| p.into_inner());
            for h in self.hierarchies() {
                match create::create_in(&h, self.rel(), self.layout(), &mut created) {
                    Ok(()) => {}
                    Err(e)
                        if e.is_permission_denied()
                            && (skip_refused
                                || (h.is_unified() && self.layout() == Layout::Hybrid)) =>
                    {
                        mounts.withhold(&h.mount);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(self.with(mounts))
    }

    /// The same cgroup without any hierarchy: an unprivileged container with no cgroup.
    pub fn without_hierarchies(&self) -> Manager {
        let all: Vec<PathBuf> = self.hierarchies().into_iter().map(|h| h.mount).collect();
        self.withholding(&all)
    }

    /// Mount points of the hierarchies this manager leaves out (to be recorded, and given to
    /// [`Manager::withholding`] when the container is loaded again).
    pub fn withheld(&self) -> Vec<PathBuf> {
        self.mounts
            .withheld
            .iter()
            .map(|(m, _)| m.clone())
            .collect()
    }

    /// This manager without the hierarchies mounted at `mounts`.
    pub fn withholding(&self, mounts: &[PathBuf]) -> Manager {
        let mut m = (*self.mounts).clone();
        for mount in mounts {
            m.withhold(mount);
        }
        self.with(m)
    }

    /// Whether the container has a cgroup in any hierarchy (not so for a rootless
    /// container without one, see [`Manager::without_hierarchies`]).
    pub fn has_hierarchies(&self) -> bool {
        !self.hierarchies().is_empty()
    }

    /// Whether `controller`'s hierarchy is left out (v1 name, or "unified").
    pub(crate) fn is_withheld(&self, controller: &str) -> bool {
        self.mounts.is_withheld(controller)
    }

    fn with(&self, mounts: Mounts) -> Manager {
        Manager {
            path: self.path.clone(),
            rel: self.rel.clone(),
            placed: self.placed.clone(),
            mounts: Arc::new(mounts),
            created: self.created.clone(),
            bus: self.bus.clone(),
        }
    }

    /// Applies every field of `resources`. Everything is validated (values, and that every
    /// file to be written exists) before the first write; the cgroup must exist.
    pub fn apply(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        let res = resources::validate(resources)?;
        if self.is_systemd() {
            self.set_unit_properties(&res)?;
        }
        self.apply_files(&res)
    }

    /// Writes `res` to the cgroup's files.
    pub(crate) fn apply_files(&self, res: &resources::Resources) -> Result<(), CgroupError> {
        if self.layout() == Layout::V2 && self.is_withheld("unified") {
            return self.refuse_withheld_v2(res);
        }
        let plan = match self.layout() {
            Layout::V2 => plan::v2::plan(self.existing_unified_dir()?.as_path(), res)?,
            Layout::V1 | Layout::Hybrid => plan::v1::plan(self, res)?,
        };
        plan.preflight()?;
        plan.execute()
    }

    /// Pure v2 without the (unwritable) hierarchy: fine if nothing is to be set, else an
    /// error naming the first field (runc's wording).
    fn refuse_withheld_v2(&self, res: &resources::Resources) -> Result<(), CgroupError> {
        let nominal = self
            .mounts
            .withheld
            .iter()
            .map(|(m, _)| m.join(self.rel()))
            .next()
            .unwrap_or_default();
        let field = match plan::v2::plan(&nominal, res) {
            Ok(p) if p.writes.is_empty() && p.device_filter.is_none() => return Ok(()),
            Ok(p) => p
                .writes
                .first()
                .map_or_else(|| "linux.resources.devices".into(), |w| w.field.clone()),
            Err(_) => "linux.resources".into(),
        };
        Err(CgroupError::invalid(
            field,
            "cannot set limit: container could not join or create cgroup",
        ))
    }

    fn existing_unified_dir(&self) -> Result<PathBuf, CgroupError> {
        let dir = self.unified_dir().ok_or(CgroupError::ControllerMissing {
            operation: "cgroup v2 access",
            controller: "unified (cgroup2)",
        })?;
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(CgroupError::NotFound { path: dir })
        }
    }

    /// Moves process `pid` into the cgroup in every hierarchy (`cgroup.procs`).
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        procs::add_process(&self.hierarchies(), pid)
    }

    /// The directory whose `cgroup.procs` lists the container's processes.
    fn procs_dir(&self, operation: &'static str) -> Result<PathBuf, CgroupError> {
        let dir = match self.layout() {
            Layout::V2 => self.unified_dir(),
            Layout::V1 | Layout::Hybrid => {
                ["pids", "freezer", "devices", "memory", "cpu", "systemd"]
                    .iter()
                    .find_map(|c| self.v1_dir(c))
                    .or_else(|| self.unified_dir())
            }
        };
        dir.ok_or(CgroupError::ControllerMissing {
            operation,
            controller: "pids/freezer/devices",
        })
    }

    /// Every process in the cgroup and its descendant cgroups.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        procs::pids_recursive(&self.procs_dir("listing processes")?)
    }

    fn freezer(&self, operation: &'static str) -> Result<freezer::Freezer, CgroupError> {
        let v1 = self.v1_dir("freezer").map(freezer::Freezer::V1);
        let v2 = || self.unified_dir().map(freezer::Freezer::V2);
        let f = match self.layout() {
            Layout::V2 => v2(),
            Layout::Hybrid => v1.or_else(v2),
            Layout::V1 => v1,
        };
        f.ok_or(CgroupError::ControllerMissing {
            operation,
            controller: "freezer",
        })
    }

    /// Freezes the cgroup and waits until the kernel reports it FROZEN (v1 `freezer.state`,
    /// v2 `cgroup.freeze` + `frozen 1` in `cgroup.events`).
    pub fn freeze(&self) -> Result<(), CgroupError> {
        self.freezer("freeze")?.freeze()
    }

    /// Thaws the cgroup.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        self.freezer("thaw")?.thaw()
    }

    /// Refuses, like runc, a cgroup that is frozen (or freezing) before the container is
    /// created in it: the init would stop mid-setup and its caller wait forever. Checks the
    /// container's directory or, while that does not exist, its nearest existing ancestor
    /// (a new cgroup inherits a freeze). Only reads: never thaws or removes anything.
    /// Without a freezer nothing can be frozen.
    pub fn ensure_not_frozen(&self) -> Result<(), CgroupError> {
        let freezer = match self.freezer("checking the freezer state") {
            Ok(f) => f,
            Err(CgroupError::ControllerMissing { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let depth = self.rel().components().count();
        let existing = freezer.path().ancestors().take(depth).find(|d| d.is_dir());
        let Some(dir) = existing else {
            return Ok(());
        };
        match freezer.at(dir).state()? {
            FreezerState::Thawed => Ok(()),
            state => Err(CgroupError::Frozen {
                path: dir.to_path_buf(),
                state,
            }),
        }
    }

    /// The current freezer state.
    pub fn freezer_state(&self) -> Result<FreezerState, CgroupError> {
        self.freezer("reading the freezer state")?.state()
    }

    /// Sends `signal` to every process of the cgroup. On v2 with SIGKILL this is a write to
    /// `cgroup.kill`; otherwise the cgroup is frozen, each process signalled, and thawed, so
    /// that no process can fork out of reach meanwhile. With SIGKILL the cgroup and every
    /// sub-cgroup are thawed in the end even if they were frozen before (a paused container):
    /// a frozen process never acts on its SIGKILL. A cgroup that does not exist (any more)
    /// has no processes: that is not an error.
    pub fn kill_all(&self, signal: i32) -> Result<(), CgroupError> {
        if !self.procs_dir("kill_all")?.is_dir() {
            return Ok(());
        }
        if self.layout() == Layout::V2 && signal == libc::SIGKILL {
            if let Some(dir) = self.unified_dir() {
                if procs::cgroup_kill(&dir)? {
                    return Ok(());
                }
            }
        }
        let freezer = self.freezer("kill_all").ok();
        let frozen = freezer.as_ref().is_some_and(|f| f.freeze().is_ok());
        let result = self
            .pids()
            .and_then(|pids| procs::signal_all(&pids, signal));
        match &freezer {
            Some(f) if signal == libc::SIGKILL && f.path().is_dir() => f.thaw_tree()?,
            Some(f) if frozen => f.thaw()?,
            _ => {}
        }
        result
    }

    /// Resource usage statistics, serializing exactly like the `data` of `runc events --stats`.
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        match self.layout() {
            Layout::V2 => stats::v2::collect(&self.existing_unified_dir()?),
            Layout::V1 | Layout::Hybrid => stats::v1::collect(self),
        }
    }

    /// How many times the kernel OOM killer killed a process of this cgroup
    /// (v1 `memory.oom_control` `oom_kill`, v2 `memory.events` `oom_kill`).
    pub fn oom_kill_count(&self) -> Result<u64, CgroupError> {
        let (file, dir) = match self.layout() {
            Layout::V2 => ("memory.events", self.unified_dir()),
            Layout::V1 | Layout::Hybrid => ("memory.oom_control", self.v1_dir("memory")),
        };
        let dir = dir.ok_or(CgroupError::ControllerMissing {
            operation: "reading OOM kills",
            controller: "memory",
        })?;
        let path = dir.join(file);
        let text = crate::fsutil::read(&path)?;
        let map = crate::fsutil::parse_flat_keyed(&path, &text)?;
        Ok(map.get("oom_kill").copied().unwrap_or(0))
    }

    /// Removes the cgroup: the container's directory (and any sub-cgroups inside it) in every
    /// hierarchy, retrying briefly while it is busy, and then the parents [`Manager::create`]
    /// made, if nothing else uses them. A missing directory is fine, so this is idempotent.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        if self.is_systemd() {
            self.stop_unit()?;
        }
        let created = self.created_dirs();
        let mut first_err = None;
        for h in self.hierarchies() {
            if let Err(e) = create::destroy_in(&h, &created) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// On a pure v2 host, an `O_DIRECTORY` descriptor of the container cgroup for
    /// `clone3(CLONE_INTO_CGROUP)`; `None` on other layouts or if it cannot be opened.
    pub fn clone_into_fd(&self) -> Option<OwnedFd> {
        if self.layout() != Layout::V2 || self.is_systemd() {
            return None;
        }
        let dir = self.unified_dir()?;
        open_dir_fd(&dir).ok()
    }
}

fn open_dir_fd(dir: &Path) -> std::io::Result<OwnedFd> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)?;
    Ok(f.into())
}

#[cfg(test)]
#[path = "manager_tests.rs"]
mod tests;
