//! kiln-cgroups: kiln's cgroup manager for cgroup v1, v2 and hybrid hosts, implementing every
//! field of OCI `linux.resources` (runtime-spec config-linux.md).
//!
//! Written from scratch rather than on `cgroups-rs`: that crate has no hybrid-mode support,
//! no eBPF device filter of its own and no runc-shaped statistics, so it would cover little.
//!
//! * [`detect_layout`] tells v1, v2 and hybrid hosts apart.
//! * [`CgroupPath::parse`] interprets `linux.cgroupsPath`.
//! * [`Manager`] creates, configures, freezes, signals, measures and removes one container's
//!   cgroup. It holds no global state; construct one wherever needed.
//!
//! On v2, v1-style OCI values are converted as runc does (see the `plan::convert` formulas):
//! `cpu.shares` → `cpu.weight`, `blockIO.weight` → `io.weight`/`io.bfq.weight`,
//! memory+swap → `memory.swap.max`, quota/period → `cpu.max`, and the device rules become an
//! eBPF program (see [`devices::filter`]).

mod create;
pub mod devices;
mod error;
mod freezer;
mod fsutil;
mod layout;
mod manager;
mod path;
mod plan;
mod procs;
mod resources;
pub mod stats;

pub use devices::{default_device_rules, DeviceRule, DeviceType};
pub use error::CgroupError;
pub use freezer::FreezerState;
pub use layout::{detect_layout, Layout, CGROUP_ROOT};
pub use manager::Manager;
pub use path::{CgroupPath, DEFAULT_PARENT};
pub use stats::Stats;
