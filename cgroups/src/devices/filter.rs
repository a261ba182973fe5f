//! Installing the eBPF device filter on a cgroup v2 directory.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::{program, syscall, validate_rules, DeviceRule};
use crate::CgroupError;

/// The name our device programs are loaded with; it identifies them among attached programs.
pub const PROGRAM_NAME: &str = "kiln_devices";

fn open_dir(dir: &Path) -> Result<File, CgroupError> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)
        .map_err(|source| CgroupError::Syscall {
            syscall: "open",
            target: dir.to_path_buf(),
            source,
        })
}

fn sys_err<'a>(syscall: &'static str, dir: &'a Path) -> impl FnOnce(io::Error) -> CgroupError + 'a {
    move |source| CgroupError::Syscall {
        syscall,
        target: dir.to_path_buf(),
        source,
    }
}

/// Descriptors of the device programs attached to `dir` whose name satisfies `keep`.
fn attached(
    dir_fd: &File,
    dir: &Path,
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<(String, OwnedFd)>, CgroupError> {
    let ids = syscall::prog_query(dir_fd.as_fd()).map_err(sys_err("bpf(BPF_PROG_QUERY)", dir))?;
    let mut out = Vec::new();
    for id in ids {
        let fd = match syscall::prog_fd_by_id(id) {
            Ok(fd) => fd,
            // Detached (and freed) between the query and now.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(sys_err("bpf(BPF_PROG_GET_FD_BY_ID)", dir)(e)),
        };
        let name =
            syscall::prog_name(fd.as_fd()).map_err(sys_err("bpf(BPF_OBJ_GET_INFO_BY_FD)", dir))?;
        if keep(&name) {
            out.push((name, fd));
        }
    }
    Ok(out)
}

/// Names of all device programs attached directly to the cgroup v2 directory `dir`.
pub fn attached_device_programs(dir: &Path) -> Result<Vec<String>, CgroupError> {
    let f = open_dir(dir)?;
    Ok(attached(&f, dir, |_| true)?
        .into_iter()
        .map(|(n, _)| n)
        .collect())
}

/// Generates a `BPF_PROG_TYPE_CGROUP_DEVICE` program for `rules` (last match wins, default
/// deny), loads it, and attaches it to `dir` with `BPF_F_ALLOW_MULTI`, replacing the program
/// a previous call attached (found with `BPF_PROG_QUERY` by its name [`PROGRAM_NAME`]).
/// Programs attached by others are left alone. The new program is in place before the old
/// one goes (atomically with `BPF_F_REPLACE` when there is exactly one old program).
pub fn apply_device_filter(dir: &Path, rules: &[DeviceRule]) -> Result<(), CgroupError> {
    let dir_fd = open_dir(dir)?;
    let insns = program::device_program(rules);
    let prog =
        syscall::prog_load(&insns, PROGRAM_NAME).map_err(|(source, log)| CgroupError::BpfLoad {
            target: dir.to_path_buf(),
            source,
            log,
        })?;
    let ours = attached(&dir_fd, dir, |n| n == PROGRAM_NAME)?;
    if let [(_, old)] = &ours[..] {
        match syscall::prog_attach(dir_fd.as_fd(), prog.as_fd(), Some(old.as_fd())) {
            Ok(()) => return Ok(()),
            // Kernels before 5.6 lack BPF_F_REPLACE; fall back to attach + detach.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            Err(e) => return Err(sys_err("bpf(BPF_PROG_ATTACH)", dir)(e)),
        }
    }
    syscall::prog_attach(dir_fd.as_fd(), prog.as_fd(), None)
        .map_err(sys_err("bpf(BPF_PROG_ATTACH)", dir))?;
    for (_, old) in &ours {
        match syscall::prog_detach(dir_fd.as_fd(), old.as_fd()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(sys_err("bpf(BPF_PROG_DETACH)", dir)(e)),
        }
    }
    Ok(())
}

/// [`apply_device_filter`] for OCI rules (validated first).
pub fn apply_oci_device_filter(
    dir: &Path,
    rules: &[oci_spec::runtime::LinuxDeviceCgroup],
) -> Result<(), CgroupError> {
    apply_device_filter(dir, &validate_rules(rules)?)
}
