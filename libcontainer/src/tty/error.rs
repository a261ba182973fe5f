//! The error type of the terminal module.

use std::path::PathBuf;

/// Everything that can go wrong while allocating, passing or proxying a
/// container's terminal. Every variant names the syscall and, where there is
/// one, the path it was applied to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TtyError {
    /// A system call on a file descriptor failed.
    #[error("{call}: {source}")]
    Sys {
        /// The syscall and what it was applied to, e.g. `ioctl TIOCSCTTY on /dev/pts/3`.
        call: String,
        /// The errno.
        source: nix::Error,
    },
    /// A system call on a path failed.
    #[error("{call} {path}: {source}")]
    Path {
        /// The syscall (open, connect, mount…).
        call: &'static str,
        /// The path it was applied to.
        path: PathBuf,
        /// The errno.
        source: nix::Error,
    },
    /// A file the console setup relies on is not what it must be: the pty
    /// slave is not one, or `/dev/console` is a symlink, a directory or
    /// another device (CVE-2025-52565). Nothing was mounted over it.
    #[error("{path} is {found}, not {expected}: refusing to use it")]
    Unexpected {
        /// The path (or pty name).
        path: PathBuf,
        /// What it is.
        found: String,
        /// What it must be.
        expected: &'static str,
    },
    /// The console socket closed (or sent no file descriptor) before a pty
    /// master arrived: the container init failed before allocating its pty.
    #[error("console socket: {0}")]
    NoMaster(&'static str),
    /// A file descriptor that must be a terminal is not one.
    #[error("{0} is not a terminal")]
    NotATerminal(&'static str),
    /// `process.consoleSize` does not fit a terminal's 16-bit rows/columns.
    #[error("process.consoleSize: {height}x{width} does not fit in 16 bits")]
    ConsoleSize {
        /// The requested height (rows).
        height: u64,
        /// The requested width (columns).
        width: u64,
    },
    /// `process.terminal`, `--console-socket` and detaching do not fit
    /// together; the text is runc's.
    #[error("{0}")]
    Options(&'static str),
}

impl TtyError {
    /// A failed syscall on a file descriptor.
    pub(crate) fn sys(call: impl Into<String>, source: nix::Error) -> Self {
        TtyError::Sys {
            call: call.into(),
            source,
        }
    }

    /// A failed syscall on a path.
    pub(crate) fn path(call: &'static str, path: impl Into<PathBuf>, source: nix::Error) -> Self {
        TtyError::Path {
            call,
            path: path.into(),
            source,
        }
    }
}

/// Result alias of the terminal module.
pub type Result<T, E = TtyError> = std::result::Result<T, E>;
