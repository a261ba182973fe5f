//! The crate's error type.

use std::path::PathBuf;

use nix::errno::Errno;

/// Everything that can go wrong while translating, caching, loading or handing over a seccomp filter.
///
/// Profile errors name the offending entry the way it is spelled in `config.json`,
/// e.g. `linux.seccomp.syscalls[3].args[0].op`.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The profile is invalid: `field` names the entry, `reason` says what is wrong with it.
    #[error("{field}: {reason}")]
    Invalid {
        /// The JSON path of the offending entry.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// libseccomp refused a part of the profile.
    #[error("{field}: libseccomp {op}: {source}")]
    Libseccomp {
        /// The JSON path of the entry being translated.
        field: String,
        /// The libseccomp operation that failed.
        op: &'static str,
        /// The libseccomp error.
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// Exporting the BPF program from libseccomp failed.
    #[error("exporting the seccomp BPF program: {op}: {source}")]
    Export {
        /// The step that failed.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The compiled program is larger than the kernel accepts in one filter.
    #[error("the seccomp filter has {instructions} BPF instructions, the kernel accepts at most {limit}")]
    TooLarge {
        /// Instructions in the program.
        instructions: usize,
        /// The kernel limit (`BPF_MAXINSNS`).
        limit: usize,
    },
    /// `seccomp(SECCOMP_SET_MODE_FILTER)` failed (carries no heap data: built after fork).
    #[error("seccomp(SECCOMP_SET_MODE_FILTER, flags {flags:#x}): {errno}")]
    Load {
        /// The seccomp(2) flags that were passed.
        flags: u32,
        /// The errno the kernel returned.
        errno: Errno,
    },
    /// `SECCOMP_FILTER_FLAG_TSYNC` could not synchronize another thread of the process.
    #[error("seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC): thread {tid} could not be synchronized")]
    TsyncFailed {
        /// The thread the kernel reported.
        tid: i64,
    },
    /// Reading or writing the compiled-filter cache failed.
    #[error("seccomp filter cache {path}: {op}: {source}")]
    Cache {
        /// The cache directory or entry.
        path: PathBuf,
        /// The step that failed.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Talking to the seccomp agent at `listenerPath` failed.
    #[error("seccomp listener {path}: {op}: {source}")]
    Listener {
        /// The agent's socket path.
        path: PathBuf,
        /// The step that failed.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl SeccompError {
    /// Shorthand for [`SeccompError::Invalid`].
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
