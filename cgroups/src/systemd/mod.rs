//! The systemd cgroup driver: a D-Bus client for systemd's manager, the unit
//! properties `linux.resources` maps to, the `org.systemd.property.*`
//! annotations, and the [`Manager`](crate::Manager) operations that use them.

pub mod annotations;
pub mod dbus;
mod driver;
pub mod instance;
pub mod manager;
pub(crate) mod properties;

pub use annotations::SystemdProperties;
pub use instance::{in_user_namespace, user_instance};
