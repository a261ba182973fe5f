//! The sync channel between the runtime (`create`, `exec`) and the processes
//! it clones: a SOCK_SEQPACKET socketpair. This is the transport — framing,
//! fds passed as SCM_RIGHTS, EOF and peer detection; the messages and their
//! encoding are in [`super::protocol`].

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};

use super::protocol::{self, LogEntry, Message};
use crate::error::{Error, Result};

/// One end of the sync channel.
#[derive(Debug)]
pub(crate) struct Channel {
    fd: OwnedFd,
}

/// Framing: a message is a header packet `[kind, len: u32 LE]` followed by the
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

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
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
    pub(crate) fn send_with<M: Message>(&self, msg: &M, fd: Option<BorrowedFd<'_>>) -> Result<()> {
        let (kind, payload) = protocol::encode(msg)?;
        let mut packets = packets(kind, &payload)?.into_iter();
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
    pub(crate) fn send<M: Message>(&self, msg: &M) -> Result<()> {
        self.send_with(msg, None)
    }

    /// Receives an `M` and the fd sent with it, if any. EOF (the other side
    /// exited) is an [`Error::InitDied`], and so is a message that is no `M`;
    /// a child's `Failed` becomes the error it reports ([`Message::into_result`]).
    /// [`LogEntry`]s on the way go to this process' logger.
    pub(crate) fn recv_with_fd<M: Message>(&self) -> Result<(M, Option<OwnedFd>)> {
        loop {
            let (kind, payload, fd) = self.recv_one()?;
            if kind == LogEntry::KIND {
                let entry: LogEntry = protocol::decode(kind, &payload)?;
                crate::process::init_log::emit(entry.level, &entry.message);
                continue;
            }
            return Ok((protocol::decode::<M>(kind, &payload)?.into_result()?, fd));
        }
    }

    /// One framed message: its kind, its payload and the fd sent with it.
    fn recv_one(&self) -> Result<(u8, Vec<u8>, Option<OwnedFd>)> {
        let mut buf = vec![0u8; HEADER + CHUNK];
        let (n, fd) = self.recv_packet(&mut buf)?;
        let mut frame = Frame::start(&buf[..n])?;
        while !frame.is_complete() {
            let (n, _) = self.recv_packet(&mut buf[..CHUNK])?;
            frame.push(&buf[..n])?;
        }
        let (kind, payload) = frame.finish()?;
        Ok((kind, payload, fd))
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

    /// Receives an `M` (see [`Channel::recv_with_fd`]); an fd sent with it is closed.
    pub(crate) fn recv<M: Message>(&self) -> Result<M> {
        Ok(self.recv_with_fd()?.0)
    }

    /// Receives and checks that it is `want`.
    pub(crate) fn expect<M: Message + PartialEq>(&self, want: M) -> Result<()> {
        let got: M = self.recv()?;
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

/// The first packet of a message: `[kind, len: u32 LE]` and the first chunk.
fn header_packet(kind: u8, len: u32, first_chunk: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(HEADER + first_chunk.len());
    p.push(kind);
    p.extend_from_slice(&len.to_le_bytes());
    p.extend_from_slice(first_chunk);
    p
}

/// The packets of a message: the header packet with the first chunk, then
/// the rest of the payload in chunks. A payload over `MAX_PAYLOAD` is an error.
pub fn packets(kind: u8, payload: &[u8]) -> Result<Vec<Vec<u8>>> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&l| l as usize <= MAX_PAYLOAD)
        .ok_or_else(|| Error::InitDied(format!("sync message of {} bytes", payload.len())))?;
    let mut chunks = payload.chunks(CHUNK);
    let header = header_packet(kind, len, chunks.next().unwrap_or_default());
    Ok(std::iter::once(header)
        .chain(chunks.map(<[u8]>::to_vec))
        .collect())
}

/// A message being received: the header packet read, the payload filling up.
#[derive(Debug)]
pub struct Frame {
    kind: u8,
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
            kind: header[0],
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

    /// The message's kind and payload, once complete (decoding them is the
    /// protocol's business: `protocol::decode`).
    pub fn finish(self) -> Result<(u8, Vec<u8>)> {
        if !self.is_complete() {
            return Err(malformed(&self.payload));
        }
        Ok((self.kind, self.payload))
    }
}

/// The header-and-payload packet of a message that fits one packet.
pub(crate) fn single_packet<M: Message>(msg: &M) -> Option<Vec<u8>> {
    let (kind, payload) = protocol::encode(msg).ok()?;
    if payload.len() > CHUNK {
        return None;
    }
    let len = u32::try_from(payload.len()).ok()?;
    Some(header_packet(kind, len, &payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::protocol::{FromInit, ToInit};

    /// A message type of the transport's own, so that these tests do not depend on the protocol's.
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Text(String);

    impl Message for Text {
        const KIND: u8 = 200;
        const NAME: &'static str = "Text";
    }

    #[test]
    fn roundtrip() {
        let (a, b) = Channel::pair().unwrap();
        for m in [
            FromInit::Ready,
            FromInit::InitPid(1234),
            FromInit::MapRequest(7),
        ] {
            a.send(&m).unwrap();
            assert_eq!(b.recv_with_fd::<FromInit>().unwrap().0, m);
        }
        drop(a);
        assert!(matches!(b.recv::<FromInit>(), Err(Error::InitDied(_))));
    }

    #[test]
    fn large_messages_arrive_whole() {
        let (a, b) = Channel::pair().unwrap();
        // Several chunks, an exact multiple, one byte less than a chunk, and empty.
        // (The payload is the JSON string: two quotes more than the text.)
        for len in [200_000, CHUNK * 2 - 2, CHUNK - 3, 0] {
            let text: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            let writer = {
                let text = text.clone();
                let a = Channel {
                    fd: a.fd.try_clone().unwrap(),
                };
                std::thread::spawn(move || a.send(&Text(text)).unwrap())
            };
            assert_eq!(b.recv::<Text>().unwrap(), Text(text));
            writer.join().unwrap();
        }
    }

    #[test]
    fn a_foreign_packet_is_an_error_not_a_cut() {
        let (a, b) = Channel::pair().unwrap();
        a.send_packet(&[200, 0, 0, 0], None).unwrap();
        assert!(matches!(b.recv::<Text>(), Err(Error::InitDied(_))));
        // Header says 3 bytes, the packet carries 4.
        a.send_packet(&[200, 3, 0, 0, 0, b'"', b'b', b'"', b'd'], None)
            .unwrap();
        assert!(matches!(b.recv::<Text>(), Err(Error::InitDied(_))));
        // Header says 3 bytes, the peer closes after 2.
        a.send_packet(&[200, 3, 0, 0, 0, b'"', b'b'], None).unwrap();
        drop(a);
        assert!(matches!(b.recv::<Text>(), Err(Error::InitDied(_))));
    }

    #[test]
    fn frames_decode_without_a_socket() {
        let decode = |packets: &[Vec<u8>]| -> Result<(u8, Vec<u8>)> {
            let (first, rest) = packets.split_first().unwrap();
            let mut frame = Frame::start(first)?;
            for p in rest {
                frame.push(p)?;
            }
            frame.finish()
        };
        let big = vec![b'x'; CHUNK * 2 + 3];
        let packets = packets(7, &big).unwrap();
        assert_eq!(packets.len(), 3);
        assert_eq!(decode(&packets).unwrap(), (7, big));
        // Too short, too long for the header's length, shorter than it.
        for bad in [
            &[5u8, 0, 0][..],
            &[8, 1, 0, 0, 0, b'a', b'b'],
            &[8, 3, 0, 0, 0, b'a', b'b'],
        ] {
            assert!(decode(&[bad.to_vec()]).is_err(), "{bad:?}");
        }
        // A continuation past the length.
        let mut frame = Frame::start(&[8, 2, 0, 0, 0]).unwrap();
        assert!(frame.push(b"abc").is_err());
        // Over the limit: refused by the sender and by the receiver.
        assert!(super::packets(1, &vec![0; MAX_PAYLOAD + 1]).is_err());
        let len = (MAX_PAYLOAD as u32 + 1).to_le_bytes();
        assert!(Frame::start(&[1, len[0], len[1], len[2], len[3]]).is_err());
    }

    #[test]
    fn passes_fd() {
        let (a, b) = Channel::pair().unwrap();
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        a.send_with(&FromInit::SeccompFd, Some(file.as_fd()))
            .unwrap();
        let (m, fd) = b.recv_with_fd::<FromInit>().unwrap();
        assert_eq!(m, FromInit::SeccompFd);
        assert!(fd.is_some());
    }

    #[test]
    fn expect_names_what_came_instead() {
        let (a, b) = Channel::pair().unwrap();
        a.send(&ToInit::Handover).unwrap();
        let err = b.expect(ToInit::Go).unwrap_err().to_string();
        assert!(
            err.contains("expected Go") && err.contains("got Handover"),
            "{err}"
        );
    }
}
