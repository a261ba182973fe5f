//! Shared by the examples and the library's tests: a busybox bundle.

#![allow(dead_code)]

use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::Path;

use kiln_libcontainer::oci_spec::runtime::{Process, ProcessBuilder, RootBuilder, Spec};

/// The statically linked busybox the bundle is made of (Debian: busybox-static).
pub const BUSYBOX: &str = "/bin/busybox";

/// Makes `dir/rootfs` (busybox and its applets) and `dir/config.json`: the
/// default OCI configuration running `args`, without a terminal, in the cgroup
/// `cgroup` (e.g. `/kiln-examples/web`).
pub fn busybox_bundle(dir: &Path, args: &[&str], cgroup: &str) -> io::Result<()> {
    let rootfs = dir.join("rootfs");
    busybox_rootfs(&rootfs)?;
    write_config(dir, &rootfs, args, cgroup)
}

/// A root filesystem of busybox and a few applets at `rootfs`.
pub fn busybox_rootfs(rootfs: &Path) -> io::Result<()> {
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc"] {
        fs::create_dir_all(rootfs.join(d))?;
    }
    fs::copy(BUSYBOX, rootfs.join("bin/busybox"))?;
    for applet in [
        "sh", "echo", "cat", "sleep", "hostname", "id", "true", "ls", "head",
    ] {
        symlink("busybox", rootfs.join("bin").join(applet))?;
    }
    fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
}

/// `dir/config.json`: the default configuration with `rootfs` (read-only) as
/// its root, running `args` without a terminal, in the cgroup `cgroup`.
pub fn write_config(dir: &Path, rootfs: &Path, args: &[&str], cgroup: &str) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let mut spec = Spec::default();
    let process = ProcessBuilder::default()
        .terminal(false)
        .args(args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
        .env(vec!["PATH=/bin".to_string()])
        .cwd("/")
        .build()
        .map_err(io::Error::other)?;
    spec.set_process(Some(process));
    spec.set_root(Some(
        RootBuilder::default()
            .path(rootfs)
            .readonly(true)
            .build()
            .map_err(io::Error::other)?,
    ));
    spec.set_hostname(Some("kiln-example".into()));
    if let Some(linux) = spec.linux_mut() {
        linux.set_cgroups_path(Some(cgroup.into()));
    }
    spec.save(dir.join("config.json")).map_err(io::Error::other)
}

/// A process for `exec`: `args` with PATH=/bin, in `/`.
pub fn process(args: &[&str]) -> Process {
    ProcessBuilder::default()
        .args(args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
        .env(vec!["PATH=/bin".to_string()])
        .cwd("/")
        .build()
        .expect("a valid process")
}
