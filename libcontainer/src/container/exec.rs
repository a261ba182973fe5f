//! `exec`: run another process inside a running container.
//!
//! The cloned helper joins the container's cgroup, marks itself non-dumpable
//! (so container processes cannot reach it or its binary through /proc),
//! joins the container's namespaces (user first) and forks once so that the
//! pid and time namespaces apply. The forked process then goes through the
//! same final steps as the container init (`init::setup`): rlimits, user,
//! cwd, caps, no_new_privs, seccomp, exec — with every fd but stdio and the
//! preserved ones closed on exec (CVE-2024-21626).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use super::create_support::{compile_seccomp, forward_notify_fd};
use super::exec_defaults;
use super::wait::{wait_forwarding, ExitStatus};
use super::Container;
use crate::error::{Error, InitError, Result};
use crate::failpoint::hit;
use crate::init::setup::{setgroups_permitted, ProcessSetup, Stage};
use crate::init::{
    caps::CapPlan, current_step, die_with_parent, exit_now, parent_death_signal, step,
};
use crate::process::channel::Channel;
use crate::process::clone::{clone_for_caller, fork_sibling, Forked};
use crate::process::pidfd;
use crate::process::protocol::{FromExec, ToExec};
use crate::state::Status;
use crate::store::{write_atomic, StateRoot};

/// Options of an exec besides the process itself.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ExecOptions {
    /// Write the new process' host pid here (atomically).
    pub pid_file: Option<PathBuf>,
    /// Pass fds 3..3+n to the process.
    pub preserve_fds: u32,
    /// With `process.terminal`: send the pty master to this unix socket.
    pub console_socket: Option<PathBuf>,
    /// With `process.terminal` and no console socket: keep the master for
    /// the caller ([`ExecProcess::take_console`]).
    pub terminal_proxy: bool,
    /// Exec in a paused container too (the process starts once it is resumed).
    pub ignore_paused: bool,
    /// The process' stdin, stdout and stderr (by default the caller's).
    #[serde(skip)]
    pub stdio: super::Stdio,
}

/// A process started by [`Container::exec`].
#[derive(Debug)]
pub struct ExecProcess {
    pid: i32,
    /// Its pidfd, taken while it could not have been reaped.
    pidfd: OwnedFd,
    /// The pty master (with `terminal_proxy`), ONLCR cleared.
    console: Option<OwnedFd>,
}

impl ExecProcess {
    /// A process made as the caller's child, still unreaped.
    pub(crate) fn new(pid: i32, console: Option<OwnedFd>) -> Result<Self> {
        Ok(ExecProcess {
            pid,
            pidfd: pidfd::open(pid)?,
            console,
        })
    }

    /// Host pid of the process.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The process' pidfd: readable once it exits (poll/epoll, or an async runtime).
    pub fn pidfd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// The pty master, when started with `terminal_proxy` (once).
    pub fn take_console(&mut self) -> Result<Option<OwnedFd>> {
        Ok(self.console.take())
    }

    /// Waits for it to exit and collects its status, leaving signal masks alone. It is a
    /// child of the caller when exec'd through the library from a program that called
    /// [`crate::init`](fn@crate::init); `kiln exec` makes itself a child subreaper instead.
    pub fn wait(&self) -> Result<ExitStatus> {
        super::wait::reap(self.pidfd.as_raw_fd(), self.pid)
    }

    /// Its status if it has exited (collecting it), `None` while it runs. Never blocks.
    pub fn try_wait(&self) -> Result<Option<ExitStatus>> {
        super::wait::try_reap(self.pidfd.as_raw_fd(), self.pid)
    }

    /// Waits as a foreground `kiln exec` does: proxying the terminal (with
    /// `terminal_proxy`) or forwarding signals (see [`Container::wait_forwarding_signals`]).
    pub fn wait_forwarding_signals(&mut self) -> Result<ExitStatus> {
        match self.take_console()? {
            Some(master) => super::wait::wait_with_terminal(self.pid, master),
            None => wait_forwarding(self.pid),
        }
    }
}

/// Namespace types that a joined process enters, in order: user first (it
/// grants the capabilities for the others), mount last but before pid/time.
const JOIN_ORDER: [(LinuxNamespaceType, &str); 8] = [
    (LinuxNamespaceType::User, "user"),
    (LinuxNamespaceType::Ipc, "ipc"),
    (LinuxNamespaceType::Uts, "uts"),
    (LinuxNamespaceType::Network, "net"),
    (LinuxNamespaceType::Cgroup, "cgroup"),
    (LinuxNamespaceType::Pid, "pid"),
    (LinuxNamespaceType::Time, "time"),
    (LinuxNamespaceType::Mount, "mnt"),
];

impl Container {
    /// Starts `process` inside this running (or created) container. Returns
    /// once the program has been executed (or failed to be).
    /// What `process` leaves out of its security and scheduling attributes
    /// (capabilities, noNewPrivileges, apparmorProfile, selinuxLabel, rlimits,
    /// ioPriority, scheduler, execCPUAffinity) comes from the container's
    /// `process`, as with runc.
    pub fn exec(&self, process: &Process, opts: &ExecOptions) -> Result<ExecProcess> {
        if crate::embed::needs_helper()? {
            return crate::embed::exec_in_helper(self, process, opts);
        }
        crate::timings::mark("plan");
        let process = &exec_defaults::inherit(process, self.spec().process().as_ref());
        self.check_exec_status(opts)?;
        let (console_ours, console_theirs) = crate::tty::console_sockets(
            process.terminal().unwrap_or(false),
            opts.console_socket.as_deref(),
            opts.terminal_proxy,
        )?;
        if process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::config(
                "process.args",
                "must name at least the program to run",
            ));
        }
        let joins = self.open_namespaces()?;
        let caps = process
            .capabilities()
            .as_ref()
            .map(CapPlan::from_spec)
            .transpose()?;
        let seccomp = self
            .spec()
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref())
            .map(|s| compile_seccomp(s, &self.state_root()))
            .transpose()?;
        let cgroup = self.cgroup()?;
        crate::timings::mark("clone");
        let (chan, child_chan) = Channel::pair()?;
        log::debug!("clone3 of the exec helper (runc: \"nsexec container setup\")");
        let (helper, helper_fd) = match clone_for_caller(0, None)? {
            Forked::Child => {
                drop(chan);
                let setup = JoinedSetup {
                    joins: &joins,
                    spec: self.spec(),
                    process,
                    caps: caps.as_ref(),
                    seccomp: seccomp.as_ref(),
                    console: console_theirs.as_ref(),
                    preserve_fds: opts.preserve_fds,
                    stdio: &opts.stdio,
                };
                let err = joined_process(&child_chan, &setup);
                let _ = child_chan.send(&FromExec::Failed(InitError::new(current_step(), &err)));
                exit_now(255)
            }
            Forked::Parent { pid, pidfd } => (pid, pidfd),
        };
        drop(child_chan);
        drop(console_theirs);
        hit("exec", "cloned");
        let (pid, early_notify_fd) = helper_report(&chan, &cgroup, helper, helper_fd)?;
        hit("exec", "reported");
        // Taken while the process cannot have been reaped (it is our child).
        let process_fd = pidfd::open(pid)?;
        if let Err(e) = self.hand_over(&chan, pid, early_notify_fd, opts) {
            // A process whose notify fd never reached the agent, or whose pid
            // file could not be written, must not run on.
            let _ = pidfd::send_signal(process_fd.as_fd(), libc::SIGKILL);
            return Err(e);
        }
        hit("exec", "executed");
        // Sent before the program was executed (as with runc, it may print
        // before ONLCR is cleared here).
        let console = console_ours
            .map(crate::tty::receive_proxy_master)
            .transpose()?;
        Ok(ExecProcess {
            pid,
            pidfd: process_fd,
            console,
        })
    }
}

/// Moves the exec helper into the container's cgroup. An unprivileged caller may move a
/// process only when it owns the cgroups between the process' cgroup and the container's (in
/// cgroup v2, `cgroup.procs` of their common ancestor): outside of them, e.g. a shell in its
/// login session and a container under the user's systemd instance, the process stays in the
/// caller's cgroup, with a warning (runc does the same for rootless containers).
fn join_cgroup(cgroup: &kiln_cgroups::Manager, helper: i32) -> Result<()> {
    match cgroup.add_process(helper) {
        Err(e) if e.is_permission_denied() && !nix::unistd::geteuid().is_root() => {
            log::warn!("{e}: the exec'd process stays in the caller's cgroup");
            Ok(())
        }
        other => Ok(other?),
    }
}

/// Lets the helper join the container's cgroup and go on; returns the exec'd process' pid it
/// reports (and the process' notify fd if that came first: they share the channel and run
/// concurrently), after reaping the helper.
fn helper_report(
    chan: &Channel,
    cgroup: &kiln_cgroups::Manager,
    helper: i32,
    helper_fd: OwnedFd,
) -> Result<(i32, Option<OwnedFd>)> {
    let mut early_notify_fd = None;
    let result = (|| {
        crate::timings::mark("cgroup");
        join_cgroup(cgroup, helper)?;
        crate::timings::mark("wait-process");
        chan.send(&ToExec::Go)?;
        loop {
            match chan.recv_with_fd()? {
                (FromExec::ProcessPid(p), _) => {
                    crate::embed::adopted(p)?;
                    return Ok(p);
                }
                (FromExec::SeccompFd, Some(fd)) => early_notify_fd = Some(fd),
                (FromExec::Timings(marks), _) => crate::timings::merge(marks),
                (other, _) => {
                    return Err(Error::InitDied(format!(
                        "unexpected {other:?} from exec helper"
                    )))
                }
            }
        }
    })();
    // The helper exits right after reporting; reap it either way.
    if result.is_err() {
        let _ = pidfd::send_signal(helper_fd.as_fd(), libc::SIGKILL);
    }
    let _ = pidfd::wait_exit(helper_fd.as_fd(), None);
    pidfd::reap_if_child(helper_fd.as_fd());
    Ok((result?, early_notify_fd))
}

impl Container {
    /// Writes the pid file and hands the process over: from then on it outlives this one
    /// (until then it dies with it; it waits for `Handover` only once set up, so this costs
    /// no round trip). Then, until the program was executed (EOF: the channel is
    /// close-on-exec), hands its seccomp notify fd, if any, to the agent.
    fn hand_over(
        &self,
        chan: &Channel,
        pid: i32,
        mut notify_fd: Option<OwnedFd>,
        opts: &ExecOptions,
    ) -> Result<()> {
        crate::timings::mark("handover");
        if let Some(p) = &opts.pid_file {
            write_atomic(p, pid.to_string().as_bytes(), 0o644)?;
            hit("exec", "pid-file");
        }
        if let Err(e) = chan.send(&ToExec::Handover) {
            // The process does not wait for `Handover` before failing (that saves a round
            // trip): if it is gone, the reason is already queued on the channel.
            return Err(match chan.recv_with_fd::<FromExec>() {
                Err(failed @ Error::InitFailed(_)) => failed,
                _ => e,
            });
        }
        hit("exec", "handover");
        crate::timings::mark("execve");
        loop {
            if let Some(fd) = notify_fd.take() {
                let state = self.state().to_spec_json();
                forward_notify_fd(self.spec(), fd.as_fd(), pid, &state)?;
            }
            match chan.recv_with_fd() {
                Err(Error::InitDied(_)) => return Ok(()),
                Ok((FromExec::SeccompFd, Some(fd))) => notify_fd = Some(fd),
                Ok((FromExec::Timings(marks), _)) => crate::timings::merge(marks),
                Ok((other, _)) => {
                    return Err(Error::InitDied(format!(
                        "unexpected {other:?} from exec process"
                    )))
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Refuses an exec in a container that is not running or created (paused: only with
    /// `ignore_paused`).
    fn check_exec_status(&self, opts: &ExecOptions) -> Result<()> {
        let status = self.status();
        match status {
            Status::Running | Status::Created => Ok(()),
            Status::Paused if opts.ignore_paused => Ok(()),
            Status::Paused => Err(self.refuse(status, "cannot exec in a paused container")),
            _ => Err(self.refuse(status, "cannot exec in a container that is not running")),
        }
    }

    /// The container's namespaces in join order, opened while the init is pinned by its
    /// pid (checked alive afterwards, so they are its namespaces).
    fn open_namespaces(&self) -> Result<Vec<(OwnedFd, CloneFlags)>> {
        let init = self.record.pid;
        let ns_types: Vec<LinuxNamespaceType> = self
            .spec()
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .map(|v| v.iter().map(|n| n.typ()).collect())
            .unwrap_or_default();
        let mut joins: Vec<(OwnedFd, CloneFlags)> = Vec::new();
        for (typ, name) in JOIN_ORDER {
            if ns_types.contains(&typ) {
                let path = format!("/proc/{init}/ns/{name}");
                let f = std::fs::File::open(&path).map_err(|e| Error::io("open", &path, e))?;
                joins.push((OwnedFd::from(f), crate::init::namespaces::flag(typ)));
            }
        }
        if self.pid().is_none() {
            return Err(self.refuse(Status::Stopped, "container exited"));
        }
        Ok(joins)
    }

    /// The state root the container lives in.
    fn state_root(&self) -> StateRoot {
        StateRoot::existing(self.state_root_path())
    }
}

/// What the exec'd process needs, prepared before the clone.
struct JoinedSetup<'a> {
    joins: &'a [(OwnedFd, CloneFlags)],
    spec: &'a Spec,
    process: &'a Process,
    caps: Option<&'a CapPlan>,
    seccomp: Option<&'a kiln_seccomp::CompiledFilter>,
    console: Option<&'a OwnedFd>,
    preserve_fds: u32,
    stdio: &'a super::Stdio,
}

/// In the cloned helper: join, fork a sibling, and (in it) become `process`.
/// Returns only on failure.
fn joined_process(chan: &Channel, s: &JoinedSetup) -> Error {
    let run = || -> Result<std::convert::Infallible> {
        step("setns");
        nix::sys::prctl::set_dumpable(false).map_err(|e| Error::sys("prctl PR_SET_DUMPABLE", e))?;
        chan.expect(ToExec::Go)?;
        crate::process::init_log::route_to(chan);
        log::debug!("exec helper joining the container (runc: \"child process in init()\")");
        hit("exec-helper", "setns");
        for (fd, flag) in s.joins {
            nix::sched::setns(fd.as_fd(), *flag)
                .map_err(|e| Error::sys(format!("setns {flag:?}"), e))?;
        }
        step("fork");
        hit("exec-helper", "fork");
        // A sibling: a child of `exec`, which it dies with until it executes.
        if let Forked::Parent { pid, .. } = fork_sibling()? {
            let code = if chan.send(&FromExec::ProcessPid(pid)).is_ok() {
                0
            } else {
                1
            };
            exit_now(code);
        }
        die_with_parent(chan)?;
        s.stdio.install()?;
        let process = s.process;
        if let Some(sock) = s.console {
            step("console");
            hit("exec-process", "console");
            crate::tty::setup_console(sock.as_fd(), process.console_size().as_ref(), false)?;
            crate::tty::chown_stdio(process.user().uid())?;
        }
        // As for the init: a joined user namespace, or the runtime's own.
        let in_user_ns = s
            .joins
            .iter()
            .any(|(_, f)| f.contains(CloneFlags::CLONE_NEWUSER))
            || crate::rootless::in_user_namespace();
        let mut program = ProcessSetup {
            stage: Stage::ExecProcess,
            spec: s.spec,
            process,
            caps: s.caps,
            seccomp: s.seccomp,
            preserve_fds: s.preserve_fds,
            setgroups: setgroups_permitted(in_user_ns),
        }
        .run(chan)?;
        hit("exec-process", "ready");
        step("handover");
        if crate::timings::enabled() {
            chan.send(&FromExec::Timings(crate::init::take_step_marks("exec.")))?;
        }
        chan.expect(ToExec::Handover)?;
        hit("exec-process", "handover");
        // Handed over (the pid file is written): the program outlives `exec`.
        parent_death_signal(0)?;
        program.load_seccomp(chan)?;
        log::debug!("exec'd process set up (runc: \"setns_init: about to exec\")");
        Err(program.exec(process))
    };
    match run() {
        Ok(never) => match never {},
        Err(e) => e,
    }
}
