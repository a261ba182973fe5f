//! Entry points for kiln's fuzz targets (`fuzz/`): the crate's private
//! parsers of outside input, each a thin call into the code kiln runs. Not a
//! stable API.

use std::path::Path;

use crate::container::incomplete::{Recovery, RECOVERY};
use crate::error::{Error, Result};
use crate::state::{State, Status};
use crate::store::{Record, STATE_FILE};

pub use crate::process::channel::{packets as sync_packets, Frame as SyncFrame};
pub use crate::process::protocol::{FromExec, FromInit, LogEntry, ToExec, ToInit};

/// A message of any type of the create/exec protocol, as a receiver that
/// expects the type its kind names decodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncMsg {
    /// `create` → init.
    ToInit(ToInit),
    /// Init → `create`.
    FromInit(FromInit),
    /// `exec` → helper and process.
    ToExec(ToExec),
    /// Helper and process → `exec`.
    FromExec(FromExec),
    /// Any child → the runtime.
    Log(LogEntry),
}

impl SyncMsg {
    /// The message a received frame's `(kind, payload)` carries.
    pub fn decode(kind: u8, payload: &[u8]) -> Result<Self> {
        use crate::process::protocol::{decode, Message};
        Ok(match kind {
            ToInit::KIND => SyncMsg::ToInit(decode(kind, payload)?),
            FromInit::KIND => SyncMsg::FromInit(decode(kind, payload)?),
            ToExec::KIND => SyncMsg::ToExec(decode(kind, payload)?),
            FromExec::KIND => SyncMsg::FromExec(decode(kind, payload)?),
            LogEntry::KIND => SyncMsg::Log(decode(kind, payload)?),
            _ => return Err(Error::InitDied(format!("unknown message kind {kind}"))),
        })
    }

    /// The packets the message is sent as.
    pub fn packets(&self) -> Result<Vec<Vec<u8>>> {
        use crate::process::protocol::encode;
        let (kind, payload) = match self {
            SyncMsg::ToInit(m) => encode(m)?,
            SyncMsg::FromInit(m) => encode(m)?,
            SyncMsg::ToExec(m) => encode(m)?,
            SyncMsg::FromExec(m) => encode(m)?,
            SyncMsg::Log(m) => encode(m)?,
        };
        sync_packets(kind, &payload)
    }
}

/// The state the container's own hooks get, from the state `create` sent the
/// init on the sync channel (`HooksDone`, here as JSON text) and the init's pid.
pub fn hook_state(text: &str, pid: u32) -> Result<serde_json::Value> {
    let state: State = serde_json::from_str(text)
        .map_err(|e| Error::InitDied(format!("container state from create: {e}")))?;
    Ok(crate::hooks::container_state(&state, pid))
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
