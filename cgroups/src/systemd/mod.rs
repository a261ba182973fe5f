//! The systemd cgroup driver's plumbing: a D-Bus client for systemd's manager
//! and the unit properties `linux.resources` maps to.

pub mod dbus;
pub(crate) mod properties;
