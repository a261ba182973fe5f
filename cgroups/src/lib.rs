#![doc = include_str!("../README.md")]
//!
//! ## Design
//!
//! kiln's cgroup manager for cgroup v1, v2 and hybrid hosts, implementing every field of OCI
//! `linux.resources` (runtime-spec config-linux.md).
//!
//! Written from scratch rather than on `cgroups-rs` (0.5): it treats hybrid hosts as plain v1,
//! has no eBPF device filter and no runc-shaped statistics, so it would cover little here.
//!
//! * [`detect_layout`] tells v1, v2 and hybrid hosts apart; the hierarchies are the cgroup
//!   mounts listed in `/proc/self/mountinfo` ([`mountinfo`] is the project's one parser of it).
//! * [`CgroupPath::parse`] interprets `linux.cgroupsPath`.
//! * [`Manager`] creates, configures, freezes, signals, measures and removes one container's
//!   cgroup; [`Manager::oom_watcher`] gives a pollable [`OomWatcher`] for its OOM events.
//!   It holds no global state; construct one wherever needed.
//!
//! Conventions for `linux.resources` (as runc): `-1` means unlimited, `0` means unset for
//! limits where zero makes no sense, other negative or malformed values are rejected with an
//! error naming the field (`linux.resources.memory.limit: …`). A setting whose controller is
//! not available is an error, except `network` (net_cls/net_prio), which is skipped like runc
//! does, and the v1-only settings that runc also ignores on v2 (see `plan::v2`).
//!
//! On v2, v1-style OCI values are converted as runc does (see the `plan::convert` formulas):
//! `cpu.shares` → `cpu.weight`, `blockIO.weight` → `io.weight`/`io.bfq.weight`,
//! memory+swap → `memory.swap.max`, quota/period → `cpu.max`, and the device rules become an
//! eBPF program (see [`devices::filter`]).

#![warn(missing_docs)]

mod create;
pub mod devices;
mod error;
mod freezer;
mod fsutil;
#[doc(hidden)]
pub mod fuzzing;
mod layout;
mod manager;
pub mod mountinfo;
mod oom;
mod path;
mod plan;
mod procs;
mod resources;
pub mod stats;
pub mod systemd;

pub use devices::{default_device_rules, DeviceRule, DeviceType};
pub use error::CgroupError;
pub use freezer::FreezerState;
pub use layout::{detect_layout, Layout, CGROUP_ROOT};
pub use manager::Manager;
pub use oom::{OomReport, OomWatcher};
pub use path::{CgroupPath, DEFAULT_PARENT};
pub use stats::Stats;
pub use systemd::SystemdProperties;
