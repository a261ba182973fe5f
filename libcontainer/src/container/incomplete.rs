//! Containers `delete --force` must remove although their state cannot be
//! loaded: `create` never finished (it was killed, or the machine crashed:
//! the state directory exists, `state.json` does not), or `state.json` was
//! damaged. `create` writes [`RECOVERY`] first, naming the cgroup before it
//! is made, and keeps it for the container's life, so that `delete --force`
//! can always remove what is there: the processes in that cgroup, the cgroup
//! and the directory.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Container;
use crate::error::{Error, Result};
use crate::store::{write_atomic, DirLock, StateRoot};

/// The recovery record in the state directory.
pub(crate) const RECOVERY: &str = "recovery.json";

/// What `create` is about to make, recorded before it makes it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Recovery {
    /// `linux.cgroupsPath` as given.
    pub cgroups_path: Option<String>,
    /// `--systemd-cgroup`.
    pub systemd_cgroup: bool,
    /// Rootless without a cgroupsPath: the container has no cgroup (the path above is
    /// kiln's default, which may be another user's container's: never touched).
    #[serde(default)]
    pub no_cgroup: bool,
    /// systemd driver: the unit was started by this container. Until then a unit of that
    /// name is someone else's (a second container given a running one's `cgroupsPath`) and
    /// is never stopped; a unit started by a create killed before this was recorded empties
    /// when its init dies with the create, and systemd removes it.
    #[serde(default)]
    pub unit_started: bool,
}

impl Recovery {
    /// Parses the bytes of `path`, container `id`'s recovery record.
    pub(crate) fn parse(bytes: &[u8], id: &str, path: &Path) -> Result<Self> {
        crate::json::from_slice(bytes).map_err(|e| Error::State {
            id: id.to_string(),
            reason: format!("{}: {e}", path.display()),
        })
    }

    /// Writes the record into the container directory `dir`.
    pub(crate) fn save(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_vec(self)
            .map_err(|e| Error::InitDied(format!("encode {RECOVERY}: {e}")))?;
        write_atomic(&dir.join(RECOVERY), &text, 0o600)
    }
}

impl Container {
    /// `delete --force` of a container whose state cannot be loaded (see the
    /// module docs): kills what runs in its cgroup, removes the cgroup (if
    /// `create` got as far as naming it) and the state directory. Fine if
    /// nothing is there.
    pub fn delete_incomplete(root: &StateRoot, id: &str) -> Result<()> {
        let dir = root.container_dir(id)?;
        if !dir.is_dir() {
            return Ok(());
        }
        // The lock of a killed create was released with its last holder; a
        // create still running holds it until it has finished.
        let lock = DirLock::acquire(&dir)?;
        if dir.join(crate::store::STATE_FILE).exists() {
            drop(lock);
            match Container::load(root, id) {
                Ok(c) => return c.delete(true),
                Err(e @ Error::State { .. }) => {
                    log::warn!("{e}; removing what {RECOVERY} names");
                }
                Err(e) => return Err(e),
            }
        }
        let ours = |r: &Recovery| !r.no_cgroup && (!r.systemd_cgroup || r.unit_started);
        if let Some(recovery) = read_record(&dir, id)?.filter(ours) {
            let path = kiln_cgroups::CgroupPath::parse(
                recovery.cgroups_path.as_deref(),
                id,
                recovery.systemd_cgroup,
            )?;
            super::cgroup_ops::kill_and_remove(&kiln_cgroups::Manager::new(path)?)?;
        }
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io("remove", &dir, e))
    }
}

fn read_record(dir: &Path, id: &str) -> Result<Option<Recovery>> {
    let path = dir.join(RECOVERY);
    match std::fs::read(&path) {
        Ok(bytes) => Recovery::parse(&bytes, id, &path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", &path, e)),
    }
}
