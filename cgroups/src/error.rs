//! The crate's error type: every variant names the path, syscall or OCI field involved.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while managing a cgroup.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// `/proc/self/mountinfo` could not be read or shows no usable cgroup mount.
    #[error("detecting the cgroup layout: {0}")]
    Layout(String),

    /// `linux.cgroupsPath` (or the systemd `slice:prefix:name` triple) is malformed.
    #[error("invalid linux.cgroupsPath {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it was rejected.
        reason: String,
    },

    /// The systemd cgroup driver was requested on a host where systemd is not running.
    #[error(
        "the systemd cgroup driver was requested but systemd is not running on this host \
         (/run/systemd/system does not exist); use the cgroupfs driver (no --systemd-cgroup)"
    )]
    SystemdNotRunning,

    /// systemd's manager could not be reached on the bus.
    #[error("the systemd cgroup driver cannot reach systemd over D-Bus: {0}")]
    SystemdBus(#[source] crate::systemd::dbus::DbusError),

    /// systemd refused, failed or did not finish an operation on the container's unit.
    #[error(transparent)]
    SystemdUnit(#[from] crate::systemd::manager::UnitError),

    /// An `org.systemd.property.*` annotation cannot be passed to systemd.
    #[error("annotation {key}: {reason}")]
    SystemdProperty {
        /// The annotation's key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A value in `linux.resources` is invalid or cannot be honoured on this host.
    #[error("{field}: {reason}")]
    InvalidResource {
        /// The OCI field, e.g. `linux.resources.memory.limit`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The kernel refused a value written for an OCI field.
    #[error("{field}: writing {value:?} to {}: {source}", path.display())]
    Apply {
        /// The OCI field being applied.
        field: String,
        /// The cgroup file written.
        path: PathBuf,
        /// The value written.
        value: String,
        /// The kernel's answer.
        source: io::Error,
    },

    /// Reading a cgroup (or proc) file failed.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// Writing a cgroup file failed (outside of applying an OCI field).
    #[error("writing {value:?} to {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The value written.
        value: String,
        /// The underlying error.
        source: io::Error,
    },

    /// A cgroup file had unexpected contents.
    #[error("parsing {}: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was unexpected.
        reason: String,
    },

    /// Creating a cgroup directory failed.
    #[error("creating cgroup directory {}: {source}", path.display())]
    Mkdir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// Removing a cgroup directory failed.
    #[error("removing cgroup directory {}: {source}", path.display())]
    Remove {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// The container's cgroup directory does not exist (not created yet, or already destroyed).
    #[error("cgroup {} does not exist", path.display())]
    NotFound {
        /// The missing directory.
        path: PathBuf,
    },

    /// No hierarchy offers what an operation needs (e.g. no freezer).
    #[error("{operation}: no {controller} controller is available for this cgroup")]
    ControllerMissing {
        /// The operation that needed it.
        operation: &'static str,
        /// The missing controller.
        controller: &'static str,
    },

    /// A system call failed.
    #[error("{syscall} on {}: {source}", target.display())]
    Syscall {
        /// The call, e.g. `bpf(BPF_PROG_ATTACH)`.
        syscall: &'static str,
        /// What it operated on.
        target: PathBuf,
        /// The errno.
        source: io::Error,
    },

    /// The kernel's BPF verifier rejected the generated device program.
    #[error("bpf(BPF_PROG_LOAD) of the device filter for {}: {source}; verifier log: {log}", target.display())]
    BpfLoad {
        /// The cgroup the program was for.
        target: PathBuf,
        /// The errno.
        source: io::Error,
        /// The verifier log (may be empty).
        log: String,
    },

    /// Sending a signal failed.
    #[error("kill({pid}, {signal}): {source}")]
    Signal {
        /// The process.
        pid: i32,
        /// The signal number.
        signal: i32,
        /// The errno.
        source: io::Error,
    },

    /// The cgroup a container is to be created in is already frozen (runc's wording).
    #[error("container's cgroup unexpectedly frozen: {} is {state:?}", path.display())]
    Frozen {
        /// The frozen cgroup directory (the container's, or its nearest existing ancestor).
        path: PathBuf,
        /// Its freezer state.
        state: crate::FreezerState,
    },

    /// The cgroup did not reach the FROZEN state in time (it was thawed again).
    #[error("cgroup {} did not freeze within {waited:?}", path.display())]
    FreezeTimeout {
        /// The freezer directory.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
    },
}

impl CgroupError {
    /// Whether the kernel refused for lack of permission (EACCES, EPERM, or a read-only
    /// cgroup filesystem): what an unprivileged caller meets where it was not delegated.
    pub fn is_permission_denied(&self) -> bool {
        let source = match self {
            Self::Mkdir { source, .. }
            | Self::Write { source, .. }
            | Self::Apply { source, .. }
            | Self::Read { source, .. } => source,
            _ => return false,
        };
        matches!(
            source.raw_os_error(),
            Some(libc::EACCES | libc::EPERM | libc::EROFS)
        )
    }

    /// Builds an [`CgroupError::InvalidResource`] for `field`.
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidResource {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
