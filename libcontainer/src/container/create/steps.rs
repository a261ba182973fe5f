//! The steps of `create`, in order ([`ContainerBuilder::setup`] is the list):
//! read the config and plan the init; name and plan the cgroup (the recovery
//! record); make the exec fifo; clone the init, create the cgroup, map ids and
//! let it go; record the container; bind sources, mounts, prestart and
//! createRuntime hooks, Ready; save the state and the pid file; hand over.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::SystemTime;

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use oci_spec::runtime::{Linux, Process, Spec};

use super::super::create_support::{
    compile_seccomp, effective_resources, forward_notify_fd, listen_fds, owner_name,
    write_pid_file, Undo,
};
use super::super::Container;
use super::ContainerBuilder;
use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::failpoint::hit;
use crate::hooks::{self, DefaultEnv, HookKind};
use crate::init::{self, caps::CapPlan, cgroup_join::CgroupJoin, namespaces, InitPlan};
use crate::process::channel::Channel;
use crate::process::clone::{clone_for_caller, Forked};
use crate::process::protocol::{FromInit, ToInit};
use crate::process::{pidfd, proc_root, procfs};
use crate::state::Status;
use crate::store::{Record, StateRoot, EXEC_FIFO};

/// A cloned init that has been let go: its channel, host pid and start time.
struct Running {
    chan: Channel,
    pid: i32,
    pid_start: u64,
}

impl ContainerBuilder {
    /// The steps of `create` after the container directory is made and locked.
    pub(super) fn setup(
        &self,
        root: &StateRoot,
        dir: &Path,
        bundle: &Bundle,
        undo: &mut Undo,
    ) -> Result<(Record, Option<OwnedFd>)> {
        crate::timings::mark("plan");
        let spec = &bundle.spec;
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| Error::config("process", "missing"))?;
        // The terminal: the init sends the pty master to a console socket,
        // the engine's (--console-socket) or our own (foreground proxy).
        let (console_ours, console_init) = crate::tty::console_sockets(
            process.terminal().unwrap_or(false),
            self.console_socket.as_deref(),
            self.terminal_proxy,
        )?;
        crate::init::security::check_lsm_support(process)?;
        let linux = spec
            .linux()
            .as_ref()
            .ok_or_else(|| Error::config("linux", "missing"))?;
        let ns = namespaces::NamespacePlan::from_spec(spec)?;
        let caps = process
            .capabilities()
            .as_ref()
            .map(CapPlan::from_spec)
            .transpose()?;
        let seccomp = linux
            .seccomp()
            .as_ref()
            .map(|s| compile_seccomp(s, root))
            .transpose()?;
        let unit = self.unit_properties(spec)?;
        crate::timings::mark("cgroup-plan");
        let cgroup = self.plan_cgroup(linux, dir)?;
        // (a systemd unit is the container's only once it started it: one of that name may be
        // another's, see start_init)
        if !self.systemd_cgroup {
            undo.cgroup = Some(cgroup.clone());
        }
        let exec_fifo = make_exec_fifo(dir)?;
        let bind_sources = bind_sources_for(&ns, spec, bundle);
        let mut join = CgroupJoin::plan(&cgroup, ns.new_user, unit);
        join.prepare_clone(&cgroup)?;
        let mut plan = InitPlan {
            id: &self.id,
            spec,
            process,
            bundle: &bundle.dir,
            rootfs: &bundle.rootfs,
            ns,
            caps,
            seccomp,
            cgroup_tasks: std::mem::take(&mut join.tasks),
            console_socket: console_init,
            exec_fifo,
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds + listen_fds(),
            bind_sources: bind_sources.len(),
            stdio: &self.stdio,
        };
        let (init, cgroup) = self.start_init(&mut plan, &join, cgroup, linux, undo)?;
        if self.systemd_cgroup {
            // Now `delete -f` may stop the unit and kill what is in it: it is this container's.
            self.recovery(linux, false, true).save(dir)?;
            hit("create", "unit-recorded");
        }
        let tmp = self.record(dir, bundle, linux, &cgroup, &init);
        crate::timings::mark("wait-init");
        self.run_to_ready(&tmp, &init, &bind_sources)?;
        crate::timings::mark("save-state");
        tmp.record.save(dir)?;
        hit("create", "state-saved");
        if let Some(p) = &self.pid_file {
            write_pid_file(p, init.pid)?;
            hit("create", "pid-file");
        }
        // The init sent the master before Ready: take it before `start`.
        let master = console_ours
            .map(crate::tty::receive_proxy_master)
            .transpose()?;
        // Recorded: from now on the init outlives this process (once it said so:
        // the parent exiting before the init disarmed would still kill it).
        crate::timings::mark("handover");
        init.chan.send(&ToInit::Handover)?;
        hit("create", "handover");
        init.chan.expect(FromInit::HandedOver)?;
        hit("create", "handed-over");
        Ok((tmp.record, master))
    }

    /// systemd driver: the unit properties of the `org.systemd.property.*` annotations
    /// (checked before anything is made). `None` for the cgroupfs driver.
    fn unit_properties(
        &self,
        spec: &oci_spec::runtime::Spec,
    ) -> Result<Option<kiln_cgroups::SystemdProperties>> {
        if !self.systemd_cgroup {
            return Ok(None);
        }
        let none = std::collections::HashMap::new();
        let annotations = spec.annotations().as_ref().unwrap_or(&none);
        Ok(Some(kiln_cgroups::SystemdProperties::from_annotations(
            annotations,
        )?))
    }

    /// The recovery record (see `incomplete`).
    fn recovery(
        &self,
        linux: &Linux,
        no_cgroup: bool,
        unit_started: bool,
    ) -> super::super::incomplete::Recovery {
        super::super::incomplete::Recovery {
            cgroups_path: linux
                .cgroups_path()
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
            systemd_cgroup: self.systemd_cgroup,
            no_cgroup,
            unit_started,
        }
    }

    /// The container's cgroup, named in the recovery record before it exists (`delete -f`
    /// of a create killed from then on finds it, see `incomplete`). The init joins it
    /// before doing anything (see CgroupJoin).
    fn plan_cgroup(&self, linux: &Linux, dir: &Path) -> Result<kiln_cgroups::Manager> {
        let cg_path = kiln_cgroups::CgroupPath::parse(
            linux.cgroups_path().as_ref().and_then(|p| p.to_str()),
            &self.id,
            self.systemd_cgroup,
        )?;
        let cgroup = kiln_cgroups::Manager::new(cg_path)?;
        let given_path = linux.cgroups_path().is_some();
        // (the systemd driver always has a scope: the user's own instance's when rootless)
        let no_cgroup = self.rootless && !given_path && !self.systemd_cgroup;
        let cgroup = if no_cgroup {
            warn_if_unkillable(linux);
            rootless_without_cgroup(&cgroup, linux)?
        } else {
            cgroup
        };
        // Before anything is made: a cgroup kiln did not create is never removed.
        cgroup.ensure_not_frozen()?;
        self.recovery(linux, no_cgroup, false).save(dir)?;
        hit("create", "recovery-record");
        if self.rootless && given_path && !self.systemd_cgroup {
            rootless_cgroup(&cgroup)
        } else {
            Ok(cgroup)
        }
    }

    /// Clones the init, creates and fills its cgroup, maps its ids, and lets it go.
    fn start_init(
        &self,
        plan: &mut InitPlan,
        join: &CgroupJoin,
        cgroup: kiln_cgroups::Manager,
        linux: &Linux,
        undo: &mut Undo,
    ) -> Result<(Running, kiln_cgroups::Manager)> {
        crate::timings::mark("clone");
        let (chan, child_chan) = Channel::pair()?;
        let into_cgroup = join.clone_into.as_ref().map(|f| f.as_raw_fd());
        log::debug!("clone3 of the container init (runc: \"nsexec container setup\")");
        let (child_pid, child_fd) = match clone_for_caller(plan.ns.clone_flags, into_cgroup)? {
            Forked::Child => {
                drop(chan);
                init::main(plan, child_chan)
            }
            Forked::Parent { pid, pidfd } => (pid, pidfd),
        };
        drop(child_chan);
        hit("create", "cloned");
        // Only the init may hold its end: EOF must mean the init is gone.
        drop(plan.console_socket.take());
        undo.init = Some(
            child_fd
                .try_clone()
                .map_err(|e| Error::io("dup pidfd", "", e))?,
        );
        // The init unshares its other namespaces meanwhile (see NamespacePlan).
        let resources = effective_resources(linux, self.rootless);
        if join.unit.is_none() {
            crate::timings::mark("cgroup");
            cgroup.create()?;
            hit("create", "cgroup");
            cgroup.apply(&resources)?;
            hit("create", "resources");
        }
        crate::timings::mark("handshake");
        let pid = handshake(plan, &chan, child_pid, child_fd, undo)?;
        hit("create", "id-maps");
        let pid_start = procfs::start_time_and_state(pid)
            .map(|(s, _)| s)
            .ok_or_else(|| Error::InitDied(format!("container process {pid} vanished")))?;
        let cgroup = match &join.unit {
            Some(extra) => {
                // Placed where systemd put the scope (the user instance's is elsewhere).
                let placed = cgroup.start_unit(pid, &resources, extra)?;
                undo.cgroup = Some(placed.clone());
                hit("create", "unit");
                placed
            }
            None => {
                if join.by_parent {
                    cgroup.add_process(pid)?;
                }
                cgroup
            }
        };
        write_oom_score_adj(plan.process, pid)?;
        chan.send(&ToInit::Go)?;
        hit("create", "go");
        Ok((
            Running {
                chan,
                pid,
                pid_start,
            },
            cgroup,
        ))
    }

    /// The container as it will be recorded.
    fn record(
        &self,
        dir: &Path,
        bundle: &Bundle,
        linux: &Linux,
        cgroup: &kiln_cgroups::Manager,
        init: &Running,
    ) -> Container {
        let record = Record {
            id: self.id.clone(),
            bundle: bundle.dir.clone(),
            rootfs: bundle.rootfs.clone(),
            pid: init.pid,
            pid_start: init.pid_start,
            created: humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
            owner: owner_name(),
            cgroups_path: linux
                .cgroups_path()
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
            systemd_cgroup: self.systemd_cgroup,
            cgroup_created: cgroup.created_dirs(),
            cgroup_withheld: cgroup.withheld(),
            cgroup_placed: (cgroup.relative() != cgroup.cgroup_path().relative())
                .then(|| cgroup.relative().to_path_buf()),
            spec: bundle.spec.clone(),
        };
        Container {
            dir: dir.to_path_buf(),
            record,
            console: None,
            cgroup: Default::default(),
        }
    }

    /// Bind sources, mounts, network devices, prestart/createRuntime hooks, until the
    /// init reports Ready (forwarding its seccomp notify fd, if any).
    fn run_to_ready(
        &self,
        tmp: &Container,
        init: &Running,
        bind_sources: &[crate::rootfs::BindSource],
    ) -> Result<()> {
        let (chan, pid, spec) = (&init.chan, init.pid, &tmp.record.spec);
        let creating = tmp.state_with(Status::Creating);
        let state = creating.to_spec_json();
        if !bind_sources.is_empty() {
            chan.expect(FromInit::MountSources)?;
            super::super::bind_sources::send(pid, bind_sources, chan)?;
            hit("create", "bind-sources");
        }
        chan.expect(FromInit::MountsDone)?;
        hit("create", "mounts-done");
        crate::timings::mark("prestart-hooks");
        // The init is in its network namespace: move the devices before the hooks.
        super::super::netdev::move_devices(spec, pid)?;
        #[allow(deprecated)]
        for kind in [HookKind::Prestart, HookKind::CreateRuntime] {
            hooks::run_all(kind, spec.hooks().as_ref(), &state, DefaultEnv::Runtime)?;
        }
        hit("create", "hooks-done");
        chan.send(&ToInit::HooksDone(Box::new(creating)))?;
        crate::timings::mark("wait-init");
        loop {
            match chan.recv_with_fd()? {
                (FromInit::Ready, _) => break,
                (FromInit::Timings(marks), _) => crate::timings::merge(marks),
                (FromInit::SeccompFd, Some(fd)) => {
                    forward_notify_fd(spec, fd.as_fd(), pid, &state)?
                }
                (other, _) => {
                    return Err(Error::InitDied(format!(
                        "unexpected {other:?} on sync channel"
                    )))
                }
            }
        }
        hit("create", "ready");
        Ok(())
    }
}

/// The exec fifo `start` opens, and an O_PATH fd of it for the init.
fn make_exec_fifo(dir: &Path) -> Result<OwnedFd> {
    let fifo = dir.join(EXEC_FIFO);
    nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o622))
        .map_err(|e| Error::sys(format!("mkfifo {}", fifo.display()), e))?;
    // Writable by the container user whatever the umask (the init opens it
    // after switching user).
    nix::sys::stat::fchmodat(
        None,
        &fifo,
        Mode::from_bits_truncate(0o622),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .map_err(|e| Error::sys(format!("chmod {}", fifo.display()), e))?;
    let exec_fifo = open(&fifo, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| Error::sys(format!("open {}", fifo.display()), e))?;
    // SAFETY: open returned a new fd that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(exec_fifo) })
}

/// The runtime opens bind sources for an init in a user namespace, which may not reach
/// them; a caller without CAP_SYS_ADMIN cannot enter its mount namespace to do so, and
/// its init (its own uid, mapped) reaches exactly what the caller does.
fn bind_sources_for(
    ns: &namespaces::NamespacePlan,
    spec: &Spec,
    bundle: &Bundle,
) -> Vec<crate::rootfs::BindSource> {
    let sys_admin = caps::has_cap(
        None,
        caps::CapSet::Effective,
        caps::Capability::CAP_SYS_ADMIN,
    )
    .unwrap_or(false);
    if ns.in_user_namespace() && sys_admin {
        crate::rootfs::bind_sources(spec, &bundle.dir, &bundle.rootfs)
    } else {
        Vec::new()
    }
}

/// process.oomScoreAdj, written for the init (through a checked /proc).
fn write_oom_score_adj(process: &Process, pid: i32) -> Result<()> {
    if let Some(adj) = process.oom_score_adj() {
        let path = format!("{pid}/oom_score_adj");
        proc_root::write(&path, adj.to_string().as_bytes())
            .map_err(|e| proc_root::field_error("process.oomScoreAdj", e))?;
    }
    Ok(())
}

/// Parent side of the namespace protocol; returns the init's host pid.
fn handshake(
    plan: &InitPlan,
    chan: &Channel,
    child: i32,
    child_fd: OwnedFd,
    undo: &mut Undo,
) -> Result<i32> {
    let spec = plan.spec;
    if !plan.ns.slow_path {
        if plan.ns.new_user {
            init::id_maps::write(spec, child)?;
        }
        return Ok(child);
    }
    let pid = loop {
        match chan.recv()? {
            FromInit::MapRequest(p) => {
                init::id_maps::write(spec, p)?;
                chan.send(&ToInit::Go)?;
            }
            FromInit::InitPid(p) => break p,
            other => {
                return Err(Error::InitDied(format!(
                    "unexpected {other:?} on sync channel"
                )))
            }
        }
    };
    if pid != child {
        crate::embed::adopted(pid)?;
        // The intermediate process exits right after reporting: reap it.
        let _ = pidfd::wait_exit(child_fd.as_fd(), None);
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child), None);
        undo.init = Some(pidfd::open(pid)?);
    }
    Ok(pid)
}

/// Rootless without `linux.cgroupsPath`: no cgroup at all (runc's rule), so nothing may be
/// limited: a limit is refused naming its field.
fn rootless_without_cgroup(
    cgroup: &kiln_cgroups::Manager,
    linux: &oci_spec::runtime::Linux,
) -> Result<kiln_cgroups::Manager> {
    let none = cgroup.without_hierarchies();
    none.apply(&effective_resources(linux, true))?;
    Ok(none)
}

/// As runc: without a cgroup and a pid namespace of its own, `kill`/`delete` reach only the
/// init, not what it started.
fn warn_if_unkillable(linux: &oci_spec::runtime::Linux) {
    let own_pid_ns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Pid);
    if !own_pid_ns {
        log::warn!(
            "a rootless container without a cgroup (no linux.cgroupsPath) and without its own \
             pid namespace cannot be reliably killed: only its init can. Such configuration is \
             strongly discouraged"
        );
    }
}

/// Rootless with `linux.cgroupsPath`: it must be a cgroup this user may create or write.
fn rootless_cgroup(cgroup: &kiln_cgroups::Manager) -> Result<kiln_cgroups::Manager> {
    cgroup.create_unprivileged(false).map_err(|e| match e {
        kiln_cgroups::CgroupError::Mkdir { ref path, .. } if e.is_permission_denied() => {
            Error::CgroupDenied { path: path.clone() }
        }
        e => e.into(),
    })
}
