//! The program side: start a helper from a read-only view of the program's
//! binary, run one operation in it, collect the processes it made.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

use oci_spec::runtime::Process;

use super::spare::Helper;
use crate::container::{Container, ContainerBuilder, ExecOptions, ExecProcess, Stdio};
use crate::error::{Error, Result};
use crate::process::channel::Channel;
use crate::process::protocol::{FromHelper, HelperFd, HelperOp, ToHelper};
use crate::store::StateRoot;

/// `create` in a helper; the container is then loaded from its state root.
pub(crate) fn create_in_helper(builder: ContainerBuilder) -> Result<Container> {
    let root = StateRoot::new(builder.state_root())?;
    let id = builder.container_id().to_string();
    let stdio = builder.stdio_ref().clone();
    let preserve = builder.preserved_fds();
    let outcome = run(HelperOp::Create(builder), &stdio, preserve)?;
    match outcome.error {
        None => {
            let mut c = Container::load(&root, &id)?;
            c.set_console(outcome.console);
            Ok(c)
        }
        Some(e) => {
            if outcome.claimed && outcome.helper_died {
                remove_half_made(&root, &id);
            }
            Err(e)
        }
    }
}

/// `exec` in a helper.
pub(crate) fn exec_in_helper(
    c: &Container,
    process: &Process,
    opts: &ExecOptions,
) -> Result<ExecProcess> {
    let op = HelperOp::Exec {
        root: c.state_root_path(),
        id: c.id().to_string(),
        process: Box::new(process.clone()),
        opts: opts.clone(),
    };
    let outcome = run(op, &opts.stdio, opts.preserve_fds)?;
    match outcome.error {
        None => ExecProcess::new(outcome.pid, outcome.console),
        Some(e) => Err(e),
    }
}

/// What came back from a helper.
struct Outcome {
    pid: i32,
    console: Option<OwnedFd>,
    error: Option<Error>,
    claimed: bool,
    helper_died: bool,
    /// Whether the helper reported any process it made.
    adopted_any: bool,
}

impl Outcome {
    /// The helper died before it reported making anything (nothing to clean up).
    fn untouched(&self) -> bool {
        self.helper_died && !self.claimed && !self.adopted_any
    }
}

/// Runs `op` in a helper (the spare one, or one started now). An error that prevented
/// the helper from running at all is the `Err`; its own outcome is in the `Outcome`.
fn run(op: HelperOp, stdio: &Stdio, preserve_fds: u32) -> Result<Outcome> {
    let mut request = ToHelper {
        log_level: log::max_level() as u8,
        op,
        stdio: [false; 3],
    };
    // A spare has only stdio of its own: fds 3.. need a helper started for this request.
    let spare = if preserve_fds == 0 && crate::container::listen_fds() == 0 {
        super::spare::take()
    } else {
        None
    };
    if let Some(h) = spare {
        let (pid, given) = (h.pid, stdio.fds());
        request.stdio = given.map(|f| f.is_some());
        let sent = h
            .chan
            .send(&request)
            .and_then(|()| send_stdio(&h.chan, given));
        let out = conclude(h, sent);
        if !out.untouched() {
            return Ok(out);
        }
        // It died (killed behind our back) before it made anything: start one for this.
        log::debug!("spare kiln helper {pid} died before it started the operation; starting one");
        request.stdio = [false; 3];
    }
    let h = start(stdio, preserve_fds)?;
    let sent = h.chan.send(&request);
    Ok(conclude(h, sent))
}

/// Reads the helper's outcome (unless sending it the request failed), reaps it and the
/// intermediate processes it made as our children; on failure kills and reaps them all.
fn conclude(h: Helper, sent: Result<()>) -> Outcome {
    let mut out = Outcome {
        pid: 0,
        console: None,
        error: None,
        claimed: false,
        helper_died: false,
        adopted_any: false,
    };
    let mut adopted: Vec<i32> = Vec::new();
    if let Err(e) = sent.and_then(|()| collect(&h.chan, &mut out, &mut adopted)) {
        out.helper_died = true;
        out.error = Some(e);
    }
    reap(h.pid);
    out.adopted_any = !adopted.is_empty();
    for pid in adopted {
        if out.error.is_some() {
            kill_and_reap(pid);
        } else if pid != out.pid {
            reap(pid);
        }
    }
    out
}

/// The stdio fds for a helper that was started ahead of time.
fn send_stdio(chan: &Channel, given: [Option<RawFd>; 3]) -> Result<()> {
    for (n, fd) in given.into_iter().enumerate() {
        if let Some(fd) = fd {
            // SAFETY: `fd` belongs to the caller's Stdio, which outlives this call.
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            chan.send_with(&HelperFd(n as u8), Some(fd))?;
        }
    }
    Ok(())
}

/// Reads the helper's reports until its outcome.
fn collect(chan: &Channel, out: &mut Outcome, adopted: &mut Vec<i32>) -> Result<()> {
    loop {
        let (report, fd) = chan.recv_with_fd::<FromHelper>()?;
        match report {
            FromHelper::Claimed => out.claimed = true,
            FromHelper::Adopted(pid) => adopted.push(pid),
            FromHelper::Done { pid, console } => {
                out.pid = pid;
                out.console = if console { fd } else { None };
                return Ok(());
            }
            FromHelper::Failed(e) => {
                out.error = Some(e.into());
                return Ok(());
            }
        }
    }
}

/// SIGKILLs our own child `pid` (not reaped yet, so its pid cannot have been reused) and
/// collects it.
pub(super) fn kill_and_reap(pid: i32) {
    // ESRCH only: it has exited already; reaping collects it either way.
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
    reap(pid);
}

/// Waits for our child `pid` to exit and collects it.
pub(super) fn reap(pid: i32) {
    let pid = nix::unistd::Pid::from_raw(pid);
    loop {
        match nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::__WALL)) {
            Err(nix::Error::EINTR) => continue,
            Err(e) => {
                log::warn!("reaping kiln helper process {pid}: {e}");
                return;
            }
            Ok(_) => return,
        }
    }
}

/// A create whose helper died after making the container directory: remove
/// what it made, as `delete --force` would.
fn remove_half_made(root: &StateRoot, id: &str) {
    let result = match Container::load(root, id) {
        Ok(c) => c.delete(true),
        Err(_) => Container::delete_incomplete(root, id),
    };
    if let Err(e) = result {
        log::warn!("removing container {id:?} left by a killed kiln helper: {e}");
    }
}

/// A read-only view of this program's binary, made once: the helper is
/// executed from it, so no container process can write the program's file
/// through `/proc/<pid>/exe` (CVE-2019-5736).
fn protected_exe() -> Result<&'static OwnedFd> {
    static EXE: OnceLock<OwnedFd> = OnceLock::new();
    if let Some(fd) = EXE.get() {
        return Ok(fd);
    }
    let fd = crate::exe_guard::readonly_view_of_self()?;
    Ok(EXE.get_or_init(|| fd))
}

/// A helper started now, with `stdio` and the caller's fds 3..3+preserve_fds.
pub(super) fn start(stdio: &Stdio, preserve_fds: u32) -> Result<Helper> {
    let (ours, theirs) = Channel::pair()?;
    let pid = spawn(&theirs, stdio, preserve_fds)?;
    Ok(Helper { pid, chan: ours })
}

/// posix_spawn of the helper: the channel at fd `3 + preserve_fds (+ LISTEN_FDS)`,
/// the caller's fds 3.. preserved, stdio as given, signals at their defaults.
fn spawn(chan: &Channel, stdio: &Stdio, preserve_fds: u32) -> Result<i32> {
    let exe = protected_exe()?;
    let first_free = 3 + preserve_fds + crate::container::listen_fds();
    let at = first_free as RawFd;
    // Above every target, so that no dup2 of the plan clobbers a source.
    let high = |fd: RawFd| -> Result<OwnedFd> {
        let d = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(at + 1))
            .map_err(|e| Error::sys(format!("dup fd {fd} for the kiln helper"), e))?;
        // SAFETY: F_DUPFD_CLOEXEC returned a new fd that we own.
        Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(d) })
    };
    let mut plan: Vec<(OwnedFd, RawFd)> = Vec::new();
    for (i, fd) in stdio.fds().into_iter().enumerate() {
        if let Some(fd) = fd {
            plan.push((high(fd)?, i as RawFd));
        }
    }
    for target in 3..at {
        match high(target) {
            Ok(fd) => plan.push((fd, target)),
            Err(_) if target >= 3 + preserve_fds as RawFd => {}
            Err(e) => return Err(e),
        }
    }
    plan.push((high(chan.as_raw_fd())?, at));
    let exe_copy = high(exe.as_raw_fd())?;
    let path = CString::new(format!("/proc/self/fd/{}", exe_copy.as_raw_fd())).map_err(|_| {
        Error::Helper {
            message: "helper path".into(),
            errno: None,
        }
    })?;
    let env_value = format!("{at}:{}", std::process::id());
    super::posix::spawn(&path, &plan, &helper_env(&env_value))
}

/// The program's environment and the helper marker.
fn helper_env(value: &str) -> Vec<CString> {
    let prefix = format!("{}=", super::HELPER_ENV);
    let mut env = crate::exe_guard::environment();
    env.retain(|kv| !kv.as_bytes().starts_with(prefix.as_bytes()));
    if let Ok(marker) = CString::new(format!("{}={value}", super::HELPER_ENV)) {
        env.push(marker);
    }
    env
}
