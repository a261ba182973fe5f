//! The library's error type.

use std::path::PathBuf;

mod init_error;

pub use init_error::InitError;

/// Result alias used throughout kiln-libcontainer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while creating or operating a container.
///
/// Every variant carries enough context (a path, a syscall, a JSON field) for
/// the message alone to tell a user what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The container id is not acceptable.
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId {
        /// The id given.
        id: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The bundle directory or its rootfs cannot be used.
    #[error("bundle {path}: {reason}")]
    Bundle {
        /// The bundle path (or config.json / rootfs inside it).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An option given to kiln (a flag, or a builder setting) has a value it cannot use.
    #[error("{option}: {reason}")]
    InvalidOption {
        /// The option, e.g. `--rootless`.
        option: &'static str,
        /// What is wrong with the value.
        reason: String,
    },
    /// The state root cannot be used.
    #[error("state root {path}: {reason}")]
    StateRoot {
        /// The state root's path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A field of config.json is invalid; `field` is its JSON path.
    #[error("config.json: {field}: {reason}")]
    Config {
        /// JSON path of the field, e.g. `linux.namespaces[2].type`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A container with this id already exists under the state root.
    #[error("container {0:?} already exists")]
    Exists(String),
    /// No container with this id exists under the state root.
    #[error("container {0:?} does not exist")]
    NotFound(String),
    /// The operation is not allowed in the container's current status.
    #[error("container {id:?} is {status}: {action}")]
    WrongStatus {
        /// Container id.
        id: String,
        /// Its current status.
        status: crate::Status,
        /// What was refused, e.g. `cannot start a container that is not created`.
        action: &'static str,
    },
    /// A filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation (open, write, mkdir…).
        op: &'static str,
        /// The path it was applied to.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A system call failed.
    #[error("{call}: {source}")]
    Sys {
        /// The syscall and what it was for.
        call: String,
        /// The errno.
        source: nix::Error,
    },
    /// The state file of a container is unreadable or corrupt.
    #[error("state of container {id:?}: {reason}")]
    State {
        /// Container id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// A lifecycle hook failed.
    #[error("error running {kind} hook #{index}: {path}: {reason}")]
    Hook {
        /// prestart, createRuntime, …
        kind: &'static str,
        /// Position of the hook in its list (from 0, as runc counts).
        index: usize,
        /// The hook's path.
        path: PathBuf,
        /// Exit status, signal, timeout or spawn error.
        reason: String,
    },
    /// execve of the user program failed (runc's wording: `exec /x: no such file or directory`).
    #[error("exec {program}: {reason}")]
    Exec {
        /// `process.args[0]` as given.
        program: String,
        /// The errno's text, lower-case as Go prints it.
        reason: String,
        /// The errno.
        errno: nix::Error,
    },
    /// The container's init (or an exec'd process, before it executed its
    /// program) reported an error while setting up: which step failed, the
    /// config.json field and the errno when known (see [`InitError`]).
    #[error("container init: {0}")]
    InitFailed(InitError),
    /// kiln could not run from a read-only view of its own binary (CVE-2019-5736).
    #[error("protecting the kiln binary (CVE-2019-5736): {0}")]
    ExeGuard(String),
    /// A command kiln does not implement (checkpoint, restore).
    #[error("{0} is not supported by kiln (it has no CRIU support)")]
    Unsupported(&'static str),
    /// The container init process exited or broke the sync protocol.
    #[error("container init died unexpectedly: {0}")]
    InitDied(String),
    /// The container's init did not exit after SIGKILL.
    #[error("container {id:?}: its init (pid {pid}) still runs {waited:?} after SIGKILL")]
    StillRunning {
        /// Container id.
        id: String,
        /// Host pid of the init.
        pid: i32,
        /// How long kiln waited.
        waited: std::time::Duration,
    },
    /// Creating a container needs a single-threaded caller (fork safety).
    #[error("kiln-libcontainer must create containers from a single-threaded process (found {0} threads)")]
    MultiThreaded(usize),
    /// The program did not call [`crate::init`](fn@crate::init) first thing in `main`, so it cannot start the
    /// helper that creates containers and execs into them (see [`crate::embed`]).
    #[error(
        "kiln_libcontainer::init() was not called first thing in main(): it is needed to \
         create containers or exec into them from this program (see kiln_libcontainer::embed)"
    )]
    NotInitialised,
    /// An error reported by the helper process that ran `create` or `exec` for this
    /// program (see [`crate::embed`]), with its text and errno where it had one.
    #[error("{message}")]
    Helper {
        /// The error as the helper printed it.
        message: String,
        /// Its errno, when it came from a system call.
        errno: Option<i32>,
    },
    /// An unprivileged caller may not create the container's cgroup (runc's wording).
    #[error(
        "unable to apply cgroup configuration: mkdir {path}: permission denied \
         (rootless: linux.cgroupsPath must name a cgroup this user may write)"
    )]
    CgroupDenied {
        /// The directory that could not be made.
        path: PathBuf,
    },
    /// A cgroup operation failed.
    #[error(transparent)]
    Cgroup(#[from] kiln_cgroups::CgroupError),
    /// Compiling or loading the seccomp filter failed.
    #[error(transparent)]
    Seccomp(#[from] kiln_seccomp::SeccompError),
    /// Setting up or proxying the container's terminal failed.
    #[error(transparent)]
    Tty(#[from] crate::tty::TtyError),
    /// Preparing the root filesystem failed.
    #[error(transparent)]
    Rootfs(#[from] crate::rootfs::RootfsError),
    /// A file below /proc was not what it must be, or could not be opened safely
    /// (CVE-2025-52881).
    #[error(transparent)]
    Procfs(#[from] crate::process::proc_root::ProcfsError),
}

impl Error {
    /// The errno behind this error, when it came from a system call or file operation.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Sys { source, .. } => Some(*source as i32),
            Error::Io { source, .. } => source.raw_os_error(),
            Error::Helper { errno, .. } => *errno,
            Error::Exec { errno, .. } => Some(*errno as i32),
            Error::InitFailed(e) => e.errno(),
            _ => None,
        }
    }

    /// Shorthand for an [`Error::Sys`].
    pub(crate) fn sys(call: impl Into<String>, source: nix::Error) -> Self {
        Error::Sys {
            call: call.into(),
            source,
        }
    }

    /// Shorthand for an [`Error::Io`].
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Shorthand for an [`Error::Config`].
    pub(crate) fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
