//! `create`: the builder that turns a bundle into a created container.

use std::fs;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;

use super::create_support::{
    compile_seccomp, effective_resources, forward_notify_fd, listen_fds, owner_name,
    write_pid_file, Undo,
};
use super::Container;
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

/// Options for creating a container; `create` does the work.
///
/// ```no_run
/// # fn main() -> Result<(), kiln_libcontainer::Error> {
/// use kiln_libcontainer::ContainerBuilder;
/// let mut c = ContainerBuilder::new("web", "/srv/bundles/web").root("/run/kiln").create()?;
/// c.start()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ContainerBuilder {
    id: String,
    bundle: PathBuf,
    root: PathBuf,
    console_socket: Option<PathBuf>,
    pid_file: Option<PathBuf>,
    preserve_fds: u32,
    no_pivot: bool,
    no_new_keyring: bool,
    systemd_cgroup: bool,
    terminal_proxy: bool,
    rootless: bool,
    #[serde(skip)]
    stdio: super::Stdio,
}

impl ContainerBuilder {
    /// A container `id` from the bundle at `bundle`, state under `/run/kiln`.
    pub fn new(id: impl Into<String>, bundle: impl Into<PathBuf>) -> Self {
        ContainerBuilder {
            id: id.into(),
            bundle: bundle.into(),
            root: PathBuf::from("/run/kiln"),
            console_socket: None,
            pid_file: None,
            preserve_fds: 0,
            no_pivot: false,
            no_new_keyring: false,
            systemd_cgroup: false,
            terminal_proxy: false,
            rootless: crate::rootless::Rootless::Auto.resolve(false),
            stdio: super::Stdio::default(),
        }
    }

    /// The container process' stdin, stdout and stderr (by default the caller's).
    pub fn stdio(mut self, stdio: super::Stdio) -> Self {
        self.stdio = stdio;
        self
    }

    pub(crate) fn state_root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn container_id(&self) -> &str {
        &self.id
    }

    pub(crate) fn stdio_ref(&self) -> &super::Stdio {
        &self.stdio
    }

    pub(crate) fn preserved_fds(&self) -> u32 {
        self.preserve_fds
    }

    /// The state root (`--root`).
    pub fn root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = root.into();
        self
    }

    /// Unix socket that receives the pty master when `process.terminal` is set.
    pub fn console_socket(mut self, path: Option<PathBuf>) -> Self {
        self.console_socket = path;
        self
    }

    /// File to write the container process' pid to, atomically.
    pub fn pid_file(mut self, path: Option<PathBuf>) -> Self {
        self.pid_file = path;
        self
    }

    /// Pass fds 3..3+n of the caller to the container.
    pub fn preserve_fds(mut self, n: u32) -> Self {
        self.preserve_fds = n;
        self
    }

    /// Use MS_MOVE + chroot instead of pivot_root (for ramdisk roots).
    pub fn no_pivot(mut self, yes: bool) -> Self {
        self.no_pivot = yes;
        self
    }

    /// Keep the caller's session keyring instead of a new one.
    pub fn no_new_keyring(mut self, yes: bool) -> Self {
        self.no_new_keyring = yes;
        self
    }

    /// With `process.terminal` and no console socket: keep the pty master for
    /// the caller ([`Container::take_console`]), as a foreground `run` does.
    pub fn terminal_proxy(mut self, yes: bool) -> Self {
        self.terminal_proxy = yes;
        self
    }

    /// Rootless cgroup handling (`--rootless`; by default: whether this process is
    /// unprivileged, see [`crate::Rootless::resolve`]). Without `linux.cgroupsPath` the
    /// container then gets no cgroup (and limits are refused); with one, it must be a cgroup
    /// the caller may write, and the hierarchies it may not are left out.
    pub fn rootless(mut self, yes: bool) -> Self {
        self.rootless = yes;
        self
    }

    /// Interpret `linux.cgroupsPath` as a systemd `slice:prefix:name`.
    pub fn systemd_cgroup(mut self, yes: bool) -> Self {
        self.systemd_cgroup = yes;
        self
    }

    /// Creates the container (runtime.md "create"): returns once its process
    /// is fully set up and blocked just before executing the user program.
    /// On any failure everything made so far is removed again.
    pub fn create(self) -> Result<Container> {
        crate::store::validate_id(&self.id)?;
        if crate::embed::needs_helper()? {
            return crate::embed::create_in_helper(self);
        }
        let bundle = Bundle::load(&self.bundle)?;
        let root = StateRoot::new(&self.root)?;
        let dir = root.container_dir(&self.id)?;
        match fs::DirBuilder::new().mode(0o711).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists(self.id))
            }
            Err(e) => return Err(Error::io("create container dir", &dir, e)),
        }
        let mut undo = Undo {
            dir: Some(dir.clone()),
            cgroup: None,
            init: None,
        };
        crate::embed::claimed()?;
        let _lock = crate::store::DirLock::acquire(&dir)?;
        hit("create", "locked");
        let (record, console) = self.setup(&root, &dir, &bundle, &mut undo)?;
        undo.disarm();
        Ok(Container {
            dir,
            record,
            console,
            cgroup: Default::default(),
        })
    }

    fn setup(
        &self,
        root: &StateRoot,
        dir: &Path,
        bundle: &Bundle,
        undo: &mut Undo,
    ) -> Result<(Record, Option<OwnedFd>)> {
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
        // The cgroup: the init joins it before doing anything (see CgroupJoin).
        let cg_path = kiln_cgroups::CgroupPath::parse(
            linux.cgroups_path().as_ref().and_then(|p| p.to_str()),
            &self.id,
            self.systemd_cgroup,
        )?;
        let cgroup = kiln_cgroups::Manager::new(cg_path)?;
        let given_path = linux.cgroups_path().is_some();
        let no_cgroup = self.rootless && !given_path;
        let cgroup = if no_cgroup {
            warn_if_unkillable(linux);
            rootless_without_cgroup(&cgroup, linux)?
        } else {
            cgroup
        };
        // Before anything is made: a cgroup kiln did not create is never removed.
        cgroup.ensure_not_frozen()?;
        // Names the cgroup before it exists: `delete -f` of a create killed
        // from here on finds it (see `incomplete`).
        super::incomplete::Recovery {
            cgroups_path: linux
                .cgroups_path()
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
            systemd_cgroup: self.systemd_cgroup,
            no_cgroup,
        }
        .save(dir)?;
        hit("create", "recovery-record");
        let cgroup = if self.rootless && given_path {
            rootless_cgroup(&cgroup)?
        } else {
            cgroup
        };
        undo.cgroup = Some(cgroup.clone());
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
        let exec_fifo = unsafe { OwnedFd::from_raw_fd(exec_fifo) };
        // The runtime opens bind sources for an init in a user namespace, which may not reach
        // them; a caller without CAP_SYS_ADMIN cannot enter its mount namespace to do so, and
        // its init (its own uid, mapped) reaches exactly what the caller does.
        let sys_admin = caps::has_cap(
            None,
            caps::CapSet::Effective,
            caps::Capability::CAP_SYS_ADMIN,
        )
        .unwrap_or(false);
        let bind_sources = if ns.in_user_namespace() && sys_admin {
            crate::rootfs::bind_sources(spec, &bundle.dir, &bundle.rootfs)
        } else {
            Vec::new()
        };
        let mut join = CgroupJoin::plan(&cgroup, ns.new_user);
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
            cgroup_tasks: join.tasks,
            console_socket: console_init,
            exec_fifo,
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds + listen_fds(),
            bind_sources: bind_sources.len(),
            stdio: &self.stdio,
        };
        let (chan, child_chan) = Channel::pair()?;
        let into_cgroup = join.clone_into.as_ref().map(|f| f.as_raw_fd());
        log::debug!("clone3 of the container init (runc: \"nsexec container setup\")");
        let (child_pid, child_fd) = match clone_for_caller(plan.ns.clone_flags, into_cgroup)? {
            Forked::Child => {
                drop(chan);
                init::main(&plan, child_chan)
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
        cgroup.create()?;
        hit("create", "cgroup");
        cgroup.apply(&effective_resources(linux, self.rootless))?;
        hit("create", "resources");
        let pid = self.handshake(&plan, &chan, child_pid, child_fd, undo)?;
        hit("create", "id-maps");
        let pid_start = procfs::start_time_and_state(pid)
            .map(|(s, _)| s)
            .ok_or_else(|| Error::InitDied(format!("container process {pid} vanished")))?;
        if join.by_parent {
            cgroup.add_process(pid)?;
        }
        if let Some(adj) = process.oom_score_adj() {
            let path = format!("{pid}/oom_score_adj");
            proc_root::write(&path, adj.to_string().as_bytes())
                .map_err(|e| proc_root::field_error("process.oomScoreAdj", e))?;
        }
        chan.send(&ToInit::Go)?;
        hit("create", "go");
        let record = Record {
            id: self.id.clone(),
            bundle: bundle.dir.clone(),
            rootfs: bundle.rootfs.clone(),
            pid,
            pid_start,
            created: humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
            owner: owner_name(),
            cgroups_path: linux
                .cgroups_path()
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
            systemd_cgroup: self.systemd_cgroup,
            cgroup_created: cgroup.created_dirs(),
            cgroup_withheld: cgroup.withheld(),
            spec: spec.clone(),
        };
        let tmp = Container {
            dir: dir.to_path_buf(),
            record,
            console: None,
            cgroup: Default::default(),
        };
        let creating = tmp.state_with(Status::Creating);
        let state = creating.to_spec_json();
        if !bind_sources.is_empty() {
            chan.expect(FromInit::MountSources)?;
            super::bind_sources::send(pid, &bind_sources, &chan)?;
            hit("create", "bind-sources");
        }
        chan.expect(FromInit::MountsDone)?;
        hit("create", "mounts-done");
        // The init is in its network namespace: move the devices before the hooks.
        super::netdev::move_devices(spec, pid)?;
        #[allow(deprecated)]
        for kind in [HookKind::Prestart, HookKind::CreateRuntime] {
            hooks::run_all(kind, spec.hooks().as_ref(), &state, DefaultEnv::Runtime)?;
        }
        hit("create", "hooks-done");
        chan.send(&ToInit::HooksDone(Box::new(creating)))?;
        loop {
            match chan.recv_with_fd()? {
                (FromInit::Ready, _) => break,
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
        tmp.record.save(dir)?;
        hit("create", "state-saved");
        if let Some(p) = &self.pid_file {
            write_pid_file(p, pid)?;
            hit("create", "pid-file");
        }
        // The init sent the master before Ready: take it before `start`.
        let master = console_ours
            .map(crate::tty::receive_proxy_master)
            .transpose()?;
        // Recorded: from now on the init outlives this process (once it said so:
        // the parent exiting before the init disarmed would still kill it).
        chan.send(&ToInit::Handover)?;
        hit("create", "handover");
        chan.expect(FromInit::HandedOver)?;
        hit("create", "handed-over");
        Ok((tmp.record, master))
    }

    /// Parent side of the namespace protocol; returns the init's host pid.
    fn handshake(
        &self,
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
