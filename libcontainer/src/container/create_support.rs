//! Pieces of `create` that are not the clone protocol: what gets applied,
//! compiled and written around it, and the undo of a failed create.

use std::fs;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::process::pidfd;
use crate::store::{write_atomic, StateRoot};

/// `linux.resources` with the device rules kiln always applies, in this
/// order: deny all, the config's rules (in their order), then the devices
/// every container needs, as runc grants them (mknod of any device; rwm on
/// null, zero, full, random, urandom, tty, console, ptmx and ptys).
/// `linux.devices` entries get no rule of their own: the config's rules
/// decide who may open them, as with runc.
pub(super) fn effective_resources(
    linux: &oci_spec::runtime::Linux,
    rootless: bool,
) -> oci_spec::runtime::LinuxResources {
    use oci_spec::runtime::LinuxDeviceCgroup;
    let mut res = linux.resources().clone().unwrap_or_default();
    if rootless {
        // As runc: an unprivileged user cannot program the device controller (and the
        // container cannot make device nodes in its user namespace anyway).
        res.set_devices(None);
        return res;
    }
    let mut deny_all = LinuxDeviceCgroup::default();
    deny_all.set_allow(false);
    deny_all.set_access(Some("rwm".into()));
    let mut rules = vec![deny_all];
    rules.extend(res.devices().iter().flatten().cloned());
    rules.extend(kiln_cgroups::default_device_rules());
    res.set_devices(Some(rules));
    res
}

/// Compiles the filter through the cache; a cache that cannot be used (e.g.
/// a read-only state root) only costs the compile time.
pub(super) fn compile_seccomp(
    s: &oci_spec::runtime::LinuxSeccomp,
    root: &StateRoot,
) -> Result<kiln_seccomp::CompiledFilter> {
    let filter = match kiln_seccomp::compile_cached(s, &root.seccomp_cache()) {
        Ok((f, outcome)) => {
            log::debug!("seccomp filter cache: {outcome:?}");
            f
        }
        Err(kiln_seccomp::SeccompError::Cache { path, op, source }) => {
            log::debug!(
                "seccomp cache unusable ({op} {}: {source}); compiling",
                path.display()
            );
            kiln_seccomp::compile(s)?
        }
        Err(e) => return Err(e.into()),
    };
    if !filter.skipped_syscalls().is_empty() {
        log::debug!(
            "seccomp: syscalls unknown to this host skipped: {}",
            filter.skipped_syscalls().join(", ")
        );
    }
    Ok(filter)
}

/// Hands the seccomp notify fd of process `pid` (the init, or an exec'd process) to the agent
/// at `linux.seccomp.listenerPath` with the container state `state`.
pub(super) fn forward_notify_fd(
    spec: &oci_spec::runtime::Spec,
    fd: BorrowedFd<'_>,
    pid: i32,
    state: &serde_json::Value,
) -> Result<()> {
    let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    let Some(path) = seccomp.and_then(|s| s.listener_path().as_ref()) else {
        // Compiling refuses SCMP_ACT_NOTIFY without a listener: this is not reachable.
        return Err(Error::config(
            "linux.seccomp.listenerPath",
            "a seccomp notify fd arrived, but there is no listener to hand it to",
        ));
    };
    let meta = seccomp.and_then(|s| s.listener_metadata().as_deref());
    kiln_seccomp::send_to_listener(path, fd, meta, pid, state)?;
    Ok(())
}

/// systemd socket activation: LISTEN_FDS fds after stdio are passed on, as runc does.
pub(crate) fn listen_fds() -> u32 {
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Name of the user running kiln (runc's `owner` field), from /etc/passwd.
/// Read directly rather than through NSS so that a static kiln needs no
/// glibc modules at run time.
pub(crate) fn owner_name() -> String {
    let uid = nix::unistd::geteuid().as_raw();
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let id = f.nth(1)?.parse::<u32>().ok()?;
            Some((name, id))
        })
        .find(|(_, id)| *id == uid)
        .map(|(name, _)| name.to_string())
        .unwrap_or_else(|| uid.to_string())
}

/// Writes the pid file atomically (engines read it as soon as create exits).
pub(super) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io("getcwd", path, e))?
            .join(path)
    };
    write_atomic(&path, pid.to_string().as_bytes(), 0o644)
}

/// Undoes a half-done create when dropped: kills the init, removes the
/// cgroup and the state directory. `disarm` once the create succeeded.
pub(super) struct Undo {
    pub dir: Option<PathBuf>,
    pub cgroup: Option<kiln_cgroups::Manager>,
    pub init: Option<OwnedFd>,
}

impl Undo {
    pub(super) fn disarm(&mut self) {
        self.dir = None;
        self.cgroup = None;
        self.init = None;
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(fd) = self.init.take() {
            let _ = pidfd::send_signal(fd.as_fd(), libc::SIGKILL);
            let _ = pidfd::wait_exit(fd.as_fd(), Some(std::time::Duration::from_secs(10)));
            pidfd::reap_if_child(fd.as_fd());
        }
        if let Some(cg) = self.cgroup.take() {
            if let Err(e) = super::cgroup_ops::kill_and_remove(&cg) {
                log::warn!("cleanup after failed create: {e}");
            }
        }
        if let Some(dir) = self.dir.take() {
            let _ = fs::remove_dir_all(dir);
        }
    }
}
