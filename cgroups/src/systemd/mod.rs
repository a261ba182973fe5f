//! The systemd cgroup driver's plumbing: a D-Bus client for systemd's manager
//! and the unit properties `linux.resources` maps to.

pub mod dbus;
pub mod manager;
// Used by the systemd driver that is being written (#12).
#[allow(dead_code)]
pub(crate) mod properties;
