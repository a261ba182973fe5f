//! A small D-Bus client: what the systemd cgroup driver needs from the system
//! (or user) bus — method calls on systemd's manager and its `JobRemoved`
//! signal — and nothing else.
//!
//! Own code rather than zbus: a minimal program with zbus 5 (blocking API, no
//! default features) is 1.8 MiB stripped with 167 crates in its tree, for a
//! handful of calls; and the authentication must use the socket's credentials
//! so that it is right inside a user namespace (youki #2208).

mod conn;
mod message;
mod wire;

pub use conn::{socket_path, Connection, SYSTEM_BUS};
pub use message::{Kind, Message};
pub use wire::{split_first_type, Decoder, Encoder, Value};

/// What can go wrong talking to a bus.
#[derive(Debug, thiserror::Error)]
pub enum DbusError {
    /// The bus address has no `unix:path=`.
    #[error("D-Bus address {0:?}: no unix:path= entry")]
    Address(String),
    /// The bus socket cannot be reached.
    #[error("connect to the D-Bus socket {path}: {source}")]
    Connect {
        /// The socket path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Reading or writing the socket failed.
    #[error("D-Bus: {op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The bus refused our authentication.
    #[error("D-Bus authentication refused: {0}")]
    Auth(String),
    /// A message did not follow the wire format.
    #[error("malformed D-Bus message: {0}")]
    Malformed(String),
    /// The peer answered with an error.
    #[error("{name}: {message}")]
    Remote {
        /// The D-Bus error name, e.g. `org.freedesktop.systemd1.UnitExists`.
        name: String,
        /// Its text.
        message: String,
    },
    /// No answer in time.
    #[error("D-Bus: {0}")]
    Timeout(String),
}

#[cfg(test)]
pub(crate) mod tests;
