//! Containers whose `create` never finished (it was killed, or the machine
//! crashed): the state directory exists, `state.json` does not. `create`
//! writes [`CREATING`] first, naming the cgroup before it is made, so that
//! `delete --force` can remove whatever was left: processes in that cgroup
//! (an init cloned by a slow-path create, which does not die with `create`),
//! the cgroup and the directory.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Container;
use crate::error::{Error, Result};
use crate::store::{write_atomic, DirLock, StateRoot};

/// The marker file in the state directory while `create` runs.
pub(crate) const CREATING: &str = "creating.json";

/// What `create` is about to make, recorded before it makes it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Creating {
    /// `linux.cgroupsPath` as given.
    pub cgroups_path: Option<String>,
    /// `--systemd-cgroup`.
    pub systemd_cgroup: bool,
}

impl Creating {
    /// Writes the marker into the container directory `dir`.
    pub(crate) fn save(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_vec(self)
            .map_err(|e| Error::InitDied(format!("encode {CREATING}: {e}")))?;
        write_atomic(&dir.join(CREATING), &text, 0o600)
    }
}

impl Container {
    /// `delete --force` of a container whose `create` never finished: kills
    /// what runs in its cgroup, removes the cgroup (if `create` got as far as
    /// naming it) and the state directory. Fine if nothing is there.
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
            return Container::load(root, id)?.delete(true);
        }
        if let Some(creating) = read_marker(&dir, id)? {
            let path = kiln_cgroups::CgroupPath::parse(
                creating.cgroups_path.as_deref(),
                id,
                creating.systemd_cgroup,
            )?;
            super::cgroup_ops::kill_and_remove(&kiln_cgroups::Manager::new(path)?)?;
        }
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io("remove", &dir, e))
    }
}

fn read_marker(dir: &Path, id: &str) -> Result<Option<Creating>> {
    let path = dir.join(CREATING);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::State {
                id: id.to_string(),
                reason: format!("{CREATING}: {e}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", &path, e)),
    }
}
