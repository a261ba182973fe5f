//! Syscall checks: the newer system calls kiln is built on, probed with arguments that
//! either do nothing or are rejected before the kernel acts (so only ENOSYS means "missing").

use std::os::fd::AsFd;
use std::path::Path;

use nix::errno::Errno;

use super::Check;
use crate::rootfs::sys;

/// What kiln uses each call for, and the kernel that brought it.
const CALLS: &[(&str, &str, &str)] = &[
    (
        "pidfd_open",
        "signals and waits without pid reuse races",
        "5.3",
    ),
    ("clone3", "starts every container process", "5.3"),
    (
        "openat2",
        "resolves mount destinations inside the rootfs",
        "5.6",
    ),
    ("mount_setattr", "read-only and id-mapped mounts", "5.12"),
];

/// `pidfd_open(getpid())` through the crate's helper.
fn probe_pidfd_open() -> Result<(), Errno> {
    crate::process::pidfd::open(std::process::id() as i32)
        .map(drop)
        .map_err(|e| e.errno().map_or(Errno::UnknownErrno, Errno::from_raw))
}

/// `clone3(NULL, 0)`: a size below `CLONE_ARGS_SIZE_VER0` is EINVAL where clone3 exists.
fn probe_clone3() -> Result<(), Errno> {
    // SAFETY: with size 0 the kernel rejects the call (EINVAL) before it reads the NULL
    // argument pointer or creates anything.
    let rc = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) };
    match (rc, Errno::last()) {
        (r, _) if r >= 0 => Err(Errno::UnknownErrno), // cannot happen: size 0 is invalid
        (_, Errno::EINVAL | Errno::E2BIG) => Ok(()),
        (_, e) => Err(e),
    }
}

/// `openat2("/", ".", O_PATH, RESOLVE_NO_SYMLINKS)` through the rootfs wrapper.
fn probe_openat2() -> Result<(), Errno> {
    let root =
        std::fs::File::open("/").map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))?;
    sys::openat2(
        root.as_fd(),
        Path::new("."),
        libc::O_PATH | libc::O_DIRECTORY,
        0,
        libc::RESOLVE_NO_SYMLINKS,
    )
    .map(drop)
}

/// `mount_setattr` with an empty attribute set on `/`: a no-op where the call exists
/// (EPERM without CAP_SYS_ADMIN, which also proves it exists).
fn probe_mount_setattr() -> Result<(), Errno> {
    let root =
        std::fs::File::open("/").map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))?;
    match sys::mount_setattr(root.as_fd(), false, &sys::MountAttr::default()) {
        Ok(()) | Err(Errno::EPERM) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The verdict for one call from its probe's result.
pub(super) fn verdict(name: &str, what: &str, since: &str, probe: Result<(), Errno>) -> Check {
    let check_name = format!("syscall {name}");
    match probe {
        Ok(()) => Check::ok(&check_name, format!("available ({what})")),
        Err(Errno::ENOSYS) => Check::fail(
            &check_name,
            format!("missing (ENOSYS): kiln needs it ({what})"),
            format!("run Linux {since} or later (or allow {name} in the seccomp profile kiln runs under)"),
        ),
        Err(e) => Check::fail(
            &check_name,
            format!("refused: {e} (kiln needs it: {what})"),
            format!("allow {name} in the seccomp profile or LSM policy kiln runs under"),
        ),
    }
}

/// The syscall checks.
pub(super) fn checks() -> Vec<Check> {
    let probes: [fn() -> Result<(), Errno>; 4] = [
        probe_pidfd_open,
        probe_clone3,
        probe_openat2,
        probe_mount_setattr,
    ];
    CALLS
        .iter()
        .zip(probes)
        .map(|((name, what, since), probe)| verdict(name, what, since, probe()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;

    #[test]
    fn every_call_is_there_on_the_test_kernel() {
        for c in checks() {
            assert_eq!(c.status, Status::Ok, "{c:?}");
        }
    }

    #[test]
    fn enosys_and_other_errors_fail_with_a_fix() {
        let c = verdict("clone3", "x", "5.3", Err(Errno::ENOSYS));
        assert_eq!(c.status, Status::Fail);
        assert!(c.fix.unwrap().contains("Linux 5.3"));
        let c = verdict("clone3", "x", "5.3", Err(Errno::EPERM));
        assert!(c.detail.contains("EPERM"), "{}", c.detail);
    }
}
