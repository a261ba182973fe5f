#![doc = include_str!("../README.md")]
//!
//! ## Design
//!
//! kiln-libcontainer turns an OCI bundle (config.json + rootfs) into a
//! running, isolated process, and operates on it afterwards.
//!
//! - [`ContainerBuilder`] creates a container from a bundle;
//! - [`Container`] loads one from a state root and starts, kills, deletes it
//!   or reports its [`State`];
//! - the container init runs the ordered steps listed in the `init` module.
//!
//! The library keeps no global state, never exits the process and reports
//! every failure as an [`Error`] naming the path, syscall or config field.
//! Creating a container clones the calling process, which must therefore be
//! single-threaded (checked: [`Error::MultiThreaded`]).

#![warn(missing_docs)]

pub mod bundle;
mod container;
pub mod error;
pub mod exe_guard;
#[doc(hidden)]
pub mod failpoint;
#[doc(hidden)]
pub mod fuzzing;
pub mod hooks;
mod init;
mod process;
mod rootfs;
pub mod rootless;
pub mod state;
pub mod store;
pub(crate) mod tty;
pub mod validate;

pub use bundle::Bundle;
pub use container::{list, Container, ContainerBuilder, ExecOptions, ExecProcess, ExitStatus};
pub use error::{Error, Result};
pub use process::init_log;
pub use process::proc_root::ProcfsError;
pub use rootfs::RootfsError;
pub use rootless::Rootless;
pub use state::{State, Status, OCI_VERSION};
pub use store::StateRoot;
pub use tty::{
    check_terminal_options, proxy, proxy_with, receive_master, TtyError, DEV_CONSOLE, MASTER_NAME,
};
