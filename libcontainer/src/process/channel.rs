//! The sync channel between `create` (parent) and the container init (child):
//! a SOCK_SEQPACKET socketpair carrying one small message per packet.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};

use crate::error::{Error, Result};

/// One message of the create protocol. Order of a create:
/// parent `Go` → child `MountsDone` → parent `HooksDone` → child `Ready`.
#[derive(Debug, PartialEq, Eq)]
pub enum Msg {
    /// Parent → child: ids mapped and cgroup joined; carry on.
    Go,
    /// Child → parent: I unshared a user namespace; write uid/gid maps of pid.
    MapRequest(i32),
    /// Child → parent: the container init is this (host) pid.
    InitPid(i32),
    /// Child → parent: mounts are done; run prestart/createRuntime hooks.
    MountsDone,
    /// Parent → child: those hooks succeeded; the state JSON for the container's own hooks.
    HooksDone(String),
    /// Child → parent: fully set up, about to wait for `start`.
    Ready,
    /// Child → parent: the seccomp notify fd follows as SCM_RIGHTS.
    SeccompFd,
    /// Child → parent: setup failed with this message.
    Failed(String),
    /// Child → parent: my mount namespace exists; clone the bind sources.
    MountSources,
    /// Helper → child: the detached clone of `mounts[i]` follows as SCM_RIGHTS.
    MountSource(u32),
    /// Parent → child: the container is recorded; outlive `create` from now on.
    Handover,
    /// Child → parent: done; the parent may exit without taking the child along.
    HandedOver,
    /// Child → parent: a log entry (level 1 = error … 5 = trace) for the parent's logger.
    Log(u8, String),
    /// Program ↔ kiln helper: a JSON message of `embed::wire`.
    Embed(Vec<u8>),
}

impl Msg {
    fn tag_and_payload(&self) -> (u8, Vec<u8>) {
        match self {
            Msg::Go => (1, vec![]),
            Msg::MapRequest(p) => (2, p.to_le_bytes().to_vec()),
            Msg::InitPid(p) => (3, p.to_le_bytes().to_vec()),
            Msg::MountsDone => (4, vec![]),
            Msg::HooksDone(s) => (5, s.as_bytes().to_vec()),
            Msg::Ready => (6, vec![]),
            Msg::SeccompFd => (7, vec![]),
            Msg::Failed(s) => (8, s.as_bytes().to_vec()),
            Msg::MountSources => (9, vec![]),
            Msg::MountSource(i) => (10, i.to_le_bytes().to_vec()),
            Msg::Handover => (12, vec![]),
            Msg::HandedOver => (13, vec![]),
            Msg::Log(level, s) => (11, [&[*level][..], s.as_bytes()].concat()),
            Msg::Embed(b) => (14, b.clone()),
        }
    }

    fn decode(tag: u8, payload: &[u8]) -> Option<Msg> {
        let pid = || Some(i32::from_le_bytes(payload.try_into().ok()?));
        let text = || String::from_utf8_lossy(payload).into_owned();
        Some(match tag {
            1 => Msg::Go,
            2 => Msg::MapRequest(pid()?),
            3 => Msg::InitPid(pid()?),
            4 => Msg::MountsDone,
            5 => Msg::HooksDone(text()),
            6 => Msg::Ready,
            7 => Msg::SeccompFd,
            8 => Msg::Failed(text()),
            9 => Msg::MountSources,
            10 => Msg::MountSource(u32::from_le_bytes(payload.try_into().ok()?)),
            12 => Msg::Handover,
            13 => Msg::HandedOver,
            14 => Msg::Embed(payload.to_vec()),
            11 => {
                let (level, msg) = payload.split_first()?;
                Msg::Log(*level, String::from_utf8_lossy(msg).into_owned())
            }
            _ => return None,
        })
    }
}

/// One end of the sync channel.
#[derive(Debug)]
pub(crate) struct Channel {
    fd: OwnedFd,
}

/// Framing: a message is a header packet `[tag, len: u32 LE]` followed by the
/// payload in packets of at most `CHUNK` bytes (the first one inside the
/// header packet). Nothing is cut: a hook state of any size arrives whole.
const HEADER: usize = 5;
/// Payload bytes per packet (well under the default socket buffer).
const CHUNK: usize = 32 * 1024;
/// A payload larger than this is refused rather than allocated (64 MiB).
const MAX_PAYLOAD: usize = 64 << 20;

fn malformed(bytes: &[u8]) -> Error {
    Error::InitDied(format!(
        "malformed sync message {:?}",
        &bytes[..bytes.len().min(16)]
    ))
}

impl AsRawFd for Channel {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Channel {
    /// One end of a channel whose other end another process holds.
    pub(crate) fn from_fd(fd: OwnedFd) -> Channel {
        Channel { fd }
    }

    /// A connected pair: (parent end, child end), both close-on-exec.
    pub(crate) fn pair() -> Result<(Channel, Channel)> {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| Error::sys("socketpair (sync channel)", e))?;
        Ok((Channel { fd: a }, Channel { fd: b }))
    }

    /// Sends a message, optionally with a file descriptor (attached to the
    /// header packet).
    pub(crate) fn send_with(&self, msg: &Msg, fd: Option<BorrowedFd<'_>>) -> Result<()> {
        let mut packets = packets(msg)?.into_iter();
        if let Some(header) = packets.next() {
            self.send_packet(&header, fd)?;
        }
        packets.try_for_each(|p| self.send_packet(&p, None))
    }

    fn send_packet(&self, data: &[u8], fd: Option<BorrowedFd<'_>>) -> Result<()> {
        send_packet_on(self.fd.as_fd(), data, fd, MsgFlags::MSG_NOSIGNAL)
    }

    /// Whether the other end is closed (its process exited), without reading.
    pub(crate) fn peer_closed(&self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::empty())];
        // POLLHUP is reported whatever the requested events; EINTR: ask again later.
        matches!(poll(&mut fds, PollTimeout::ZERO), Ok(1))
            && fds[0]
                .revents()
                .is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR))
    }

    /// Sends a message.
    pub(crate) fn send(&self, msg: &Msg) -> Result<()> {
        self.send_with(msg, None)
    }

    /// Receives a message and the fd sent with it, if any. EOF (the other
    /// side exited) is an [`Error::InitDied`]. `Log` entries on the way go to
    /// this process' logger.
    pub(crate) fn recv_with_fd(&self) -> Result<(Msg, Option<OwnedFd>)> {
        loop {
            match self.recv_one()? {
                (Msg::Log(level, msg), _) => crate::process::init_log::emit(level, &msg),
                other => return Ok(other),
            }
        }
    }

    fn recv_one(&self) -> Result<(Msg, Option<OwnedFd>)> {
        let mut buf = vec![0u8; HEADER + CHUNK];
        let (n, fd) = self.recv_packet(&mut buf)?;
        let mut frame = Frame::start(&buf[..n])?;
        while !frame.is_complete() {
            let (n, _) = self.recv_packet(&mut buf[..CHUNK])?;
            frame.push(&buf[..n])?;
        }
        Ok((frame.finish()?, fd))
    }

    /// One packet into `buf`: its length and the first fd passed with it.
    /// A packet larger than `buf` (not sent by this protocol) is an error.
    fn recv_packet(&self, buf: &mut [u8]) -> Result<(usize, Option<OwnedFd>)> {
        let mut cmsg_space = nix::cmsg_space!([RawFd; 1]);
        let mut iov = [IoSliceMut::new(buf)];
        let msg = loop {
            match recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg_space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Err(nix::Error::EINTR) => continue,
                // The peer closed with our last message unread: the kernel reports that once
                // (and clears it) before what the peer sent, which may be why it failed.
                Err(nix::Error::ECONNRESET) => continue,
                other => break other,
            }
        }
        .map_err(|e| Error::sys("receive on sync channel", e))?;
        let mut fd = None;
        for c in msg
            .cmsgs()
            .map_err(|e| Error::sys("sync channel control message", e))?
        {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for raw in fds {
                    // SAFETY: the kernel just installed this fd for us (SCM_RIGHTS).
                    let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                    fd.get_or_insert(owned);
                }
            }
        }
        if msg.flags.contains(MsgFlags::MSG_TRUNC) {
            return Err(Error::InitDied(format!(
                "sync packet larger than {} bytes",
                msg.bytes
            )));
        }
        if msg.bytes == 0 {
            return Err(Error::InitDied(
                "the other side closed the sync channel".into(),
            ));
        }
        Ok((msg.bytes, fd))
    }

    /// Receives a message; a `Failed` message becomes an [`Error::Init`].
    pub(crate) fn recv(&self) -> Result<Msg> {
        match self.recv_with_fd()?.0 {
            Msg::Failed(e) => Err(Error::Init(e)),
            m => Ok(m),
        }
    }

    /// Receives and checks that it is `want`.
    pub(crate) fn expect(&self, want: Msg) -> Result<()> {
        let got = self.recv()?;
        if got == want {
            Ok(())
        } else {
            Err(Error::InitDied(format!(
                "expected {want:?} on sync channel, got {got:?}"
            )))
        }
    }
}

/// Sends one packet (with an fd, if any) on a channel end.
pub(crate) fn send_packet_on(
    sock: BorrowedFd<'_>,
    data: &[u8],
    fd: Option<BorrowedFd<'_>>,
    flags: MsgFlags,
) -> Result<()> {
    let iov = [IoSlice::new(data)];
    let fds: Vec<RawFd> = fd.iter().map(|f| f.as_raw_fd()).collect();
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
    loop {
        match sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, flags, None) {
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(Error::sys("send on sync channel", e)),
            Ok(_) => return Ok(()),
        }
    }
}

/// The first packet of a message: `[tag, len: u32 LE]` and the first chunk.
fn header_packet(tag: u8, len: u32, first_chunk: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(HEADER + first_chunk.len());
    p.push(tag);
    p.extend_from_slice(&len.to_le_bytes());
    p.extend_from_slice(first_chunk);
    p
}

/// The packets of `msg`: the header packet with the first chunk, then the
/// rest of the payload in chunks. A payload over `MAX_PAYLOAD` is an error.
pub fn packets(msg: &Msg) -> Result<Vec<Vec<u8>>> {
    let (tag, payload) = msg.tag_and_payload();
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&l| l as usize <= MAX_PAYLOAD)
        .ok_or_else(|| Error::InitDied(format!("sync message of {} bytes", payload.len())))?;
    let mut chunks = payload.chunks(CHUNK);
    let header = header_packet(tag, len, chunks.next().unwrap_or_default());
    Ok(std::iter::once(header)
        .chain(chunks.map(<[u8]>::to_vec))
        .collect())
}

/// A message being received: the header packet read, the payload filling up.
#[derive(Debug)]
pub struct Frame {
    tag: u8,
    len: usize,
    payload: Vec<u8>,
}

impl Frame {
    /// Starts a message from its header packet; a packet too short for the
    /// header, a length over `MAX_PAYLOAD` or more payload than the length
    /// says is malformed.
    pub fn start(packet: &[u8]) -> Result<Frame> {
        let Some((header, first)) = packet.split_first_chunk::<HEADER>() else {
            return Err(malformed(packet));
        };
        let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
        if len > MAX_PAYLOAD || first.len() > len {
            return Err(malformed(packet));
        }
        // Memory for what has not arrived yet is not taken on the header's word.
        let mut payload = Vec::with_capacity(len.min(HEADER + CHUNK));
        payload.extend_from_slice(first);
        Ok(Frame {
            tag: header[0],
            len,
            payload,
        })
    }

    /// Whether the whole payload has arrived.
    pub fn is_complete(&self) -> bool {
        self.payload.len() >= self.len
    }

    /// Adds the next packet of the payload; more than the length is malformed.
    pub fn push(&mut self, packet: &[u8]) -> Result<()> {
        if self.payload.len() + packet.len() > self.len {
            return Err(malformed(packet));
        }
        self.payload.extend_from_slice(packet);
        Ok(())
    }

    /// The message, once complete; an unknown tag or a payload that does not
    /// fit the tag is malformed.
    pub fn finish(self) -> Result<Msg> {
        if !self.is_complete() {
            return Err(malformed(&self.payload));
        }
        Msg::decode(self.tag, &self.payload).ok_or_else(|| {
            let mut header = vec![self.tag];
            header.extend_from_slice(&(self.len as u32).to_le_bytes());
            malformed(&header)
        })
    }
}

/// The header-and-payload packet of a message that fits one packet.
pub(crate) fn single_packet(msg: &Msg) -> Option<Vec<u8>> {
    let (tag, payload) = msg.tag_and_payload();
    if payload.len() > CHUNK {
        return None;
    }
    let len = u32::try_from(payload.len()).ok()?;
    Some(header_packet(tag, len, &payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let (a, b) = Channel::pair().unwrap();
        for m in [
            Msg::Go,
            Msg::InitPid(1234),
            Msg::MapRequest(7),
            Msg::Failed("boom".into()),
        ] {
            a.send(&m).unwrap();
            assert_eq!(b.recv_with_fd().unwrap().0, m);
        }
        drop(a);
        assert!(matches!(b.recv(), Err(Error::InitDied(_))));
    }

    #[test]
    fn large_messages_arrive_whole() {
        let (a, b) = Channel::pair().unwrap();
        // Several chunks, an exact multiple, and one byte less than a chunk.
        for len in [200_000, CHUNK * 2, CHUNK - 1, 0] {
            let text: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            let writer = {
                let text = text.clone();
                let a = Channel {
                    fd: a.fd.try_clone().unwrap(),
                };
                std::thread::spawn(move || a.send(&Msg::HooksDone(text)).unwrap())
            };
            assert_eq!(b.recv().unwrap(), Msg::HooksDone(text));
            writer.join().unwrap();
        }
    }

    #[test]
    fn a_foreign_packet_is_an_error_not_a_cut() {
        let (a, b) = Channel::pair().unwrap();
        a.send_packet(&[5, 0, 0, 0], None).unwrap();
        assert!(matches!(b.recv(), Err(Error::InitDied(_))));
        // Header says 3 bytes, the packet carries 4.
        a.send_packet(&[8, 3, 0, 0, 0, b'a', b'b', b'c', b'd'], None)
            .unwrap();
        assert!(matches!(b.recv(), Err(Error::InitDied(_))));
    }

    #[test]
    fn frames_decode_without_a_socket() {
        let decode = |packets: &[Vec<u8>]| -> Result<Msg> {
            let (first, rest) = packets.split_first().unwrap();
            let mut frame = Frame::start(first)?;
            for p in rest {
                frame.push(p)?;
            }
            frame.finish()
        };
        let big = Msg::HooksDone("x".repeat(CHUNK * 2 + 3));
        let packets = packets(&big).unwrap();
        assert_eq!(packets.len(), 3);
        assert_eq!(decode(&packets).unwrap(), big);
        // Too short, too long for the header's length, unknown tag.
        for bad in [
            &[5u8, 0, 0][..],
            &[8, 1, 0, 0, 0, b'a', b'b'],
            &[99, 0, 0, 0, 0],
        ] {
            assert!(decode(&[bad.to_vec()]).is_err(), "{bad:?}");
        }
        // A pid of 3 bytes; a continuation past the length.
        assert!(decode(&[vec![3, 3, 0, 0, 0, 1, 2, 3]]).is_err());
        let mut frame = Frame::start(&[8, 2, 0, 0, 0]).unwrap();
        assert!(frame.push(b"abc").is_err());
    }

    #[test]
    fn passes_fd() {
        let (a, b) = Channel::pair().unwrap();
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        use std::os::fd::AsFd;
        a.send_with(&Msg::SeccompFd, Some(file.as_fd())).unwrap();
        let (m, fd) = b.recv_with_fd().unwrap();
        assert_eq!(m, Msg::SeccompFd);
        assert!(fd.is_some());
    }
}
