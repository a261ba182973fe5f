//! The systemd cgroup driver's plumbing: a D-Bus client for systemd's manager.

pub mod dbus;
