//! The sync channel between `create` (parent) and the container init (child):
//! a SOCK_SEQPACKET socketpair carrying one small message per packet.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};

use crate::error::{Error, Result};

/// One message of the create protocol. Order of a create:
/// parent `Go` → child `MountsDone` → parent `HooksDone` → child `Ready`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Msg {
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
}

impl Msg {
    fn encode(&self) -> Vec<u8> {
        let (tag, payload): (u8, Vec<u8>) = match self {
            Msg::Go => (1, vec![]),
            Msg::MapRequest(p) => (2, p.to_le_bytes().to_vec()),
            Msg::InitPid(p) => (3, p.to_le_bytes().to_vec()),
            Msg::MountsDone => (4, vec![]),
            Msg::HooksDone(s) => (5, s.as_bytes().to_vec()),
            Msg::Ready => (6, vec![]),
            Msg::SeccompFd => (7, vec![]),
            Msg::Failed(s) => (8, s.as_bytes().to_vec()),
        };
        let mut out = Vec::with_capacity(1 + payload.len());
        out.push(tag);
        out.extend_from_slice(&payload);
        out
    }

    fn decode(buf: &[u8]) -> Option<Msg> {
        let pid = || Some(i32::from_le_bytes(buf.get(1..5)?.try_into().ok()?));
        Some(match *buf.first()? {
            1 => Msg::Go,
            2 => Msg::MapRequest(pid()?),
            3 => Msg::InitPid(pid()?),
            4 => Msg::MountsDone,
            5 => Msg::HooksDone(String::from_utf8_lossy(&buf[1..]).into_owned()),
            6 => Msg::Ready,
            7 => Msg::SeccompFd,
            8 => Msg::Failed(String::from_utf8_lossy(&buf[1..]).into_owned()),
            _ => return None,
        })
    }
}

/// One end of the sync channel.
#[derive(Debug)]
pub(crate) struct Channel {
    fd: OwnedFd,
}

/// Largest message: an error text; longer ones are cut.
const MAX_MSG: usize = 8192;

impl Channel {
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

    /// Sends a message, optionally with a file descriptor.
    pub(crate) fn send_with(&self, msg: &Msg, fd: Option<BorrowedFd<'_>>) -> Result<()> {
        let mut data = msg.encode();
        data.truncate(MAX_MSG);
        let iov = [IoSlice::new(&data)];
        let fds: Vec<RawFd> = fd.iter().map(|f| f.as_raw_fd()).collect();
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
        sendmsg::<()>(
            self.fd.as_raw_fd(),
            &iov,
            cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map_err(|e| Error::sys("send on sync channel", e))?;
        Ok(())
    }

    /// Sends a message.
    pub(crate) fn send(&self, msg: &Msg) -> Result<()> {
        self.send_with(msg, None)
    }

    /// Receives a message and the fd sent with it, if any. EOF (the other
    /// side exited) is an [`Error::InitDied`].
    pub(crate) fn recv_with_fd(&self) -> Result<(Msg, Option<OwnedFd>)> {
        let mut buf = vec![0u8; MAX_MSG];
        let mut cmsg_space = nix::cmsg_space!([RawFd; 1]);
        let (len, fd) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = loop {
                match recvmsg::<()>(
                    self.fd.as_raw_fd(),
                    &mut iov,
                    Some(&mut cmsg_space),
                    MsgFlags::MSG_CMSG_CLOEXEC,
                ) {
                    Err(nix::Error::EINTR) => continue,
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
            (msg.bytes, fd)
        };
        if len == 0 {
            return Err(Error::InitDied(
                "the other side closed the sync channel".into(),
            ));
        }
        let msg = Msg::decode(&buf[..len]).ok_or_else(|| {
            Error::InitDied(format!("malformed sync message {:?}", &buf[..len.min(16)]))
        })?;
        Ok((msg, fd))
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
