//! Init side: allocate the container's pty, make it the init's controlling
//! terminal and stdio, and hand the master out over the console socket.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::{dup2, getpid, getsid, setsid};

use super::error::{Result, TtyError};
use super::{console_mount, socket, sys, term};

/// Where the container's console is bind-mounted (as runc does for the init).
pub const DEV_CONSOLE: &str = "/dev/console";

/// The pty pair, both ends above fd 2.
struct Pty {
    master: OwnedFd,
    slave: OwnedFd,
    /// `/dev/pts/N`, for messages and the console mount.
    name: String,
}

impl Pty {
    /// Opens `/dev/ptmx` (in a container: `pts/ptmx` of its own devpts),
    /// unlocks it and opens its slave through the master (TIOCGPTPEER).
    fn open() -> Result<Pty> {
        let ptmx = "/dev/ptmx";
        let master = sys::open(ptmx, OFlag::O_RDWR | OFlag::O_NOCTTY, Mode::empty())
            .and_then(sys::above_stdio)
            .map_err(|e| TtyError::path("open", ptmx, e))?;
        let n = sys::pty_number(master.as_fd())
            .map_err(|e| TtyError::sys("ioctl TIOCGPTN on /dev/ptmx", e))?;
        let name = format!("/dev/pts/{n}");
        sys::unlock_pt(master.as_fd())
            .map_err(|e| TtyError::sys(format!("ioctl TIOCSPTLCK (unlock {name})"), e))?;
        let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
        let slave = sys::open_peer(master.as_fd(), flags)
            .and_then(sys::above_stdio)
            .map_err(|e| TtyError::sys(format!("ioctl TIOCGPTPEER (open {name})"), e))?;
        Ok(Pty {
            master,
            slave,
            name,
        })
    }
}

/// Init side of `process.terminal`; call after pivot_root and device setup,
/// before switching user. Allocates a pty from the container's `/dev/ptmx`,
/// sets its size from `process.consoleSize` (when both sides are non-zero),
/// optionally bind-mounts the slave on `/dev/console`, makes the caller a
/// session leader with the slave as controlling terminal, dup2s the slave
/// onto fds 0, 1 and 2 and sends the master over `socket` (one `sendmsg`,
/// data [`socket::MASTER_NAME`], as runc). Our copies of both ends are closed
/// on return; `socket` stays open (the caller closes it).
pub(crate) fn setup_console(
    socket: BorrowedFd<'_>,
    size: Option<&oci_spec::runtime::Box>,
    mount_dev_console: bool,
) -> Result<()> {
    let console = mount_dev_console.then_some(Path::new(DEV_CONSOLE));
    setup_console_at(socket, size, console)
}

/// [`setup_console`] with the console mount point as a parameter (tests use
/// a scratch file instead of `/dev/console`).
pub(super) fn setup_console_at(
    socket: BorrowedFd<'_>,
    size: Option<&oci_spec::runtime::Box>,
    console: Option<&Path>,
) -> Result<()> {
    let winsize = match size {
        Some(s) => term::winsize_from(s)?,
        None => None,
    };
    let pty = Pty::open()?;
    // Before the master leaves: the process' first output must not race the
    // receiver's own -onlcr (bare \n, as runc's init sets it).
    term::clear_onlcr(pty.master.as_fd())?;
    if let Some(ws) = winsize {
        sys::set_winsize(pty.slave.as_fd(), &ws).map_err(|e| {
            TtyError::sys(format!("ioctl TIOCSWINSZ on {} (consoleSize)", pty.name), e)
        })?;
    }
    if let Some(target) = console {
        console_mount::bind(pty.slave.as_fd(), &pty.name, target)?;
    }
    become_session_leader()?;
    sys::set_controlling_tty(pty.slave.as_fd())
        .map_err(|e| TtyError::sys(format!("ioctl TIOCSCTTY on {}", pty.name), e))?;
    for target in 0..=2 {
        dup2(pty.slave.as_raw_fd(), target)
            .map_err(|e| TtyError::sys(format!("dup2 {} onto fd {target}", pty.name), e))?;
    }
    socket::send_master(socket, pty.master.as_fd())
}

/// setsid(), accepting that the caller may already lead its session.
fn become_session_leader() -> Result<()> {
    match setsid() {
        Ok(_) => Ok(()),
        Err(Errno::EPERM) if getsid(None).is_ok_and(|sid| sid == getpid()) => Ok(()),
        Err(e) => Err(TtyError::sys("setsid", e)),
    }
}
