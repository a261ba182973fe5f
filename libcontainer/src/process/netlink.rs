//! A minimal rtnetlink client: the four requests `linux.netDevices` needs
//! (find a link, list its addresses, move/rename it into a network namespace,
//! add an address). Hand-written rather than a netlink crate: four fixed
//! message shapes do not justify a dependency tree (the netlink crates are
//! async-first and change their APIs often), and every byte is tested below.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::error::{Error, Result};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
/// Global scope (`RT_SCOPE_UNIVERSE`): the addresses that move with a device.
pub(crate) const SCOPE_GLOBAL: u8 = 0;

/// One address of a link (`ifaddrmsg` + its address bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Addr {
    pub family: u8,
    pub prefix_len: u8,
    pub scope: u8,
    pub local: Vec<u8>,
    pub address: Vec<u8>,
}

/// An rtnetlink socket, bound in the network namespace it was opened in.
#[derive(Debug)]
pub(crate) struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// Appends one route attribute (`rtattr`).
fn attr(buf: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize(align(buf.len()), 0);
}

/// The route attributes in `buf`: (type, payload).
fn attrs(mut buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while buf.len() >= 4 {
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & 0x3fff;
        if len < 4 || len > buf.len() {
            break;
        }
        out.push((kind, &buf[4..len]));
        buf = &buf[align(len).min(buf.len())..];
    }
    out
}

/// `ifinfomsg` for `index` (family unspecified).
fn ifinfo(index: i32) -> Vec<u8> {
    let mut b = vec![0u8; 16];
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b
}

fn name_bytes(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.push(0);
    v
}

impl Netlink {
    /// A NETLINK_ROUTE socket in the caller's current network namespace.
    pub(crate) fn open() -> Result<Self> {
        // SAFETY: socket(2) with constant arguments; the fd is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(Error::sys("socket(AF_NETLINK)", nix::Error::last()));
        }
        // SAFETY: socket returned a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Netlink { fd, seq: 0 })
    }

    /// Sends one request (`body` after the header) and returns the payloads
    /// of the replies (for a dump, every message until NLMSG_DONE); an error
    /// reply becomes `Err` naming `what`.
    fn request(&mut self, kind: u16, flags: u16, body: &[u8], what: &str) -> Result<Vec<Vec<u8>>> {
        self.seq += 1;
        let mut msg = Vec::with_capacity(16 + body.len());
        msg.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        msg.extend_from_slice(&self.seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(body);
        nix::sys::socket::send(
            self.fd.as_raw_fd(),
            &msg,
            nix::sys::socket::MsgFlags::empty(),
        )
        .map_err(|e| Error::sys(format!("netlink send ({what})"), e))?;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut replies = Vec::new();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = nix::sys::socket::recv(
                self.fd.as_raw_fd(),
                &mut buf,
                nix::sys::socket::MsgFlags::empty(),
            )
            .map_err(|e| Error::sys(format!("netlink receive ({what})"), e))?;
            let mut rest = &buf[..n];
            while rest.len() >= 16 {
                let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                let typ = u16::from_ne_bytes([rest[4], rest[5]]);
                if len < 16 || len > rest.len() {
                    return Err(Error::InitDied(format!("malformed netlink reply ({what})")));
                }
                let payload = &rest[16..len];
                match typ {
                    NLMSG_DONE => return Ok(replies),
                    NLMSG_ERROR => {
                        let code = payload
                            .get(..4)
                            .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                        if code != 0 {
                            return Err(Error::sys(what.to_string(), nix::Error::from_raw(-code)));
                        }
                        if !dump {
                            return Ok(replies);
                        }
                    }
                    _ => {
                        replies.push(payload.to_vec());
                        // A plain get is answered by one message, no ack.
                        if !dump && flags & NLM_F_ACK == 0 {
                            return Ok(replies);
                        }
                    }
                }
                rest = &rest[align(len).min(rest.len())..];
            }
        }
    }

    /// The index of the link called `name`, if there is one.
    pub(crate) fn link_index(&mut self, name: &str) -> Result<Option<i32>> {
        let mut body = ifinfo(0);
        attr(&mut body, IFLA_IFNAME, &name_bytes(name));
        match self.request(RTM_GETLINK, 0, &body, &format!("find link {name}")) {
            Ok(replies) => Ok(replies
                .first()
                .and_then(|r| r.get(4..8))
                .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))),
            Err(Error::Sys {
                source: nix::Error::ENODEV,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The addresses of link `index`.
    pub(crate) fn addresses(&mut self, index: i32) -> Result<Vec<Addr>> {
        let body = [0u8; 8];
        let replies = self.request(RTM_GETADDR, NLM_F_DUMP, &body, "list addresses")?;
        let mut out = Vec::new();
        for r in replies {
            if r.len() < 8 || i32::from_ne_bytes([r[4], r[5], r[6], r[7]]) != index {
                continue;
            }
            let mut a = Addr {
                family: r[0],
                prefix_len: r[1],
                scope: r[3],
                local: Vec::new(),
                address: Vec::new(),
            };
            for (kind, data) in attrs(&r[8..]) {
                match kind {
                    IFA_LOCAL => a.local = data.to_vec(),
                    IFA_ADDRESS => a.address = data.to_vec(),
                    _ => {}
                }
            }
            out.push(a);
        }
        Ok(out)
    }

    /// Moves link `index` into the network namespace `netns`, renamed to `name`.
    pub(crate) fn move_link(
        &mut self,
        index: i32,
        netns: BorrowedFd<'_>,
        name: &str,
    ) -> Result<()> {
        let mut body = ifinfo(index);
        let fd: RawFd = netns.as_raw_fd();
        attr(&mut body, IFLA_NET_NS_FD, &(fd as u32).to_ne_bytes());
        attr(&mut body, IFLA_IFNAME, &name_bytes(name));
        self.request(
            RTM_NEWLINK,
            NLM_F_ACK,
            &body,
            &format!("move link to the container as {name}"),
        )
        .map(drop)
    }

    /// Adds `a` to link `index`.
    pub(crate) fn add_address(&mut self, index: i32, a: &Addr) -> Result<()> {
        let mut body = vec![a.family, a.prefix_len, 0, a.scope];
        body.extend_from_slice(&(index as u32).to_ne_bytes());
        if !a.local.is_empty() {
            attr(&mut body, IFA_LOCAL, &a.local);
        }
        if !a.address.is_empty() {
            attr(&mut body, IFA_ADDRESS, &a.address);
        }
        let flags = NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        self.request(RTM_NEWADDR, flags, &body, "add address")
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_parsed_back() {
        let mut b = Vec::new();
        attr(&mut b, IFLA_IFNAME, &name_bytes("eth0"));
        attr(&mut b, IFLA_NET_NS_FD, &7u32.to_ne_bytes());
        assert_eq!(b.len(), 12 + 8);
        let parsed = attrs(&b);
        assert_eq!(parsed[0], (IFLA_IFNAME, &b"eth0\0"[..]));
        assert_eq!(parsed[1], (IFLA_NET_NS_FD, &7u32.to_ne_bytes()[..]));
        assert!(attrs(&[9, 0, 1]).is_empty());
    }

    #[test]
    fn loopback_is_found_with_its_address() {
        let mut nl = Netlink::open().unwrap();
        assert_eq!(nl.link_index("lo").unwrap(), Some(1));
        assert_eq!(nl.link_index("kilnnosuch0").unwrap(), None);
        let addrs = nl.addresses(1).unwrap();
        assert!(
            addrs
                .iter()
                .any(|a| a.family == libc::AF_INET as u8 && a.local == [127, 0, 0, 1]),
            "{addrs:?}"
        );
    }
}
