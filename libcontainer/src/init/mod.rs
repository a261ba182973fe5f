//! The container init: what the cloned process does, in order, until it
//! becomes the user's program. Each step is a module of its own; `main` and
//! `steps` below are the whole sequence — fds, then `enter` (namespaces,
//! cgroup, loopback, keyring, bind sources), `build_root` (mounts, hooks,
//! pivot_root, devices, console, hostname, sysctl, masked paths),
//! `become_process` (rlimits … seccomp), then Ready/handover, wait for
//! `start`, the last seccomp load, startContainer hooks and exec.

pub(crate) mod caps;
pub(crate) mod cgroup_join;
pub(crate) mod exec;
pub(crate) mod fds;
pub(crate) mod hostname;
pub(crate) mod loopback;
pub(crate) mod mempolicy;
pub(crate) mod namespaces;
pub(crate) mod rlimits;
pub(crate) mod sched;
pub(crate) mod seccomp;
pub(crate) mod security;
pub(crate) mod sysctl;
pub(crate) mod user;

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::{Process, Spec};

use crate::error::{Error, Result};
use crate::hooks::{self, DefaultEnv, HookKind};
use crate::process::channel::{Channel, Msg};
use crate::rootfs::{self, RootfsOptions};

/// Everything the init needs, prepared by `create` before the clone so the
/// child only acts and never parses.
pub(crate) struct InitPlan<'a> {
    pub id: &'a str,
    pub spec: &'a Spec,
    pub process: &'a Process,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub ns: namespaces::NamespacePlan,
    pub caps: Option<caps::CapPlan>,
    pub seccomp: Option<kiln_seccomp::CompiledFilter>,
    /// v1 `tasks` files the init writes itself into (empty: the parent joins it).
    pub cgroup_tasks: Vec<std::path::PathBuf>,
    /// The console socket the init sends its pty master to (process.terminal).
    pub console_socket: Option<OwnedFd>,
    /// O_PATH fd of the container's exec fifo (reopened to wait for `start`).
    pub exec_fifo: OwnedFd,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// fds 3..3+preserve_fds are passed to the container.
    pub preserve_fds: u32,
    /// How many bind sources `create` clones for the init (user namespace).
    pub bind_sources: usize,
}

/// Entry point of the cloned process: runs the steps, reports a failure to
/// the parent (and to stderr, since after `Ready` nobody may be listening)
/// and exits 255. Never returns.
pub(crate) fn main(plan: &InitPlan, chan: Channel) -> ! {
    let mut start_fifo = None;
    let run = |start_fifo: &mut Option<OwnedFd>| {
        // Until `create` hands the container over, the init dies with it (a
        // crashed `create` leaves no orphan; one that died before this line
        // is noticed as EOF on the channel at the next receive).
        parent_death_signal(libc::SIGKILL)?;
        fds_step(plan, &chan)?;
        crate::process::init_log::route_to(&chan);
        log::debug!("container init running its steps (runc: \"child process in init()\")");
        steps(plan, &chan, start_fifo)
    };
    let err = match run(&mut start_fifo) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let msg = err.to_string();
    match start_fifo {
        // After `start`: it is waiting on the fifo for exec or this text.
        // `start` reports it (one line, as runc prints it); the container's
        // stderr gets it only if `start` is not there to read it.
        Some(fifo) => {
            if nix::unistd::write(&fifo, msg.as_bytes()).is_err() {
                eprintln!("kiln: container init: {msg}");
            }
        }
        None => {
            // The parent closing the channel means it is aborting the create and
            // reports its own error; say nothing then.
            let parent_gone = matches!(err, Error::InitDied(_));
            if chan.send(&Msg::Failed(msg.clone())).is_err() && !parent_gone {
                eprintln!("kiln: container init: {msg}");
            }
        }
    }
    exit_now(255)
}

/// PR_SET_PDEATHSIG: `sig` when the parent (`create`) exits; 0 disarms.
fn parent_death_signal(sig: libc::c_int) -> Result<()> {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and no pointers.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) } < 0 {
        return Err(Error::sys("prctl PR_SET_PDEATHSIG", nix::Error::last()));
    }
    Ok(())
}

/// Step "fds": keep only what the init needs (see [`fds`]).
fn fds_step(plan: &InitPlan, chan: &Channel) -> Result<()> {
    use std::os::fd::AsRawFd;
    let mut keep = vec![chan.as_raw_fd(), plan.exec_fifo.as_raw_fd()];
    keep.extend(plan.console_socket.as_ref().map(|s| s.as_raw_fd()));
    keep.extend(plan.ns.joins.iter().map(|(fd, _)| fd.as_raw_fd()));
    fds::close_inherited(plan.preserve_fds, &keep)
}

/// The init sequence. Returns only on failure; `start_fifo` holds the exec
/// fifo once `start` was called.
fn steps(
    plan: &InitPlan,
    chan: &Channel,
    start_fifo: &mut Option<OwnedFd>,
) -> Result<std::convert::Infallible> {
    let sources = enter(plan, chan)?;
    let ro = RootfsOptions {
        spec: plan.spec,
        rootfs: plan.rootfs,
        bundle: plan.bundle,
        in_user_ns: plan.ns.new_user,
        new_cgroup_ns: plan.ns.new_cgroup,
        no_pivot: plan.no_pivot,
        sources: Some(&sources),
    };
    let mut state = build_root(plan, chan, &ro)?;
    let (program, filter) = become_process(plan, chan)?;
    log::debug!(
        "container init set up, sending Ready (runc: \"init: closing the pipe to signal completion\")"
    );
    chan.send(&Msg::Ready)?;
    chan.expect(Msg::Handover)?;
    parent_death_signal(0)?;
    chan.send(&Msg::HandedOver)?;
    // created: wait for `kiln start`
    *start_fifo = Some(exec::wait_for_start(plan.exec_fifo.as_fd())?);
    state["status"] = "created".into();
    if let Some(f) = filter {
        seccomp::load(f, chan)?;
    }
    // Under the container's seccomp filter, as current runc runs them; they
    // inherit the process' environment, HOME included.
    hooks::run_all(
        HookKind::StartContainer,
        plan.spec.hooks().as_ref(),
        &state,
        DefaultEnv::Container(program.env()),
    )?;
    sched::final_affinity(plan.process)?;
    exec::reset_signals();
    Err(program.exec())
}

/// namespaces (join/unshare on the slow path, wait for cgroup + id maps,
/// cgroupns) → cgroup join → loopback → session keyring → bind sources.
fn enter(plan: &InitPlan, chan: &Channel) -> Result<rootfs::ClonedSources> {
    plan.ns.enter(chan)?;
    chan.expect(Msg::Go)?;
    cgroup_join::self_join(&plan.cgroup_tasks)?;
    plan.ns.finish()?;
    if plan.ns.new_net {
        loopback::bring_up()?;
    }
    if !plan.no_new_keyring {
        security::new_session_keyring(plan.id)?;
    }
    receive_bind_sources(plan.bind_sources, chan)
}

/// mounts → (prestart/createRuntime in `create`) → createContainer hooks →
/// pivot_root → devices → console → hostname → sysctl → masked/read-only
/// paths. Returns the container state for the startContainer hooks.
fn build_root(plan: &InitPlan, chan: &Channel, ro: &RootfsOptions) -> Result<serde_json::Value> {
    let (spec, process) = (plan.spec, plan.process);
    let mut root = rootfs::mount_all(ro)?;
    chan.send(&Msg::MountsDone)?;
    let state = match chan.recv()? {
        Msg::HooksDone(state) => state,
        other => {
            return Err(Error::InitDied(format!(
                "expected HooksDone, got {other:?}"
            )))
        }
    };
    let mut state: serde_json::Value = serde_json::from_str(&state)
        .map_err(|e| Error::InitDied(format!("container state from create: {e}")))?;
    // Hooks run in the container namespace get the pid as seen by the container
    // (runtime.md, State: `pid`).
    state["pid"] = std::process::id().into();
    let hook_env = DefaultEnv::Container(process.env().as_deref().unwrap_or_default());
    hooks::run_all(
        HookKind::CreateContainer,
        spec.hooks().as_ref(),
        &state,
        hook_env,
    )?;
    rootfs::pivot_root(ro, &mut root)?;
    rootfs::create_devices(ro, &mut root)?;
    if let Some(sock) = &plan.console_socket {
        crate::tty::setup_console(sock.as_fd(), process.console_size().as_ref(), true)?;
        crate::tty::chown_stdio(process.user().uid())?;
    }
    hostname::apply(spec)?;
    sysctl::apply(spec)?;
    rootfs::finalize(ro, root)?;
    Ok(state)
}

/// rlimits → scheduling → program lookup → labels → fds close-on-exec →
/// (seccomp without no_new_privs) → bounding set → user → cwd → caps →
/// no_new_privs → (seccomp with a notify listener). Returns the program and
/// the filter still to load after `start`.
fn become_process<'p>(
    plan: &'p InitPlan,
    chan: &Channel,
) -> Result<(exec::ExecPlan, Option<&'p kiln_seccomp::CompiledFilter>)> {
    let (spec, process) = (plan.spec, plan.process);
    rlimits::apply(process)?;
    sched::apply(spec, process)?;
    let mut program = exec::ExecPlan::resolve(process)?;
    security::set_exec_labels(process)?;
    // Before any filter is loaded: a profile need not allow close_range.
    program.close_fds_on_exec(3 + plan.preserve_fds)?;
    // Without no_new_privs, loading seccomp needs CAP_SYS_ADMIN: do it while
    // still root (the profile then has to allow setresuid/capset, as with runc).
    // A notify listener must reach the agent while `create` still runs.
    let nnp = process.no_new_privileges().unwrap_or(false);
    let mut filter = plan.seccomp.as_ref();
    if !nnp {
        if let Some(f) = filter.take() {
            seccomp::load(f, chan)?;
        }
    }
    if let Some(c) = &plan.caps {
        c.apply_bounding()?;
    }
    user::switch(process, !plan.ns.new_user || setgroups_allowed())?;
    std::env::set_current_dir(process.cwd()).map_err(|e| {
        Error::config(
            "process.cwd",
            format!("chdir {}: {e}", process.cwd().display()),
        )
    })?;
    if let Some(c) = &plan.caps {
        c.apply()?;
    }
    security::no_new_privs(process)?;
    if filter.is_some_and(|f| f.uses_notify()) {
        if let Some(f) = filter.take() {
            seccomp::load(f, chan)?;
        }
    }
    Ok((program, filter))
}

/// Step "bind sources" (user namespace only): asks `create` to clone the
/// bind-mount sources with the host's credentials (see `rootfs::ClonedSources`)
/// now that the mount namespace exists, and receives `count` of them.
fn receive_bind_sources(count: usize, chan: &Channel) -> Result<rootfs::ClonedSources> {
    let mut sources = rootfs::ClonedSources::default();
    if count == 0 {
        return Ok(sources);
    }
    chan.send(&Msg::MountSources)?;
    for _ in 0..count {
        match chan.recv_with_fd()? {
            (Msg::MountSource(i), Some(fd)) => sources.push(i as usize, fd),
            (Msg::Failed(e), _) => return Err(Error::Init(e)),
            (other, _) => {
                return Err(Error::InitDied(format!(
                    "expected a bind source, got {other:?}"
                )))
            }
        }
    }
    Ok(sources)
}

/// Whether this user namespace allows setgroups(2) (the parent writes gid_map as
/// a privileged process, so it normally does).
fn setgroups_allowed() -> bool {
    std::fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() == "allow")
        .unwrap_or(true)
}

/// Exits at once, without running the parent's atexit handlers or destructors
/// (this process is a copy of the parent).
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(code) }
}
