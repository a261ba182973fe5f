//! End-to-end test support for kiln: busybox bundles, a driver for a runc-compatible runtime
//! binary (`$KILN_BIN`), and a [`Container`] guard that always cleans up.
//!
//! The tests live in `tests/*.rs`; see the crate's README for how to run them.

#![deny(missing_docs)]

pub mod bundle;
pub mod canary;
pub mod caps;
pub mod cgroup;
pub mod cgroup_fixtures;
pub mod checks;
pub mod config;
pub mod console;
pub mod container;
pub mod error;
pub mod mountinfo;
pub mod notify;
pub mod rootless;
pub mod runtime;
pub mod scratch;
pub mod shared;
pub mod spec;
pub mod sys;
pub mod syscalls;
pub mod timings;

pub use bundle::Bundle;
pub use canary::Canary;
pub use config::{CapSet, Config, Device, HookKind};
pub use container::{unique_id, Container};
pub use error::{Error, Result};
pub use runtime::{is_runc, runtime_bin, skip_for_runc, Output, Runtime};
pub use scratch::ScratchDir;
pub use shared::SharedDir;
