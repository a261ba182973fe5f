//! The foreground terminal of `kiln run` (no console socket): our stdin goes
//! to the pty master, the master's output to our stdout, and our terminal's
//! window size follows along, until the container exits.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::error::{Result, TtyError};
use super::sys::retry;
use super::term::{self, RawMode};
use super::winch::Winch;

/// Bytes moved per read.
const CHUNK: usize = 16 * 1024;

/// Proxies the process' own stdin/stdout to `master` until `stop` (a pidfd
/// of the container process) turns readable, then drains what the container
/// wrote and returns. Puts stdin in raw mode when it is a terminal and
/// restores it on every way out; copies the window size at start and on each
/// SIGWINCH (blocked in the calling thread meanwhile, so call it from the
/// process' only thread). Stdin reaching EOF does not end the proxy.
pub fn proxy(master: OwnedFd, stop: BorrowedFd<'_>) -> Result<()> {
    // Anything std buffered must not come out after the container's output.
    let _ = std::io::stdout().flush();
    let (stdin, stdout) = (std::io::stdin(), std::io::stdout());
    proxy_with(stdin.as_fd(), stdout.as_fd(), master, stop)
}

/// [`proxy`] between arbitrary `input` and `output` fds (pipes in tests).
/// The window size comes from the first of `input`, `output` that is a
/// terminal; raw mode is only ever applied to `input`.
pub fn proxy_with(
    input: BorrowedFd<'_>,
    output: BorrowedFd<'_>,
    master: OwnedFd,
    stop: BorrowedFd<'_>,
) -> Result<()> {
    set_nonblocking(master.as_fd())?;
    term::clear_onlcr(master.as_fd())?;
    let _raw = match term::is_tty(input) {
        true => Some(RawMode::enter(input)?),
        false => None,
    };
    let size_from = [input, output].into_iter().find(|fd| term::is_tty(*fd));
    let winch = match size_from {
        Some(from) => Some((Winch::watch()?, from)),
        None => None,
    };
    if let Some((_, from)) = &winch {
        resize(*from, master.as_fd());
    }
    let mut pump = Pump {
        input: Some(input),
        output,
        output_open: true,
        master: master.as_fd(),
        master_open: true,
        pending: Vec::new(),
        buf: vec![0; CHUNK],
    };
    pump.run(stop, winch.as_ref())
}

/// What a poll slot is for.
#[derive(Clone, Copy)]
enum Slot {
    Winch,
    Stop,
    Master,
    Input,
}

/// The copy loop's state.
struct Pump<'a> {
    /// `None` once stdin reached EOF (or the container side went away).
    input: Option<BorrowedFd<'a>>,
    output: BorrowedFd<'a>,
    /// Cleared when stdout is gone (EPIPE): output is then read and dropped.
    output_open: bool,
    master: BorrowedFd<'a>,
    /// Cleared when reading the master gives EIO: no slave is open any more.
    master_open: bool,
    /// Input read but not yet accepted by the master.
    pending: Vec<u8>,
    buf: Vec<u8>,
}

/// Result of one read of the master.
enum Read {
    Data,
    Empty,
    Closed,
}

impl Pump<'_> {
    fn run(&mut self, stop: BorrowedFd<'_>, winch: Option<&(Winch, BorrowedFd<'_>)>) -> Result<()> {
        loop {
            let mut fds = Vec::with_capacity(4);
            let mut slots = Vec::with_capacity(4);
            if let Some((w, _)) = winch {
                fds.push(PollFd::new(w.fd(), PollFlags::POLLIN));
                slots.push(Slot::Winch);
            }
            fds.push(PollFd::new(stop, PollFlags::POLLIN));
            slots.push(Slot::Stop);
            if self.master_open {
                let mut ev = PollFlags::POLLIN;
                if !self.pending.is_empty() {
                    ev |= PollFlags::POLLOUT;
                }
                fds.push(PollFd::new(self.master, ev));
                slots.push(Slot::Master);
                if let (Some(input), true) = (self.input, self.pending.is_empty()) {
                    fds.push(PollFd::new(input, PollFlags::POLLIN));
                    slots.push(Slot::Input);
                }
            }
            retry(|| poll(&mut fds, PollTimeout::NONE))
                .map_err(|e| TtyError::sys("poll (terminal proxy)", e))?;
            let ready: Vec<(Slot, PollFlags)> = slots
                .into_iter()
                .zip(
                    fds.iter()
                        .map(|f| f.revents().unwrap_or(PollFlags::empty())),
                )
                .filter(|(_, ev)| !ev.is_empty())
                .collect();
            let mut stopped = false;
            // In slot order: a resize is applied before input that followed it.
            for (slot, ev) in ready {
                match slot {
                    Slot::Winch => {
                        if let Some((w, from)) = winch {
                            w.drain();
                            resize(*from, self.master);
                        }
                    }
                    Slot::Stop if ev.contains(PollFlags::POLLNVAL) => {
                        return Err(TtyError::sys("poll the container's pidfd", Errno::EBADF));
                    }
                    Slot::Stop => stopped = true,
                    Slot::Master => {
                        let gone = PollFlags::POLLHUP | PollFlags::POLLERR;
                        if !self.pending.is_empty() && ev.intersects(PollFlags::POLLOUT | gone) {
                            self.flush_pending()?;
                        }
                        if ev.intersects(PollFlags::POLLIN | gone) {
                            self.read_master()?;
                        }
                    }
                    Slot::Input => self.read_input(ev)?,
                }
            }
            if stopped {
                // The container is gone: take what it left in the pty, then stop.
                while self.master_open {
                    if let Read::Empty = self.read_master()? {
                        break;
                    }
                }
                return Ok(());
            }
        }
    }

    /// Moves one chunk of stdin into `pending` and on to the master.
    fn read_input(&mut self, ev: PollFlags) -> Result<()> {
        let Some(input) = self.input else {
            return Ok(());
        };
        if ev.contains(PollFlags::POLLNVAL) {
            self.input = None;
            return Ok(());
        }
        match retry(|| nix::unistd::read(input.as_raw_fd(), &mut self.buf)) {
            Ok(0) | Err(Errno::EIO) => self.input = None,
            Ok(n) => {
                self.pending.extend_from_slice(&self.buf[..n]);
                self.flush_pending()?;
            }
            Err(Errno::EAGAIN) => {}
            Err(e) => return Err(TtyError::sys("read stdin", e)),
        }
        Ok(())
    }

    /// Writes as much of `pending` to the master as it takes without blocking.
    fn flush_pending(&mut self) -> Result<()> {
        while !self.pending.is_empty() {
            match retry(|| nix::unistd::write(self.master, &self.pending)) {
                Ok(0) | Err(Errno::EAGAIN) => break,
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(Errno::EIO) => {
                    // No one holds the slave any more: input has nowhere to go.
                    self.pending.clear();
                    self.input = None;
                }
                Err(e) => return Err(TtyError::sys("write pty master", e)),
            }
        }
        Ok(())
    }

    /// Reads one chunk from the master (non-blocking) and writes it out.
    fn read_master(&mut self) -> Result<Read> {
        match retry(|| nix::unistd::read(self.master.as_raw_fd(), &mut self.buf)) {
            Ok(0) | Err(Errno::EIO) => {
                self.master_open = false;
                Ok(Read::Closed)
            }
            Ok(n) => {
                self.emit(n)?;
                Ok(Read::Data)
            }
            Err(Errno::EAGAIN) => Ok(Read::Empty),
            Err(e) => Err(TtyError::sys("read pty master", e)),
        }
    }

    /// Writes `buf[..n]` to the output, waiting for it if it is non-blocking.
    fn emit(&mut self, n: usize) -> Result<()> {
        let mut rest = &self.buf[..n];
        while self.output_open && !rest.is_empty() {
            match retry(|| nix::unistd::write(self.output, rest)) {
                Ok(0) | Err(Errno::EAGAIN) => wait_writable(self.output)?,
                Ok(k) => rest = &rest[k..],
                Err(e @ (Errno::EPIPE | Errno::EIO)) => {
                    log::warn!("stdout is gone ({e}); discarding the container's output");
                    self.output_open = false;
                }
                Err(e) => return Err(TtyError::sys("write stdout", e)),
            }
        }
        Ok(())
    }
}

/// Blocks until `fd` can take data.
fn wait_writable(fd: BorrowedFd<'_>) -> Result<()> {
    let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
    retry(|| poll(&mut fds, PollTimeout::NONE))
        .map(drop)
        .map_err(|e| TtyError::sys("poll stdout", e))
}

/// Copies the window size, logging (not failing) when it cannot.
fn resize(from: BorrowedFd<'_>, master: BorrowedFd<'_>) {
    if let Err(e) = term::copy_winsize(from, master) {
        log::warn!("cannot resize the container's terminal: {e}");
    }
}

/// Makes the master non-blocking (it is ours alone: received over a socket).
fn set_nonblocking(fd: BorrowedFd<'_>) -> Result<()> {
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)
        .map_err(|e| TtyError::sys("fcntl F_GETFL on pty master", e))?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags))
        .map(drop)
        .map_err(|e| TtyError::sys("fcntl F_SETFL O_NONBLOCK on pty master", e))
}
