//! The container init: what the cloned process does, in order, until it
//! becomes the user's program. Each step is a module of its own; `main` and
//! `steps` below are the whole sequence — fds, then `enter` (namespaces,
//! cgroup, loopback, keyring, bind sources), `build_root` (mounts, hooks,
//! pivot_root, devices, console, hostname, sysctl, masked paths),
//! `setup::ProcessSetup` (rlimits … seccomp, shared with exec), then Ready/handover, wait for
//! `start`, the last seccomp load, startContainer hooks and exec. Each step is
//! recorded as it starts ([`step`]): a failure names it ([`crate::InitError::step`]).

pub(crate) mod caps;
pub(crate) mod cgroup_join;
pub(crate) mod exec;
pub(crate) mod fds;
pub(crate) mod hostname;
pub(crate) mod id_maps;
pub(crate) mod loopback;
pub(crate) mod mempolicy;
pub(crate) mod namespaces;
pub(crate) mod rlimits;
pub(crate) mod sched;
pub(crate) mod seccomp;
pub(crate) mod security;
pub(crate) mod setup;
pub(crate) mod sysctl;
pub(crate) mod user;

use std::cell::{Cell, RefCell};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::{Process, Spec};

use crate::error::{Error, InitError, Result};
use crate::failpoint::hit;
use crate::hooks::{self, DefaultEnv, HookKind};
use crate::process::channel::Channel;
use crate::process::protocol::{FromInit, ToInit};
use crate::rootfs::{self, RootfsOptions};

thread_local! {
    /// The setup step this process (a container init or exec'd process) is at.
    static STEP: Cell<&'static str> = const { Cell::new("") };
    /// When each step started (`--timings` only), for [`take_step_marks`].
    static STEP_MARKS: RefCell<Vec<(&'static str, u64)>> = const { RefCell::new(Vec::new()) };
}

/// Records that this process now runs the setup step `name` (see
/// [`InitError::step`] for the list).
pub(crate) fn step(name: &'static str) {
    STEP.with(|s| s.set(name));
    if crate::timings::enabled() {
        let at = crate::timings::now_ns();
        STEP_MARKS.with(|m| m.borrow_mut().push((name, at)));
    }
}

/// The steps marked so far (`--timings`), named `<prefix><step>`, taken.
pub(crate) fn take_step_marks(prefix: &str) -> Vec<(String, u64)> {
    STEP_MARKS.with(|m| {
        m.take()
            .into_iter()
            .map(|(name, at)| (format!("{prefix}{name}"), at))
            .collect()
    })
}

/// The setup step this process is at ("" before the first).
pub(crate) fn current_step() -> &'static str {
    STEP.with(Cell::get)
}

/// Step `name` of the init, which is also a fail point.
fn at(name: &'static str) {
    step(name);
    hit("init", name);
}

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
    /// The container's stdin/stdout/stderr when not the caller's.
    pub stdio: &'a crate::container::Stdio,
}

/// Entry point of the cloned process: runs the steps, reports a failure to
/// the parent (and to stderr, since after `Ready` nobody may be listening)
/// and exits 255. Never returns.
pub(crate) fn main(plan: &InitPlan, chan: Channel) -> ! {
    let mut start_fifo = None;
    let mut handed_over = false;
    let run = |start_fifo: &mut Option<OwnedFd>, handed_over: &mut bool| {
        step("fds");
        // Until `create` hands the container over, the init dies with it (a
        // crashed `create` leaves no orphan; one that died before this line
        // is noticed as EOF on the channel at the next receive).
        die_with_parent(&chan)?;
        plan.stdio.install()?;
        fds_step(plan, &chan)?;
        crate::process::init_log::route_to(&chan);
        hit("init", "fds");
        log::debug!("container init running its steps (runc: \"child process in init()\")");
        steps(plan, &chan, start_fifo, handed_over)
    };
    let err = match run(&mut start_fifo, &mut handed_over) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let report = InitError::new(current_step(), &err);
    let msg = report.message();
    match start_fifo {
        // After `start`: it is waiting on the fifo for exec or this report.
        // `start` reports it (one line, as runc prints it); the container's
        // stderr gets it only if `start` is not there to read it.
        Some(fifo) => {
            if exec::report_to_start(&fifo, &report).is_err() {
                eprintln!("kiln: container init: {msg}");
            }
        }
        // Handed over, `start` not called yet: `create` has stopped listening.
        None if handed_over => eprintln!("kiln: container init: {msg}"),
        None => {
            // The parent closing the channel means it is aborting the create and
            // reports its own error; say nothing then.
            let parent_gone = matches!(err, Error::InitDied(_));
            if chan.send(&FromInit::Failed(report.clone())).is_err() && !parent_gone {
                eprintln!("kiln: container init: {msg}");
            }
        }
    }
    exit_now(255)
}

/// Makes this process die with its parent (`create` or `exec`): arms
/// PR_SET_PDEATHSIG(SIGKILL) — again after a fork, or a change of effective
/// uid/gid, which clear it — then checks that the parent, the other end of
/// `chan`, had not already gone before it was armed.
pub(crate) fn die_with_parent(chan: &Channel) -> Result<()> {
    parent_death_signal(libc::SIGKILL)?;
    if chan.peer_closed() {
        return Err(Error::InitDied("the runtime process exited".into()));
    }
    Ok(())
}

/// PR_SET_PDEATHSIG: `sig` when the parent (`create`) exits; 0 disarms.
pub(crate) fn parent_death_signal(sig: libc::c_int) -> Result<()> {
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

/// The init sequence. Returns only on failure; `handed_over` is set once
/// `create` no longer listens, `start_fifo` holds the exec fifo once `start`
/// was called.
fn steps(
    plan: &InitPlan,
    chan: &Channel,
    start_fifo: &mut Option<OwnedFd>,
    handed_over: &mut bool,
) -> Result<std::convert::Infallible> {
    let sources = enter(plan, chan)?;
    // Not only a new or joined user namespace: the runtime itself may run in one (rootless
    // podman runs it as uid 0 of its own, with configs that ask for none), and then, as in a
    // new one, mknod is refused, bind mounts keep their locked flags and setgroups may be
    // denied.
    let in_user_ns = plan.ns.in_user_namespace() || crate::rootless::in_user_namespace();
    let ro = RootfsOptions {
        spec: plan.spec,
        rootfs: plan.rootfs,
        bundle: plan.bundle,
        in_user_ns,
        new_cgroup_ns: plan.ns.new_cgroup,
        no_pivot: plan.no_pivot,
        sources: Some(&sources),
    };
    let mut state = build_root(plan, chan, &ro)?;
    let mut program = setup::ProcessSetup {
        stage: setup::Stage::Init,
        spec: plan.spec,
        process: plan.process,
        caps: plan.caps.as_ref(),
        seccomp: plan.seccomp.as_ref(),
        preserve_fds: plan.preserve_fds,
        setgroups: setup::setgroups_permitted(in_user_ns),
    }
    .run(chan)?;
    at("ready");
    if crate::timings::enabled() {
        chan.send(&FromInit::Timings(take_step_marks("init.")))?;
    }
    log::debug!(
        "container init set up, sending Ready (runc: \"init: closing the pipe to signal completion\")"
    );
    chan.send(&FromInit::Ready)?;
    chan.expect(ToInit::Handover)?;
    at("handover");
    parent_death_signal(0)?;
    chan.send(&FromInit::HandedOver)?;
    *handed_over = true;
    // created: wait for `kiln start`
    step("wait-start");
    *start_fifo = Some(exec::wait_for_start(plan.exec_fifo.as_fd())?);
    state["status"] = "created".into();
    program.load_seccomp(chan)?;
    // Under the container's seccomp filter, as current runc runs them; they
    // inherit the process' environment, HOME included.
    step("start-container-hooks");
    hooks::run_all(
        HookKind::StartContainer,
        plan.spec.hooks().as_ref(),
        &state,
        DefaultEnv::Container(program.env()),
    )?;
    Err(program.exec(plan.process))
}

/// namespaces (join/unshare on the slow path, wait for cgroup + id maps,
/// cgroupns) → cgroup join → loopback → session keyring → bind sources.
fn enter(plan: &InitPlan, chan: &Channel) -> Result<rootfs::ClonedSources> {
    at("namespaces");
    plan.ns.enter(chan)?;
    chan.expect(ToInit::Go)?;
    at("cgroup");
    cgroup_join::self_join(&plan.cgroup_tasks)?;
    plan.ns.finish()?;
    // Becoming root in a new user namespace changed the effective uid.
    die_with_parent(chan)?;
    if plan.ns.new_net {
        at("loopback");
        loopback::bring_up()?;
    }
    if !plan.no_new_keyring {
        step("keyring");
        security::new_session_keyring(plan.id)?;
    }
    at("bind-sources");
    receive_bind_sources(plan.bind_sources, chan)
}

/// mounts → (prestart/createRuntime in `create`) → createContainer hooks →
/// pivot_root → devices → console → hostname → sysctl → masked/read-only
/// paths. Returns the container state for the startContainer hooks.
fn build_root(plan: &InitPlan, chan: &Channel, ro: &RootfsOptions) -> Result<serde_json::Value> {
    let (spec, process) = (plan.spec, plan.process);
    at("mounts");
    let mut root = rootfs::mount_all(ro)?;
    at("mounts-done");
    chan.send(&FromInit::MountsDone)?;
    let state = match chan.recv()? {
        ToInit::HooksDone(state) => state,
        other => {
            return Err(Error::InitDied(format!(
                "expected HooksDone, got {other:?}"
            )))
        }
    };
    let state = hooks::container_state(&state, std::process::id());
    let hook_env = DefaultEnv::Container(process.env().as_deref().unwrap_or_default());
    at("create-container-hooks");
    hooks::run_all(
        HookKind::CreateContainer,
        spec.hooks().as_ref(),
        &state,
        hook_env,
    )?;
    at("pivot-root");
    rootfs::pivot_root(ro, &mut root)?;
    at("devices");
    rootfs::create_devices(ro, &mut root)?;
    if let Some(sock) = &plan.console_socket {
        step("console");
        crate::tty::setup_console(sock.as_fd(), process.console_size().as_ref(), true)?;
        crate::tty::chown_stdio(process.user().uid())?;
    }
    at("hostname");
    hostname::apply(spec)?;
    step("sysctl");
    sysctl::apply(spec)?;
    at("finalize-root");
    rootfs::finalize(ro, root)?;
    Ok(state)
}

/// Step "bind sources" (user namespace only): asks `create` to clone the
/// bind-mount sources with the host's credentials (see `rootfs::ClonedSources`)
/// now that the mount namespace exists, and receives `count` of them.
fn receive_bind_sources(count: usize, chan: &Channel) -> Result<rootfs::ClonedSources> {
    let mut sources = rootfs::ClonedSources::default();
    if count == 0 {
        return Ok(sources);
    }
    chan.send(&FromInit::MountSources)?;
    for _ in 0..count {
        match chan.recv_with_fd()? {
            (ToInit::MountSource(i), Some(fd)) => sources.push(i as usize, fd),
            (other, _) => {
                return Err(Error::InitDied(format!(
                    "expected a bind source, got {other:?}"
                )))
            }
        }
    }
    Ok(sources)
}

/// Exits at once, without running the parent's atexit handlers or destructors
/// (this process is a copy of the parent).
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(code) }
}
