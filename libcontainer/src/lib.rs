#![doc = include_str!("../README.md")]
//!
//! ## Design
//!
//! kiln-libcontainer turns an OCI bundle (config.json + rootfs) into a
//! running, isolated process, and operates on it afterwards.
//!
//! - [`ContainerBuilder`] creates a container from a bundle;
//! - [`Container`] loads one from a state root and starts, kills (with a [`Signal`]),
//!   deletes it or reports its [`State`]; [`Container::events`] streams its statistics,
//!   OOM events and exit ([`events`]);
//! - the container init runs the ordered steps listed in the `init` module;
//! - [`check::run`] diagnoses the host for the calling user before the first container
//!   (`kiln check`).
//!
//! The library never exits the process (except in the helper processes of
//! [`embed`]) and reports every failure as an [`Error`] naming the path,
//! syscall or config field.
//!
//! **A program that embeds the library calls [`init`](fn@crate::init) first thing in `main`**
//! (see [`embed`]): `create` and `exec` then work from any thread of it,
//! tokio's included, and the program's binary is protected against
//! CVE-2019-5736.

#![warn(missing_docs)]

#[cfg(feature = "tokio")]
mod asynch;
pub mod bundle;
pub mod check;
mod container;
pub mod embed;
pub mod error;
pub mod events;
pub mod exe_guard;
#[doc(hidden)]
pub mod failpoint;
#[doc(hidden)]
pub mod fuzzing;
pub mod hooks;
mod init;
pub mod json;
mod process;
mod rootfs;
pub mod rootless;
pub mod signal;
pub mod state;
pub mod store;
pub mod timings;
pub(crate) mod tty;
pub mod validate;

pub use bundle::Bundle;
pub use container::{
    list, Container, ContainerBuilder, ExecOptions, ExecProcess, ExitStatus, Stdio,
};
pub use embed::init;
pub use error::{Error, InitError, Result};
pub use events::{Event, Events};
pub use kiln_cgroups;
pub use oci_spec;
pub use process::init_log;
pub use process::proc_root::ProcfsError;
pub use rootfs::RootfsError;
pub use rootless::Rootless;
pub use signal::Signal;
pub use state::{State, Status, OCI_VERSION};
pub use store::StateRoot;
pub use tty::{
    check_terminal_options, proxy, proxy_with, receive_master, TtyError, DEV_CONSOLE, MASTER_NAME,
};
