//! A container under a state root, and the operations on it (one file each).

mod bind_sources;
mod cgroup_ops;
mod create;
pub(crate) mod create_support;
mod delete;
mod exec;
mod exec_defaults;
pub(crate) mod incomplete;
mod kill;
mod netdev;
mod start;
mod stdio;
pub(crate) mod wait;

pub use create::ContainerBuilder;
pub(crate) use create_support::listen_fds;
pub use exec::{ExecOptions, ExecProcess};
pub use stdio::Stdio;
pub(crate) use wait::peek_exit_status;
pub use wait::ExitStatus;

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::error::{Error, Result};
use crate::process::procfs;
use crate::state::{State, Status};
use crate::store::{DirLock, Record, StateRoot, EXEC_FIFO};

/// A container known to a state root.
#[derive(Debug)]
pub struct Container {
    dir: PathBuf,
    record: Record,
    /// The pty master, ONLCR cleared (foreground terminal proxy only).
    console: Option<std::os::fd::OwnedFd>,
    /// The cgroup manager, built on first use (status, kill, delete, stats
    /// each need it; building it reads /proc/self/mountinfo).
    cgroup: std::sync::OnceLock<kiln_cgroups::Manager>,
}

impl Container {
    /// Loads container `id` from `root`.
    pub fn load(root: &StateRoot, id: &str) -> Result<Self> {
        crate::timings::mark("load");
        let dir = root.container_dir(id)?;
        if !dir.is_dir() {
            return Err(Error::NotFound(id.to_string()));
        }
        let record = Record::load(&dir, id)?;
        Ok(Container {
            dir,
            record,
            console: None,
            cgroup: Default::default(),
        })
    }

    /// The pty master of a container created with
    /// [`ContainerBuilder::terminal_proxy`] (once; `None` afterwards or otherwise).
    pub fn take_console(&mut self) -> Result<Option<std::os::fd::OwnedFd>> {
        Ok(self.console.take())
    }

    /// The init's host pid as recorded (alive or not).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn pid_recorded(&self) -> i32 {
        self.record.pid
    }

    /// Gives the container the pty master a helper received for it.
    pub(crate) fn set_console(&mut self, console: Option<std::os::fd::OwnedFd>) {
        self.console = console;
    }

    /// The state root the container lives in (its directory is `<root>/<id>`).
    pub(crate) fn state_root_path(&self) -> PathBuf {
        self.dir
            .parent()
            .map_or_else(|| self.dir.join(".."), Path::to_path_buf)
    }

    /// Locks the container's directory for a state-changing operation.
    fn lock(&self) -> Result<DirLock> {
        DirLock::acquire(&self.dir)
    }

    /// The container id.
    pub fn id(&self) -> &str {
        &self.record.id
    }

    /// The config the container was created from.
    pub fn spec(&self) -> &Spec {
        &self.record.spec
    }

    /// Absolute bundle path.
    pub fn bundle(&self) -> &Path {
        &self.record.bundle
    }

    /// Host pid of the container process while it lives.
    pub fn pid(&self) -> Option<i32> {
        procfs::is_alive(self.record.pid, self.record.pid_start).then_some(self.record.pid)
    }

    /// The container's cgroup manager.
    pub fn cgroup(&self) -> Result<kiln_cgroups::Manager> {
        if let Some(m) = self.cgroup.get() {
            return Ok(m.clone());
        }
        let path = kiln_cgroups::CgroupPath::parse(
            self.record.cgroups_path.as_deref(),
            &self.record.id,
            self.record.systemd_cgroup,
        )?;
        let mut manager =
            kiln_cgroups::Manager::new(path)?.withholding(&self.record.cgroup_withheld);
        if let Some(placed) = &self.record.cgroup_placed {
            manager = manager.placed_at(placed.clone());
        }
        manager.set_created_dirs(self.record.cgroup_created.clone());
        Ok(self.cgroup.get_or_init(|| manager).clone())
    }

    /// The current status, derived from the live system: the init process,
    /// the exec fifo (present until `start`) and the freezer.
    pub fn status(&self) -> Status {
        if self.pid().is_none() {
            return Status::Stopped;
        }
        if self.dir.join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        let frozen = self
            .cgroup()
            .and_then(|m| Ok(m.freezer_state()?))
            .is_ok_and(|s| s == kiln_cgroups::FreezerState::Frozen);
        if frozen {
            Status::Paused
        } else {
            Status::Running
        }
    }

    /// The runc-compatible state document.
    pub fn state(&self) -> State {
        let status = self.status();
        self.state_with(status)
    }

    fn state_with(&self, status: Status) -> State {
        self.record.state(status)
    }

    fn refuse(&self, status: Status, action: &'static str) -> Error {
        Error::WrongStatus {
            id: self.record.id.clone(),
            status,
            action,
        }
    }
}

/// All containers under `root` (ones whose state cannot be read are skipped
/// with a warning, as `runc list` does).
pub fn list(root: &StateRoot) -> Result<Vec<Container>> {
    let mut out = Vec::new();
    for id in root.ids()? {
        match Container::load(root, &id) {
            Ok(c) => out.push(c),
            Err(Error::NotFound(_)) => {}
            Err(e) => log::warn!("skipping {id}: {e}"),
        }
    }
    Ok(out)
}
