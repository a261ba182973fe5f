//! How an error crosses from a kiln helper to the program (the messages are
//! `ToHelper`/`FromHelper` in `process::protocol`).

use serde::{Deserialize, Serialize};

use crate::error::{Error, InitError};

/// An [`Error`] as it crosses the process boundary: the variants a caller
/// matches on keep their shape; the others keep their text and errno.
#[derive(Debug, Serialize, Deserialize)]
pub enum WireError {
    Exists(String),
    NotFound(String),
    InvalidId {
        id: String,
        reason: String,
    },
    Config {
        field: String,
        reason: String,
    },
    Exec {
        program: String,
        reason: String,
        errno: i32,
    },
    InitFailed(InitError),
    Other {
        message: String,
        errno: Option<i32>,
    },
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
            Error::Exec {
                program,
                reason,
                errno,
            } => WireError::Exec {
                program: program.clone(),
                reason: reason.clone(),
                errno: *errno as i32,
            },
            Error::InitFailed(e) => WireError::InitFailed(e.clone()),
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
            WireError::Exec {
                program,
                reason,
                errno,
            } => Error::Exec {
                program,
                reason,
                errno: nix::Error::from_raw(errno),
            },
            WireError::InitFailed(e) => Error::InitFailed(e),
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
