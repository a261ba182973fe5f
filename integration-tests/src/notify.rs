//! A seccomp notify agent for the tests: receives the listener fd and the container process
//! state from the runtime, then answers mkdir/mkdirat notifications.

use std::io::{IoSliceMut, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixListener;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde_json::Value;

/// `struct seccomp_data`.
#[repr(C)]
#[derive(Debug, Default)]
struct SeccompData {
    nr: i32,
    arch: u32,
    instruction_pointer: u64,
    args: [u64; 6],
}

/// `struct seccomp_notif`.
#[repr(C)]
#[derive(Debug, Default)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    data: SeccompData,
}

/// `struct seccomp_notif_resp`.
#[repr(C)]
#[derive(Debug, Default)]
struct NotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

/// `SECCOMP_USER_NOTIF_FLAG_CONTINUE`: let the syscall run.
const FLAG_CONTINUE: u32 = 1;

/// `_IOWR('!', nr, size)`.
const fn iowr(nr: u64, size: usize) -> u64 {
    (3 << 30) | ((size as u64) << 16) | ((b'!' as u64) << 8) | nr
}

/// `SECCOMP_IOCTL_NOTIF_RECV`.
const NOTIF_RECV: u64 = iowr(0, std::mem::size_of::<Notif>());
/// `SECCOMP_IOCTL_NOTIF_SEND`.
const NOTIF_SEND: u64 = iowr(1, std::mem::size_of::<NotifResp>());

/// Receives one notification (the struct must be zeroed, as the kernel checks).
fn recv(fd: &OwnedFd) -> std::io::Result<Notif> {
    let mut req = Notif::default();
    // SAFETY: NOTIF_RECV writes one `struct seccomp_notif` (our repr(C) `Notif`, of the
    // size encoded in the request number) into `req`, which lives across the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_RECV, &mut req as *mut Notif) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(req)
}

/// Sends the answer to a notification.
fn send(fd: &OwnedFd, resp: &NotifResp) -> std::io::Result<()> {
    // SAFETY: NOTIF_SEND reads one `struct seccomp_notif_resp` (our repr(C) `NotifResp`)
    // from `resp`, which lives across the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_SEND, resp as *const NotifResp) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// One mkdir the agent answered.
#[derive(Debug)]
pub struct Call {
    /// The directory path, read from the caller's memory.
    pub path: String,
    /// The `NSpid:` line of the caller (host pid first).
    pub nspids: Vec<i32>,
}

/// What the agent saw.
#[derive(Debug)]
pub struct Served {
    /// The container-process-state JSON the runtime sent.
    pub state: Value,
    /// What `/proc/self/fd/N` says the received fd is.
    pub fd_kind: String,
    /// The notifications, in order.
    pub calls: Vec<Call>,
}

/// Accepts one connection; returns the fd passed with SCM_RIGHTS and the JSON payload.
pub fn receive(listener: &UnixListener) -> Result<(OwnedFd, Value), String> {
    let (mut stream, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut cmsg = nix::cmsg_space!([RawFd; 4]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| format!("recvmsg: {e}"))?;
    let n = msg.bytes;
    let fds: Vec<RawFd> = msg
        .cmsgs()
        .map_err(|e| format!("cmsgs: {e}"))?
        .flat_map(|c| match c {
            ControlMessageOwned::ScmRights(fds) => fds,
            _ => Vec::new(),
        })
        .collect();
    let owned: Vec<OwnedFd> = fds
        .into_iter()
        // SAFETY: SCM_RIGHTS just installed these fds in this process; nothing else owns them.
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect();
    let mut owned = owned.into_iter();
    let (Some(fd), None) = (owned.next(), owned.next()) else {
        return Err("the runtime did not pass exactly one fd".into());
    };
    buf.truncate(n);
    // Read until the payload is a complete JSON document (or the runtime closes).
    loop {
        match serde_json::from_slice(&buf) {
            Ok(state) => return Ok((fd, state)),
            Err(e) if !e.is_eof() => {
                let text = String::from_utf8_lossy(&buf);
                return Err(format!("payload is not JSON ({e}): {text}"));
            }
            Err(_) => {}
        }
        let mut more = [0u8; 4096];
        match stream.read(&mut more) {
            Ok(0) => {
                let text = String::from_utf8_lossy(&buf);
                return Err(format!("truncated payload: {text}"));
            }
            Ok(n) => buf.extend_from_slice(&more[..n]),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// The NUL-terminated string at `addr` in process `pid`.
fn read_string(pid: u32, addr: u64) -> String {
    let Ok(mem) = std::fs::File::open(format!("/proc/{pid}/mem")) else {
        return String::new();
    };
    let mut buf = vec![0u8; 256];
    let n = mem.read_at(&mut buf, addr).unwrap_or(0);
    buf.truncate(n);
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The `NSpid:` numbers of `pid`.
fn nspids(pid: u32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Answers notifications until the filter has no users: a path ending in `denied` gets
/// `errno`, anything else runs.
pub fn answer(fd: &OwnedFd, errno: i32) -> Result<Vec<Call>, String> {
    let mut calls = Vec::new();
    loop {
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::NONE).map_err(|e| format!("poll: {e}"))?;
        let revents = fds[0].revents().unwrap_or(PollFlags::empty());
        if !revents.contains(PollFlags::POLLIN) {
            return Ok(calls); // POLLHUP: no task uses the filter any more
        }
        let Ok(req) = recv(fd) else {
            continue; // the caller died between poll and receive
        };
        let path_arg = match i64::from(req.data.nr) {
            libc::SYS_mkdir => req.data.args[0],
            libc::SYS_mkdirat => req.data.args[1],
            nr => return Err(format!("notified of syscall {nr}, not mkdir")),
        };
        let path = read_string(req.pid, path_arg);
        let mut resp = NotifResp {
            id: req.id,
            ..NotifResp::default()
        };
        if path.ends_with("denied") {
            resp.error = -errno;
        } else {
            resp.flags = FLAG_CONTINUE;
        }
        calls.push(Call {
            nspids: nspids(req.pid),
            path,
        });
        send(fd, &resp).map_err(|e| format!("NOTIF_SEND: {e}"))?;
    }
}

/// The agent: one connection, then notifications until the container is gone.
pub fn serve(listener: &UnixListener, errno: i32) -> Result<Served, String> {
    let (fd, state) = receive(listener)?;
    let fd_kind = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map(|t| t.to_string_lossy().into_owned())
        .unwrap_or_default();
    let calls = answer(&fd, errno)?;
    Ok(Served {
        state,
        fd_kind,
        calls,
    })
}
