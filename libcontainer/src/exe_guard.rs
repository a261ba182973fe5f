//! Protection of the host binary (CVE-2019-5736).
//!
//! The container init is a clone of `kiln create`, so until it execs the
//! user program its `/proc/self/exe` is the kiln binary. An entrypoint that
//! is (a symlink or `#!` to) `/proc/self/exe` would make the container run
//! kiln's own file, and a container process could then reopen it for writing
//! through `/proc/<pid>/exe` and replace the host's runtime.
//!
//! kiln makes sure it never runs from a writable view of its binary: when
//! `/proc/self/exe` sits on a writable mount, [`reexec_from_readonly_view`]
//! takes a detached read-only bind mount of just that file (`open_tree` +
//! `mount_setattr`, no mount appears in any namespace and nothing needs
//! cleaning up) and re-executes itself from it with `execveat`. Opening the
//! exe link for writing then fails with EROFS. If the new mount API is not
//! available it falls back to a sealed memfd copy (slower: it copies the
//! binary). When kiln is installed on a read-only mount nothing is done.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use crate::error::{Error, Result};

/// Set when this process decided it needs no re-exec for the container it works on (see
/// [`unwritable_from`]): it may then clone container processes itself, as from a read-only
/// view (see `embed::needs_helper`).
static CONTAINER_CANNOT_WRITE_SELF: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Whether this process' binary is out of reach of the container processes it makes: it
/// runs from a read-only view, or [`reexec_for_bundle`]/[`reexec_for_container`] found that
/// the container cannot write it.
pub(crate) fn self_is_protected() -> bool {
    CONTAINER_CANNOT_WRITE_SELF.load(std::sync::atomic::Ordering::Relaxed) || self_exe_is_readonly()
}

/// Marks a process that already re-executed, so it never loops.
const MARKER: &str = "_KILN_EXE_GUARDED";

/// Whether our own executable cannot be written through /proc/self/exe:
/// it is on a read-only mount, or it is a memfd sealed against writes.
pub fn self_exe_is_readonly() -> bool {
    let on_ro_mount = match nix::sys::statvfs::statvfs("/proc/self/exe") {
        Ok(s) => s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
        Err(_) => false,
    };
    on_ro_mount || self_exe_is_sealed()
}

/// Whether /proc/self/exe is a memfd sealed against writes (the fallback copy).
fn self_exe_is_sealed() -> bool {
    File::open("/proc/self/exe").is_ok_and(|f| is_write_sealed(&f))
}

/// Whether `f` carries F_SEAL_WRITE (files that cannot be sealed do not).
fn is_write_sealed(f: &File) -> bool {
    match nix::fcntl::fcntl(f.as_raw_fd(), nix::fcntl::FcntlArg::F_GET_SEALS) {
        Ok(seals) => seals & libc::F_SEAL_WRITE != 0,
        Err(_) => false,
    }
}

/// Re-executes the current program from a read-only view of its own binary
/// unless it already runs from one. Returns `Ok(())` when no re-exec is
/// needed; on success of the re-exec it does not return.
///
/// Call it first thing in commands whose process, or clones of it, enter a
/// container (`create`, `run`, `exec`).
pub fn reexec_from_readonly_view() -> Result<()> {
    if self_exe_is_readonly() {
        return Ok(());
    }
    if std::env::var_os(MARKER).is_some() {
        // Re-executed once already and still not read-only: refuse rather
        // than run unprotected.
        std::env::remove_var(MARKER);
        if self_exe_is_readonly() {
            return Ok(());
        }
        return Err(Error::ExeGuard(
            "re-executed, but /proc/self/exe is still writable".into(),
        ));
    }
    if crate::timings::enabled() {
        std::env::set_var(
            crate::timings::REEXEC_ENV,
            crate::timings::now_ns().to_string(),
        );
    }
    let fd = readonly_view_of_self()?;
    std::env::set_var(MARKER, "1");
    let err = execveat_self(&fd);
    std::env::remove_var(MARKER);
    Err(err)
}

/// [`reexec_from_readonly_view`] for a container made from the bundle `dir`, unless its
/// processes could not write kiln's binary anyway ([`unwritable_from`]). A config that names
/// no uid mappings is not parsed for this (the common case re-executes at once).
pub fn reexec_for_bundle(dir: &std::path::Path) -> Result<()> {
    let config = dir.join("config.json");
    // (only a regular file: reading, say, a FIFO here would block before the guard)
    let regular = std::fs::metadata(&config).is_ok_and(|m| m.is_file());
    let text = if regular {
        std::fs::read(&config).unwrap_or_default()
    } else {
        Vec::new()
    };
    reexec_unless_unwritable(&text, |t| crate::bundle::parse_config(t).ok())
}

/// [`reexec_from_readonly_view`] for a process joining container `id` (`exec`), unless its
/// processes could not write kiln's binary anyway ([`unwritable_from`]). A state that names
/// no uid mappings is not parsed for this; one that cannot be read is left to the command.
pub fn reexec_for_container(root: &crate::StateRoot, id: &str) -> Result<()> {
    let path = root
        .container_dir(id)
        .map(|dir| dir.join(crate::store::STATE_FILE));
    let text = path
        .as_ref()
        .map(|p| std::fs::read(p).unwrap_or_default())
        .unwrap_or_default();
    reexec_unless_unwritable(&text, |t| {
        let path = path.as_ref().ok()?;
        crate::store::Record::parse(t, id, path)
            .ok()
            .map(|r| r.spec)
    })
}

/// [`reexec_from_readonly_view`] unless the document `text` (a config or a state file), as
/// `spec_of` decodes it, is of a container that cannot write kiln's binary
/// ([`unwritable_from`]); a text that does not name `uidMappings` is not decoded.
fn reexec_unless_unwritable(
    text: &[u8],
    spec_of: impl FnOnce(&[u8]) -> Option<oci_spec::runtime::Spec>,
) -> Result<()> {
    let mapped = text.windows(11).any(|w| w == b"uidMappings");
    if mapped && spec_of(text).is_some_and(|spec| unwritable_from(&spec)) {
        CONTAINER_CANNOT_WRITE_SELF.store(true, std::sync::atomic::Ordering::Relaxed);
        return Ok(());
    }
    reexec_from_readonly_view()
}

/// Whether no process of a container of `spec` can write kiln's binary, so that running
/// from it in the container is as safe as running from a read-only view: the container has
/// a new user namespace whose uid mappings leave out the binary's owner, and the binary is
/// writable by its owner only (mode without group or other write bits, which an ACL granting
/// write to anyone else would set). In a user namespace a capability reaches a file only if
/// the file's owner is mapped (CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_CHOWN), and a mapped uid is
/// never the owner: neither `/proc/<pid>/exe` of a kiln process nor an entrypoint that is
/// `/proc/self/exe` lets the container change the binary. (A rootless container of a user
/// who owns their own kiln maps that user: it is re-executed.)
pub fn unwritable_from(spec: &oci_spec::runtime::Spec) -> bool {
    use oci_spec::runtime::LinuxNamespaceType;
    use std::os::unix::fs::MetadataExt;
    let Some(linux) = spec.linux() else {
        return false;
    };
    let new_user_ns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    let Ok(meta) = std::fs::metadata("/proc/self/exe") else {
        return false;
    };
    if !new_user_ns || meta.mode() & 0o022 != 0 {
        return false;
    }
    let owner = u64::from(meta.uid());
    let mappings = linux.uid_mappings().as_deref().unwrap_or_default();
    !mappings.is_empty()
        && !mappings.iter().any(|m| {
            let host = u64::from(m.host_id());
            owner >= host && owner < host + u64::from(m.size())
        })
}

/// A read-only view of our binary to execute: a detached read-only bind mount of
/// /proc/self/exe, or, where the mount API is refused, a sealed memfd copy.
pub(crate) fn readonly_view_of_self() -> Result<OwnedFd> {
    match readonly_bind_of_self() {
        Ok(fd) => Ok(fd),
        Err(e) => {
            log::debug!("read-only bind of /proc/self/exe failed ({e}); using a sealed memfd copy");
            sealed_memfd_copy()
        }
    }
}

/// A detached, read-only bind mount of /proc/self/exe.
fn readonly_bind_of_self() -> Result<OwnedFd> {
    let path = c"/proc/self/exe";
    // SAFETY: open_tree with a valid C string path; returns a new fd or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(Error::sys("open_tree /proc/self/exe", nix::Error::last()));
    }
    // SAFETY: the kernel returned a new fd that we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: mount_setattr on our detached mount fd with an initialised mount_attr.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if r < 0 {
        return Err(Error::sys(
            "mount_setattr MOUNT_ATTR_RDONLY",
            nix::Error::last(),
        ));
    }
    Ok(fd)
}

/// A memfd holding a copy of our binary, sealed against any change.
fn sealed_memfd_copy() -> Result<OwnedFd> {
    use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
    let fd = memfd_create(
        c"kiln",
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )
    .map_err(|e| Error::sys("memfd_create", e))?;
    let mut dst = File::from(fd);
    let mut src =
        File::open("/proc/self/exe").map_err(|e| Error::io("open", "/proc/self/exe", e))?;
    // The pages just written sit in this CPU's LRU batch, holding a reference the kernel
    // counts as a pin when sealing (EBUSY); it drains only the sealing CPU's batch, so copy
    // and seal on one CPU.
    let _pinned = PinnedToThisCpu::new();
    std::io::copy(&mut src, &mut dst).map_err(|e| Error::io("copy", "/proc/self/exe", e))?;
    seal(&dst)?;
    Ok(OwnedFd::from(dst))
}

/// Seals `f` against writes, resizing and further seals; retries briefly while the kernel
/// still sees its fresh pages as pinned (EBUSY).
fn seal(f: &File) -> Result<()> {
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    let flags = nix::fcntl::SealFlag::from_bits_truncate(seals);
    let mut delay = std::time::Duration::from_millis(1);
    for attempt in 0.. {
        match nix::fcntl::fcntl(f.as_raw_fd(), nix::fcntl::FcntlArg::F_ADD_SEALS(flags)) {
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EBUSY) if attempt < 8 => {
                std::thread::sleep(delay);
                delay *= 2;
            }
            Err(e) => return Err(Error::sys("fcntl F_ADD_SEALS", e)),
        }
    }
    unreachable!("the loop returns")
}

/// The calling thread's CPU affinity narrowed to the CPU it runs on, restored on drop. Best
/// effort: without it the seal may only need its retries.
struct PinnedToThisCpu(Option<nix::sched::CpuSet>);

impl PinnedToThisCpu {
    fn new() -> Self {
        use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
        let me = nix::unistd::Pid::from_raw(0);
        // SAFETY: sched_getcpu has no arguments and only returns a number.
        let cpu = unsafe { libc::sched_getcpu() };
        let Ok(cpu) = usize::try_from(cpu) else {
            return PinnedToThisCpu(None);
        };
        let Ok(old) = sched_getaffinity(me) else {
            return PinnedToThisCpu(None);
        };
        let mut one = CpuSet::new();
        if one.set(cpu).is_err() || sched_setaffinity(me, &one).is_err() {
            return PinnedToThisCpu(None);
        }
        PinnedToThisCpu(Some(old))
    }
}

impl Drop for PinnedToThisCpu {
    fn drop(&mut self) {
        if let Some(old) = &self.0 {
            if let Err(e) = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), old) {
                log::warn!("restoring the CPU affinity after copying the binary: {e}");
            }
        }
    }
}

/// This process' environment as the `KEY=value` C strings execve takes.
pub(crate) fn environment() -> Vec<CString> {
    std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect()
}

/// execveat(fd, "", argv, environ, AT_EMPTY_PATH). Returns only on error.
fn execveat_self(fd: &OwnedFd) -> Error {
    let argv: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()).unwrap_or_default())
        .collect();
    let envp = environment();
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    envp_p.push(std::ptr::null());
    // SAFETY: NULL-terminated arrays of pointers to C strings that outlive the call.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv_p.as_ptr(),
            envp_p.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Error::sys("execveat (read-only view of kiln)", nix::Error::last())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_copy_is_recognised_and_a_plain_file_is_not() {
        let copy = File::from(sealed_memfd_copy().unwrap());
        assert!(is_write_sealed(&copy));
        let plain = File::open("/proc/self/exe").unwrap();
        assert!(!is_write_sealed(&plain));
        // The copy really refuses writes (the open may succeed; write(2) fails).
        let reopened = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{}", copy.as_raw_fd()));
        if let Ok(mut w) = reopened {
            use std::io::Write;
            assert!(w.write_all(b"x").is_err(), "wrote into the sealed copy");
        }
    }
}
