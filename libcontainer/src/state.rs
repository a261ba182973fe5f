//! Container status and the runc-compatible state document.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The runtime-spec status of a container (runtime.md "State"), plus runc's `paused`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// `create` is still setting the container up.
    Creating,
    /// Set up; the user program has not been started.
    Created,
    /// The user program is running.
    Running,
    /// All processes of the container are frozen.
    Paused,
    /// The container process has exited.
    Stopped,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// The state document `kiln state` prints: the same fields, in the same
/// order, as `runc state` (engines parse it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// runtime-spec version the state complies with.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Host pid of the container process; 0 once stopped.
    pub pid: i32,
    /// Current status.
    pub status: Status,
    /// Absolute path of the bundle.
    pub bundle: PathBuf,
    /// Absolute path of the root filesystem.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339 with nanoseconds.
    pub created: String,
    /// Annotations from config.json.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    /// Owner of the container (user name), as runc reports it.
    pub owner: String,
}

impl State {
    /// The state as runtime-spec hooks and seccomp agents receive it
    /// (runtime.md "State": ociVersion, id, status, pid, bundle, annotations).
    pub fn to_spec_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": self.status,
            "bundle": self.bundle,
        });
        if self.pid > 0 {
            v["pid"] = self.pid.into();
        }
        if !self.annotations.is_empty() {
            v["annotations"] = serde_json::to_value(&self.annotations).unwrap_or_default();
        }
        v
    }
}

/// The runtime-spec version kiln implements.
pub const OCI_VERSION: &str = "1.2.0";
