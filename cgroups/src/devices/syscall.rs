//! Raw `bpf(2)` calls for the device filter: load, attach, query, detach, identify.
//!
//! Each command has its own `#[repr(C)]` attribute struct laid out like the matching member
//! of the kernel's `union bpf_attr`; the kernel accepts a shorter size than its own union as
//! long as the fields it reads are present.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::bpf_insn::Insn;

const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_int = 15;
const BPF_PROG_QUERY: libc::c_int = 16;

const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
/// `enum bpf_attach_type` value for device programs.
pub(crate) const BPF_CGROUP_DEVICE: u32 = 6;
/// Several programs may be attached to one cgroup; all must allow.
pub(crate) const BPF_F_ALLOW_MULTI: u32 = 2;
/// Atomically replace `replace_bpf_fd` (needs `BPF_F_ALLOW_MULTI`).
pub(crate) const BPF_F_REPLACE: u32 = 4;

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdByIdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct InfoByFdAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// The leading part of `struct bpf_prog_info`, up to and including `name`.
#[repr(C)]
#[derive(Default)]
struct ProgInfo {
    prog_type: u32,
    id: u32,
    tag: [u8; 8],
    jited_prog_len: u32,
    xlated_prog_len: u32,
    jited_prog_insns: u64,
    xlated_prog_insns: u64,
    load_time: u64,
    created_by_uid: u32,
    nr_map_ids: u32,
    map_ids: u64,
    name: [u8; 16],
}

/// Issues `bpf(cmd, attr, sizeof(*attr))`.
fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    let ptr: *mut T = attr;
    // SAFETY: `attr` is a live, exclusively borrowed #[repr(C)] struct of the layout the kernel
    // expects for `cmd`, and we pass its exact size; any pointers inside it were set by the
    // callers to buffers that outlive this call.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, ptr, size_of::<T>()) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Wraps a file descriptor number the kernel just returned to us.
fn owned_fd(raw: libc::c_long) -> io::Result<OwnedFd> {
    let raw = i32::try_from(raw).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: `raw` is a new descriptor returned by bpf(2) that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn fd_u32(fd: BorrowedFd<'_>) -> u32 {
    // Descriptors are never negative.
    fd.as_raw_fd() as u32
}

/// Loads a device program named `name`; on failure returns the errno and the verifier log.
pub(crate) fn prog_load(insns: &[Insn], name: &str) -> Result<OwnedFd, (io::Error, String)> {
    let license = b"Apache-2.0\0";
    let mut prog_name = [0u8; 16];
    for (d, s) in prog_name.iter_mut().zip(name.bytes().take(15)) {
        *d = s;
    }
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => owned_fd(fd).map_err(|e| (e, String::new())),
        Err(first) => {
            // Retry with a verifier log so the error explains itself.
            let mut log = vec![0u8; 64 * 1024];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            match bpf(BPF_PROG_LOAD, &mut attr) {
                Ok(fd) => owned_fd(fd).map_err(|e| (e, String::new())),
                Err(_) => {
                    let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
                    Err((
                        first,
                        String::from_utf8_lossy(&log[..end]).trim().to_string(),
                    ))
                }
            }
        }
    }
}

/// Attaches `prog` to the cgroup `target` as a device filter, optionally replacing `replace`.
pub(crate) fn prog_attach(
    target: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    replace: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: fd_u32(target),
        attach_bpf_fd: fd_u32(prog),
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI | if replace.is_some() { BPF_F_REPLACE } else { 0 },
        replace_bpf_fd: replace.map_or(0, fd_u32),
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
}

/// Detaches `prog` from the cgroup `target`.
pub(crate) fn prog_detach(target: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: fd_u32(target),
        attach_bpf_fd: fd_u32(prog),
        attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    bpf(BPF_PROG_DETACH, &mut attr).map(drop)
}

/// Ids of the device programs attached directly to `target`.
pub(crate) fn prog_query(target: BorrowedFd<'_>) -> io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    loop {
        let mut attr = QueryAttr {
            target_fd: fd_u32(target),
            attach_type: BPF_CGROUP_DEVICE,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: ids.len() as u32,
            ..Default::default()
        };
        match bpf(BPF_PROG_QUERY, &mut attr) {
            Ok(_) => {
                ids.truncate(attr.prog_cnt as usize);
                return Ok(ids);
            }
            // ENOSPC: more programs than room; prog_cnt holds the real count.
            Err(e)
                if e.raw_os_error() == Some(libc::ENOSPC) && attr.prog_cnt as usize > ids.len() =>
            {
                ids = vec![0u32; attr.prog_cnt as usize];
            }
            Err(e) => return Err(e),
        }
    }
}

/// Opens the program with `id`.
pub(crate) fn prog_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = GetFdByIdAttr {
        prog_id: id,
        ..Default::default()
    };
    owned_fd(bpf(BPF_PROG_GET_FD_BY_ID, &mut attr)?)
}

/// The name a program was loaded with.
pub(crate) fn prog_name(prog: BorrowedFd<'_>) -> io::Result<String> {
    let mut info = ProgInfo::default();
    let mut attr = InfoByFdAttr {
        bpf_fd: fd_u32(prog),
        info_len: size_of::<ProgInfo>() as u32,
        info: std::ptr::addr_of_mut!(info) as u64,
    };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    let end = info
        .name
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(info.name.len());
    Ok(String::from_utf8_lossy(&info.name[..end]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_layouts_match_the_kernel() {
        assert_eq!(size_of::<ProgLoadAttr>(), 72);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, prog_name), 48);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, expected_attach_type), 68);
        assert_eq!(size_of::<AttachAttr>(), 20);
        assert_eq!(std::mem::offset_of!(QueryAttr, prog_ids), 16);
        assert_eq!(std::mem::offset_of!(QueryAttr, prog_cnt), 24);
        assert_eq!(std::mem::offset_of!(ProgInfo, name), 64);
    }
}
