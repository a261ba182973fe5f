//! The error type of the rootfs module, and the small plumbing that attaches
//! "which config entry" context to a failed syscall.

use std::path::{Path, PathBuf};

use nix::errno::Errno;

/// Why setting up the container's root filesystem failed.
///
/// Every variant names the config entry it was working on (`context`, e.g.
/// `mounts[3] (/proc)` or `linux.devices[0] (/dev/fuse)`), so the message alone
/// tells the user which part of `config.json` to look at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RootfsError {
    /// A system call failed.
    #[error("{context}: {syscall}{}: {errno}", show_path(.path))]
    Syscall {
        /// The config entry (or setup phase) being processed.
        context: String,
        /// The failing operation, e.g. `mount proc` or `mkdirat`.
        syscall: String,
        /// The path it operated on (container paths are shown as seen from the container).
        path: Option<PathBuf>,
        /// The kernel's error.
        #[source]
        errno: Errno,
    },
    /// The configuration asks for something impossible or malformed.
    #[error("{context}: {reason}")]
    InvalidConfig {
        /// The offending config entry.
        context: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The configuration asks for a feature kiln does not implement.
    #[error("{context}: {feature} is not supported")]
    Unsupported {
        /// The offending config entry.
        context: String,
        /// The unsupported feature.
        feature: String,
    },
    /// A file kiln binds or mounts onto something is not what it must be (it
    /// was replaced by a symlink, a regular file or another device); nothing
    /// was mounted (CVE-2025-31133).
    #[error("{context}: {path} is {found}, not {expected}: refusing to use it")]
    Unexpected {
        /// The config entry being processed.
        context: String,
        /// The path, as seen from the container.
        path: PathBuf,
        /// What it is.
        found: String,
        /// What it must be.
        expected: &'static str,
    },
    /// Reading a kernel information file (e.g. `/proc/self/mountinfo`) failed.
    #[error("{context}: reading {path}: {source}")]
    Io {
        /// The setup phase.
        context: String,
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl RootfsError {
    /// The kernel error behind this failure, if it was a failed system call.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Self::Syscall { errno, .. } => Some(*errno),
            Self::Io { source, .. } => source.raw_os_error().map(Errno::from_raw),
            _ => None,
        }
    }

    pub(crate) fn invalid(context: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidConfig {
            context: context.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(context: impl Into<String>, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            path: path.to_path_buf(),
            source,
        }
    }
}

fn show_path(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!(" {}", p.display()),
        None => String::new(),
    }
}

/// A failed syscall that does not yet know which config entry it belongs to.
#[derive(Debug)]
pub(crate) struct SysError {
    pub(crate) syscall: String,
    pub(crate) path: Option<PathBuf>,
    pub(crate) errno: Errno,
}

impl SysError {
    /// A failure of `syscall` on `path`.
    pub(crate) fn new(syscall: impl Into<String>, path: impl AsRef<Path>, errno: Errno) -> Self {
        Self {
            syscall: syscall.into(),
            path: Some(path.as_ref().to_path_buf()),
            errno,
        }
    }

    /// A failure of `syscall` that is not about a particular path.
    pub(crate) fn bare(syscall: impl Into<String>, errno: Errno) -> Self {
        Self {
            syscall: syscall.into(),
            path: None,
            errno,
        }
    }

    /// Attaches the config entry being processed.
    pub(crate) fn within(self, context: impl Into<String>) -> RootfsError {
        RootfsError::Syscall {
            context: context.into(),
            syscall: self.syscall,
            path: self.path,
            errno: self.errno,
        }
    }
}

/// `result.ctx(|| "mounts[3] (/proc)")` turns a [`SysError`] into a [`RootfsError`].
pub(crate) trait Context<T> {
    /// Attaches the context computed by `f` to an error.
    fn ctx<C: Into<String>>(self, f: impl FnOnce() -> C) -> Result<T, RootfsError>;
}

impl<T> Context<T> for Result<T, SysError> {
    fn ctx<C: Into<String>>(self, f: impl FnOnce() -> C) -> Result<T, RootfsError> {
        self.map_err(|e| e.within(f()))
    }
}

/// Shorthand for results of the low-level helpers.
pub(crate) type SysResult<T> = Result<T, SysError>;
