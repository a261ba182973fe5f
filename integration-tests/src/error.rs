//! The error type of the test library.

use std::path::PathBuf;

/// What went wrong while preparing or driving a test container.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// The operation, e.g. "create directory".
        what: &'static str,
        /// The path it acted on.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A system call failed.
    #[error("{call} ({context}): {source}")]
    Sys {
        /// The system call.
        call: &'static str,
        /// What it acted on.
        context: String,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// busybox could not be found or used.
    #[error("busybox: {0}")]
    Busybox(String),
    /// A program could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The runtime binary under test does not exist.
    #[error("runtime binary {0} not found: run `cargo build -p kiln` or set KILN_BIN")]
    MissingRuntime(PathBuf),
    /// A wait exceeded its (generous) deadline.
    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The deadline in seconds.
        seconds: u64,
    },
    /// JSON could not be written or parsed.
    #[error("JSON of {what}: {source}")]
    Json {
        /// Which document.
        what: String,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Builds the [`Error::Io`] mapper for `what` on `path`.
pub(crate) fn io_err(
    what: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { what, path, source }
}
