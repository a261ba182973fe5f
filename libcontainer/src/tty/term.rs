//! Terminal modes and window sizes: raw mode with guaranteed restore, the
//! ONLCR tweak on a container's pty, and window size copies.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, OutputFlags, SetArg, Termios};

use super::error::{Result, TtyError};
use super::sys;

/// Whether `fd` is a terminal.
pub(super) fn is_tty(fd: BorrowedFd<'_>) -> bool {
    nix::unistd::isatty(fd.as_raw_fd()).unwrap_or(false)
}

/// A terminal switched to raw mode; the saved mode is put back on drop, on
/// every path out of the proxy (errors and unwinding included).
pub(super) struct RawMode<'fd> {
    tty: BorrowedFd<'fd>,
    saved: Termios,
}

impl<'fd> RawMode<'fd> {
    /// Puts `tty` in raw mode (no echo, no line editing, no signal keys: every
    /// byte goes to the container) but keeps output post-processing, so the
    /// container's bare `\n` still returns the cursor (as runc does).
    pub(super) fn enter(tty: BorrowedFd<'fd>) -> Result<Self> {
        let saved = tcgetattr(tty).map_err(|e| TtyError::sys("tcgetattr on stdin", e))?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        raw.output_flags |= OutputFlags::OPOST;
        tcsetattr(tty, SetArg::TCSANOW, &raw)
            .map_err(|e| TtyError::sys("tcsetattr raw mode on stdin", e))?;
        Ok(RawMode { tty, saved })
    }
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        if let Err(e) = tcsetattr(self.tty, SetArg::TCSANOW, &self.saved) {
            log::warn!("cannot restore the terminal mode of stdin: {e}");
        }
    }
}

/// Clears ONLCR on the container side of the pty (termios requests on a
/// master apply to its slave): the container's output keeps bare `\n`, so it
/// stays clean when our stdout is a file; a terminal on our side adds the
/// `\r` itself. runc does the same for its foreground terminal.
pub(super) fn clear_onlcr(master: BorrowedFd<'_>) -> Result<()> {
    let mut t = tcgetattr(master).map_err(|e| TtyError::sys("tcgetattr on pty master", e))?;
    t.output_flags.remove(OutputFlags::ONLCR);
    tcsetattr(master, SetArg::TCSANOW, &t)
        .map_err(|e| TtyError::sys("tcsetattr -onlcr on pty master", e))
}

/// Copies the window size of `from` to `to` (TIOCGWINSZ, then TIOCSWINSZ).
pub(super) fn copy_winsize(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<()> {
    let ws = sys::get_winsize(from).map_err(|e| TtyError::sys("ioctl TIOCGWINSZ", e))?;
    // A terminal that does not know its size (0x0) says nothing worth
    // copying: keep the container's (e.g. process.consoleSize).
    if ws.ws_row == 0 || ws.ws_col == 0 {
        return Ok(());
    }
    sys::set_winsize(to, &ws).map_err(|e| TtyError::sys("ioctl TIOCSWINSZ on pty master", e))
}

/// The `winsize` for `process.consoleSize`; `None` when either side is 0
/// (runc then leaves the kernel's default).
pub(super) fn winsize_from(size: &oci_spec::runtime::Box) -> Result<Option<libc::winsize>> {
    let (height, width) = (size.height(), size.width());
    if height == 0 || width == 0 {
        return Ok(None);
    }
    match (u16::try_from(height), u16::try_from(width)) {
        (Ok(ws_row), Ok(ws_col)) => Ok(Some(libc::winsize {
            ws_row,
            ws_col,
            ws_xpixel: 0,
            ws_ypixel: 0,
        })),
        _ => Err(TtyError::ConsoleSize { height, width }),
    }
}
