//! Init step "loopback": `lo` is brought up in a network namespace the
//! container creates (the kernel makes it down), as runc and crun do. A
//! namespace joined by path is left as its owner configured it.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

use crate::error::{Error, Result};

/// Sets IFF_UP on `lo` of the current network namespace.
pub(crate) fn bring_up() -> Result<()> {
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| Error::sys("socket AF_INET for the loopback interface", e))?;
    let mut req = ifreq_for(c"lo");
    interface_ioctl(sock.as_fd(), libc::SIOCGIFFLAGS, &mut req)
        .map_err(|e| Error::sys("ioctl SIOCGIFFLAGS lo", e))?;
    // SAFETY: SIOCGIFFLAGS filled in the flags member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    if flags & libc::IFF_UP as libc::c_short != 0 {
        return Ok(());
    }
    req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    interface_ioctl(sock.as_fd(), libc::SIOCSIFFLAGS, &mut req)
        .map_err(|e| Error::sys("ioctl SIOCSIFFLAGS lo up", e))
}

/// An all-zero `struct ifreq` naming interface `name` (shorter than IFNAMSIZ).
fn ifreq_for(name: &std::ffi::CStr) -> libc::ifreq {
    // SAFETY: ifreq is plain old data (a name and a union of integers and
    // pointers); all zeroes is a valid value of it.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.to_bytes()) {
        *dst = *src as libc::c_char;
    }
    req
}

/// One interface ioctl (`SIOC[GS]IF*`) on `sock` with `req`.
fn interface_ioctl(
    sock: BorrowedFd<'_>,
    request: libc::c_ulong,
    req: &mut libc::ifreq,
) -> nix::Result<()> {
    // SAFETY: `req` is a valid, exclusively borrowed ifreq for the call's
    // duration, which is what every SIOC[GS]IF* request reads or writes.
    let r = unsafe { libc::ioctl(sock.as_raw_fd(), request, req as *mut libc::ifreq) };
    if r < 0 {
        return Err(nix::Error::last());
    }
    Ok(())
}
