//! What the program and its helper say to each other, over a sync channel
//! (`Msg::Embed`, JSON): one request, then progress reports and one outcome.

use std::path::PathBuf;

use oci_spec::runtime::Process;
use serde::{Deserialize, Serialize};

use crate::container::{ContainerBuilder, ExecOptions};
use crate::error::Error;

/// Program → helper: the operation to run.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Request {
    /// `log::max_level()` of the program (as a number, 0 = off … 5 = trace).
    pub log_level: u8,
    pub op: Op,
}

/// The operations a helper runs.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Op {
    Create(ContainerBuilder),
    Exec {
        root: PathBuf,
        id: String,
        process: Box<Process>,
        opts: ExecOptions,
    },
}

/// Helper → program.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Report {
    /// The container directory was made by this create: clean it up if the
    /// helper dies from now on.
    Claimed,
    /// A process cloned as the program's child (CLONE_PARENT): the program
    /// reaps it, or kills it if the helper dies before `Done`.
    Adopted(i32),
    /// Success: the container's init or the exec'd process; a pty master
    /// follows as SCM_RIGHTS when `console` is set.
    Done { pid: i32, console: bool },
    /// Failure.
    Failed(WireError),
}

/// An [`Error`] as it crosses the process boundary: the variants a caller
/// matches on keep their shape; the others keep their text and errno.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum WireError {
    Exists(String),
    NotFound(String),
    InvalidId { id: String, reason: String },
    Config { field: String, reason: String },
    Exec { program: String, reason: String },
    Other { message: String, errno: Option<i32> },
}

impl From<&Error> for WireError {
    fn from(e: &Error) -> Self {
        match e {
            Error::Exists(id) => WireError::Exists(id.clone()),
            Error::NotFound(id) => WireError::NotFound(id.clone()),
            Error::InvalidId { id, reason } => WireError::InvalidId {
                id: id.clone(),
                reason: (*reason).to_string(),
            },
            Error::Config { field, reason } => WireError::Config {
                field: field.clone(),
                reason: reason.clone(),
            },
            Error::Exec { program, reason } => WireError::Exec {
                program: program.clone(),
                reason: reason.clone(),
            },
            other => WireError::Other {
                message: other.to_string(),
                errno: other.errno(),
            },
        }
    }
}

impl From<WireError> for Error {
    fn from(w: WireError) -> Self {
        match w {
            WireError::Exists(id) => Error::Exists(id),
            WireError::NotFound(id) => Error::NotFound(id),
            WireError::InvalidId { id, reason } => Error::Helper {
                message: format!("invalid container id {id:?}: {reason}"),
                errno: None,
            },
            WireError::Config { field, reason } => Error::Config { field, reason },
            WireError::Exec { program, reason } => Error::Exec { program, reason },
            WireError::Other { message, errno } => Error::Helper { message, errno },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matched_variants_keep_their_shape_and_others_their_text() {
        let e = Error::config("process.args", "missing");
        let back: Error = WireError::from(&e).into();
        assert!(matches!(&back, Error::Config { field, .. } if field == "process.args"));
        assert_eq!(back.to_string(), e.to_string());
        let e = Error::sys("mount /x", nix::Error::EPERM);
        let back: Error = WireError::from(&e).into();
        assert_eq!(back.to_string(), e.to_string());
        assert_eq!(back.errno(), Some(libc::EPERM));
        let e = Error::InvalidId {
            id: "a/b".into(),
            reason: "contains /",
        };
        assert_eq!(Error::from(WireError::from(&e)).to_string(), e.to_string());
    }
}
