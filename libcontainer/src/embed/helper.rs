//! The helper side: a process started from the program's binary that runs one
//! `create` or `exec` and exits (see the [module docs](super)).

use std::ffi::OsStr;
use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

use super::wire::WireError;
use crate::container::{Container, ContainerBuilder};
use crate::error::{Error, Result};
use crate::process::channel::Channel;
use crate::process::protocol::{FromHelper, HelperFd, HelperOp, ToHelper};
use crate::store::StateRoot;

/// This process' channel to the program, when it is a helper.
static CHANNEL: OnceLock<Channel> = OnceLock::new();

/// Whether this process is a kiln helper (it clones for the program).
pub(crate) fn is_helper() -> bool {
    CHANNEL.get().is_some()
}

/// In a helper: `pid` was cloned as a child of the program.
pub(crate) fn adopted(pid: i32) -> Result<()> {
    report(&FromHelper::Adopted(pid))
}

/// In a helper: the container directory is ours now.
pub(crate) fn claimed() -> Result<()> {
    report(&FromHelper::Claimed)
}

fn report(r: &FromHelper) -> Result<()> {
    match CHANNEL.get() {
        Some(chan) => send(chan, r, None),
        None => Ok(()),
    }
}

fn send(chan: &Channel, r: &FromHelper, fd: Option<std::os::fd::BorrowedFd>) -> Result<()> {
    chan.send_with(r, fd)
}

/// The helper's life: never returns. Exit status 0 once the outcome was
/// sent, 1 when the program could not be told.
pub(super) fn run(value: &OsStr) -> ! {
    std::env::remove_var(super::HELPER_ENV);
    let code = match connect(value) {
        Ok(chan) => serve(chan),
        Err(e) => {
            eprintln!("kiln helper: {e}");
            1
        }
    };
    std::process::exit(code)
}

/// Dies with the program, then takes the channel it passed.
fn connect(value: &OsStr) -> Result<&'static Channel> {
    let bad = || Error::Helper {
        message: format!("malformed {}={value:?}", super::HELPER_ENV),
        errno: None,
    };
    let text = value.to_str().ok_or_else(bad)?;
    let (fd, parent) = text.split_once(':').ok_or_else(bad)?;
    let fd: RawFd = fd.parse().map_err(|_| bad())?;
    let parent: i32 = parent.parse().map_err(|_| bad())?;
    crate::init::parent_death_signal(libc::SIGKILL)?;
    if nix::unistd::getppid().as_raw() != parent {
        return Err(Error::Helper {
            message: "the program that started this helper exited".into(),
            errno: None,
        });
    }
    nix::fcntl::fcntl(
        fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .map_err(|e| Error::sys(format!("fcntl F_SETFD on helper channel fd {fd}"), e))?;
    // SAFETY: the program placed the helper's end of its channel at this fd for us, and
    // nothing else in this fresh process owns it.
    let chan = Channel::from_fd(unsafe { OwnedFd::from_raw_fd(fd) });
    Ok(CHANNEL.get_or_init(|| chan))
}

fn serve(chan: &'static Channel) -> i32 {
    let outcome = receive(chan).and_then(|req| {
        install_logger(chan, req.log_level);
        receive_stdio(chan, req.stdio)?;
        execute(req.op)
    });
    let sent = match outcome {
        Ok((pid, console)) => send(
            chan,
            &FromHelper::Done {
                pid,
                console: console.is_some(),
            },
            console.as_ref().map(|c| c.as_fd()),
        ),
        Err(e) => send(chan, &FromHelper::Failed(WireError::from(&e)), None),
    };
    i32::from(sent.is_err())
}

fn receive(chan: &Channel) -> Result<ToHelper> {
    chan.recv::<ToHelper>()
}

/// The stdio streams the program sends (to a helper started ahead of time) become this
/// helper's 0, 1 and 2, which the container process inherits.
fn receive_stdio(chan: &Channel, given: [bool; 3]) -> Result<()> {
    let mut stdio = crate::container::Stdio::default();
    for _ in given.iter().filter(|g| **g) {
        let (HelperFd(n), fd) = chan.recv_with_fd::<HelperFd>()?;
        let fd = fd.ok_or_else(|| Error::Helper {
            message: format!("stdio {n} from the program came without its fd"),
            errno: None,
        })?;
        stdio = match n {
            0 => stdio.stdin(fd),
            1 => stdio.stdout(fd),
            2 => stdio.stderr(fd),
            _ => {
                return Err(Error::Helper {
                    message: format!("stdio {n} from the program: not 0, 1 or 2"),
                    errno: None,
                })
            }
        };
    }
    stdio.install()
}

/// Runs the operation; returns the process made and a pty master for the program.
fn execute(op: HelperOp) -> Result<(i32, Option<OwnedFd>)> {
    match op {
        HelperOp::Create(builder) => create(builder),
        HelperOp::Exec {
            root,
            id,
            process,
            opts,
        } => {
            let c = Container::load(&StateRoot::existing(root), &id)?;
            let mut p = c.exec(&process, &opts)?;
            let console = p.take_console()?;
            Ok((p.pid(), console))
        }
    }
}

fn create(builder: ContainerBuilder) -> Result<(i32, Option<OwnedFd>)> {
    let mut c = builder.create()?;
    let console = c.take_console()?;
    let pid = c
        .pid()
        .ok_or_else(|| Error::InitDied("the container init exited".into()))?;
    Ok((pid, console))
}

/// The helper's log records go to the program (as the init's go to `create`).
fn install_logger(chan: &Channel, level: u8) {
    crate::process::init_log::route_to(chan);
    let filter = match level {
        0 => log::LevelFilter::Off,
        1 => log::LevelFilter::Error,
        2 => log::LevelFilter::Warn,
        3 => log::LevelFilter::Info,
        4 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    if log::set_logger(&Forwarder).is_ok() {
        log::set_max_level(filter);
    }
}

/// A logger that only forwards (see [`crate::process::init_log::forward`]).
struct Forwarder;

impl log::Log for Forwarder {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            crate::process::init_log::forward(r.level(), &r.args().to_string());
        }
    }

    fn flush(&self) {}
}
