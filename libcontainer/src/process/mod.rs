//! Process plumbing: clone3, the parent/init sync channel and its protocol, and /proc probes.

pub(crate) mod channel;
pub(crate) mod clone;
pub mod init_log;
pub(crate) mod netlink;
pub(crate) mod pidfd;
pub(crate) mod proc_root;
pub(crate) mod procfs;
pub(crate) mod protocol;
