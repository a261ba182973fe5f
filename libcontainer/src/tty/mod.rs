//! Terminals for `process.terminal`: the init allocates a pty inside the
//! container and sends its master out over a *console socket*; whoever holds
//! the other end owns the terminal.
//!
//! - With `--console-socket PATH` (conmon, containerd-shim, CRI-O), the
//!   runtime [`connect_console_socket`]s before the clone and the engine
//!   receives the master.
//! - In the foreground (`kiln run` without `-d`), kiln plays the engine: a
//!   [`console_socketpair`], [`receive_master`] after create, then [`proxy`]
//!   between its own stdio and the master until the container exits.
//! - In the init, [`setup_console`] (after pivot_root and devices, before
//!   switching user) allocates the pty, makes it the controlling terminal and
//!   stdio, and sends the master exactly as runc does (one `sendmsg`, data
//!   [`MASTER_NAME`], SCM_RIGHTS with the master).
//!
//! [`check_terminal_options`] refuses the flag combinations runc refuses.

mod console_mount;
mod error;
mod proxy;
mod pty;
mod socket;
mod stdio;
mod sys;
mod term;
mod winch;

#[cfg(test)]
mod tests;

pub use error::TtyError;
pub use proxy::{proxy, proxy_with};
pub(crate) use pty::setup_console;
pub use pty::DEV_CONSOLE;
pub(crate) use socket::{connect_console_socket, console_socketpair};
pub use socket::{receive_master, MASTER_NAME};
pub(crate) use stdio::chown_stdio;

/// Receives the pty master from our end of a foreground console socketpair
/// and clears ONLCR on it right away, before the process can print (the
/// container's bare `\n` stays bare, as runc's foreground terminal does).
pub(crate) fn receive_proxy_master(
    ours: std::os::fd::OwnedFd,
) -> Result<std::os::fd::OwnedFd, TtyError> {
    use std::os::fd::AsFd;
    let (master, _) = receive_master(ours.as_fd())?;
    term::clear_onlcr(master.as_fd())?;
    Ok(master)
}

/// Checks `process.terminal` against `--console-socket` and detaching, with
/// runc's rules: a detached terminal needs a console socket (someone must hold
/// the master), and a console socket is only for a detached terminal.
/// `create` always detaches; `run`/`exec` detach with `-d`.
pub fn check_terminal_options(
    terminal: bool,
    detach: bool,
    console_socket: bool,
) -> Result<(), TtyError> {
    if detach && terminal && !console_socket {
        return Err(TtyError::Options(
            "cannot allocate tty if kiln will detach without setting console socket",
        ));
    }
    if console_socket && (!detach || !terminal) {
        return Err(TtyError::Options(
            "cannot use console socket if kiln will not detach or allocate tty",
        ));
    }
    Ok(())
}

/// The console sockets for a process with `terminal`: `(ours, the
/// process')`. With `console_socket` the engine gets the master (ours is
/// `None`); with `proxy` we keep the other end of a socketpair; otherwise
/// (detached, no socket) it is refused as runc refuses it. Both `None`
/// without a terminal.
pub(crate) fn console_sockets(
    terminal: bool,
    console_socket: Option<&std::path::Path>,
    proxy: bool,
) -> Result<(Option<std::os::fd::OwnedFd>, Option<std::os::fd::OwnedFd>), TtyError> {
    if !terminal {
        return Ok((None, None));
    }
    check_terminal_options(true, !proxy, console_socket.is_some())?;
    match console_socket {
        Some(path) => Ok((None, Some(connect_console_socket(path)?))),
        None => {
            let (ours, theirs) = console_socketpair()?;
            Ok((Some(ours), Some(theirs)))
        }
    }
}
