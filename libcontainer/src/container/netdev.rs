//! `linux.netDevices`: `create` moves each named host network device into the
//! container's network namespace (renamed when `name` is given), keeping its
//! MTU and MAC and re-adding its global-scope addresses (the kernel drops
//! addresses when a device changes namespace), as runc does. Done by the
//! runtime with its own privileges once the init's network namespace exists.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::sched::{setns, CloneFlags};
use oci_spec::runtime::Spec;

use crate::error::{Error, Result};
use crate::process::netlink::{Netlink, SCOPE_GLOBAL};

/// Moves the devices of `spec` into the network namespace of process `init`.
pub(crate) fn move_devices(spec: &Spec, init: i32) -> Result<()> {
    let Some(devices) = spec.linux().as_ref().and_then(|l| l.net_devices().as_ref()) else {
        return Ok(());
    };
    if devices.is_empty() {
        return Ok(());
    }
    let ns_path = format!("/proc/{init}/ns/net");
    let netns = OwnedFd::from(File::open(&ns_path).map_err(|e| Error::io("open", &ns_path, e))?);
    let mut host = Netlink::open()?;
    let mut inside = open_in(netns.as_fd())?;
    // In a fixed order (config.json gives a map).
    let sorted: BTreeMap<_, _> = devices.iter().collect();
    for (host_name, device) in sorted {
        let field = format!("linux.netDevices[{host_name:?}]");
        let index = host
            .link_index(host_name)?
            .ok_or_else(|| Error::config(&field, "no such network device on the host"))?;
        let addresses: Vec<_> = host
            .addresses(index)?
            .into_iter()
            .filter(|a| a.scope == SCOPE_GLOBAL)
            .collect();
        let name = device.name().as_deref().unwrap_or(host_name);
        host.move_link(index, netns.as_fd(), name)
            .map_err(|e| Error::config(&field, e.to_string()))?;
        let moved = inside.link_index(name)?.ok_or_else(|| {
            Error::config(
                &field,
                format!("{name} is not in the container after the move"),
            )
        })?;
        for a in &addresses {
            inside
                .add_address(moved, a)
                .map_err(|e| Error::config(&field, e.to_string()))?;
        }
    }
    Ok(())
}

/// A netlink socket of the network namespace `netns`: opened there (a socket
/// stays with the namespace it was made in), used from the runtime's own.
fn open_in(netns: BorrowedFd<'_>) -> Result<Netlink> {
    let own = File::open("/proc/thread-self/ns/net")
        .map_err(|e| Error::io("open", "/proc/thread-self/ns/net", e))?;
    setns(netns, CloneFlags::CLONE_NEWNET)
        .map_err(|e| Error::sys("setns into the container's network namespace", e))?;
    let socket = Netlink::open();
    setns(own.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|e| Error::sys("setns back into the runtime's network namespace", e))?;
    socket
}
