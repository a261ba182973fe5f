//! Log entries of the cloned init (and exec) processes, sent to the runtime
//! over the sync channel and written by its logger, as runc's init does over
//! its log pipe. The child closes every inherited fd (the `--log` file too),
//! so without this its entries would be lost or land on the container's stderr.

use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

use log::Level;
use nix::sys::socket::MsgFlags;

use super::channel::{self, Channel};
use super::protocol::LogEntry;

/// The child's end of the sync channel while its entries go there; -1 otherwise.
/// Set only in a cloned child (its own copy of this static).
static CHANNEL_FD: AtomicI32 = AtomicI32::new(-1);

/// In a cloned child: send this process' log entries over `chan` from now on.
pub(crate) fn route_to(chan: &Channel) {
    use std::os::fd::AsRawFd;
    CHANNEL_FD.store(chan.as_raw_fd(), Ordering::SeqCst);
}

/// Hands one log entry to the runtime when this is a child whose entries go
/// over the sync channel; returns false when the caller must write it itself
/// (not a child, or nobody reads the channel any more).
pub fn forward(level: Level, msg: &str) -> bool {
    let fd: RawFd = CHANNEL_FD.load(Ordering::SeqCst);
    if fd < 0 {
        return false;
    }
    let entry = LogEntry {
        level: level as u8,
        message: msg.to_string(),
    };
    let Some(packet) = channel::single_packet(&entry) else {
        return false;
    };
    // SAFETY: `fd` is the child's channel end, which stays open (close-on-exec)
    // for the child's whole life: route_to is only called with the channel
    // the child keeps until it execs or exits.
    let sock = unsafe { BorrowedFd::borrow_raw(fd) };
    // Never block: after `Ready` the parent may have stopped reading.
    let flags = MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT;
    channel::send_packet_on(sock, &packet, None, flags).is_ok()
}

/// In the runtime: writes an entry a child sent (level as in [`forward`]).
pub(crate) fn emit(level: u8, msg: &str) {
    let level = match level {
        1 => Level::Error,
        2 => Level::Warn,
        3 => Level::Info,
        4 => Level::Debug,
        _ => Level::Trace,
    };
    log::log!(level, "{msg}");
}
