//! Entry points for kiln's fuzz targets (`fuzz/`): the crate's private
//! parsers of outside input, each a thin call into the code kiln runs. Not a
//! stable API.

use std::path::Path;

use crate::container::incomplete::{Recovery, RECOVERY};
use crate::error::Result;
use crate::state::{State, Status};
use crate::store::{Record, STATE_FILE};

pub use crate::process::channel::{packets as sync_packets, Frame as SyncFrame, Msg as SyncMsg};

/// The state the container's own hooks get, from the text `create` sent the
/// init on the sync channel (`HooksDone`) and the init's pid.
pub fn hook_state(text: &str, pid: u32) -> Result<serde_json::Value> {
    crate::hooks::container_state(text, pid)
}

/// A container's `state.json` as [`Container::load`](crate::Container::load)
/// reads it.
#[derive(Debug, PartialEq)]
pub struct StateFile(Record);

impl StateFile {
    /// Parses the bytes of a `state.json`.
    pub fn parse(data: &[u8]) -> Result<Self> {
        Record::parse(data, "fuzz", Path::new(STATE_FILE)).map(StateFile)
    }

    /// The state `kiln state` prints for the container while it runs.
    pub fn state(&self) -> State {
        self.0.state(Status::Running)
    }

    /// The bytes the record is saved as.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.0.to_bytes()
    }
}

/// The `recovery.json` record as `delete --force` reads it: its
/// `cgroupsPath` and `systemdCgroup`.
pub fn recovery_record(data: &[u8]) -> Result<(Option<String>, bool)> {
    let r = Recovery::parse(data, "fuzz", Path::new(RECOVERY))?;
    Ok((r.cgroups_path, r.systemd_cgroup))
}

/// The check of a `uidMappings`/`gidMappings` list at `field`, then the
/// uid_map/gid_map text kiln writes for it.
pub fn id_mappings(field: &str, maps: &[oci_spec::runtime::LinuxIdMapping]) -> Result<String> {
    crate::validate::id_map::check(field, maps)?;
    Ok(crate::validate::id_map::text(maps))
}

/// `mounts[].options` as the rootfs code reads them (`Debug` of the parsed
/// options) and the data string passed to mount(2).
pub fn mount_options(words: &[String]) -> (String, Option<String>) {
    let o = crate::rootfs::options::parse(words);
    (format!("{o:?}"), o.data_string())
}

/// A CPU list of `process.execCPUAffinity` (`0-3,7`).
pub fn cpu_list(list: &str) -> Result<Vec<usize>> {
    crate::init::sched::parse_cpu_list("process.execCPUAffinity", list)
}
