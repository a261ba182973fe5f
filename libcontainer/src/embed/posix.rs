//! posix_spawn(3) of the helper: no fork of a big multi-threaded program
//! (glibc clones with CLONE_VM|CLONE_VFORK), fds placed by file actions,
//! an empty signal mask and default dispositions.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::error::{Error, Result};

/// Spawns `path` with argv `[kiln-helper]`, environment `env`, and each
/// `(source, target)` of `fds` duplicated onto `target`. Returns the pid.
pub(super) fn spawn(path: &CString, fds: &[(OwnedFd, RawFd)], env: &[CString]) -> Result<i32> {
    let mut actions = FileActions::new()?;
    for (src, target) in fds {
        actions.dup2(src.as_raw_fd(), *target)?;
    }
    let attr = Attr::new()?;
    let argv0 = c"kiln-helper";
    let argv = [argv0.as_ptr().cast_mut(), std::ptr::null_mut()];
    let mut envp: Vec<*mut libc::c_char> = env.iter().map(|e| e.as_ptr().cast_mut()).collect();
    envp.push(std::ptr::null_mut());
    let mut pid: libc::pid_t = 0;
    // SAFETY: valid C strings and NULL-terminated arrays that outlive the call; the file
    // actions and attributes were initialised by their constructors.
    let r = unsafe {
        libc::posix_spawn(
            &mut pid,
            path.as_ptr(),
            &actions.0,
            &attr.0,
            argv.as_ptr(),
            envp.as_ptr(),
        )
    };
    if r != 0 {
        return Err(Error::sys(
            "posix_spawn of the kiln helper (the program's own binary)",
            nix::Error::from_raw(r),
        ));
    }
    Ok(pid)
}

struct FileActions(libc::posix_spawn_file_actions_t);

impl FileActions {
    fn new() -> Result<Self> {
        // SAFETY: zeroed storage that posix_spawn_file_actions_init initialises.
        let mut a: libc::posix_spawn_file_actions_t = unsafe { std::mem::zeroed() };
        // SAFETY: a pointer to our storage.
        let r = unsafe { libc::posix_spawn_file_actions_init(&mut a) };
        check(r, "file actions")?;
        Ok(FileActions(a))
    }

    fn dup2(&mut self, src: RawFd, target: RawFd) -> Result<()> {
        // SAFETY: initialised file actions; plain fd numbers.
        let r = unsafe { libc::posix_spawn_file_actions_adddup2(&mut self.0, src, target) };
        check(r, "file action dup2")
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
    }
}

struct Attr(libc::posix_spawnattr_t);

impl Attr {
    /// Empty signal mask, every signal at its default disposition.
    fn new() -> Result<Self> {
        // SAFETY: zeroed storage that posix_spawnattr_init initialises.
        let mut a: libc::posix_spawnattr_t = unsafe { std::mem::zeroed() };
        // SAFETY: a pointer to our storage.
        let r = unsafe { libc::posix_spawnattr_init(&mut a) };
        check(r, "attributes")?;
        let mut attr = Attr(a);
        let empty = nix::sys::signal::SigSet::empty();
        let all = nix::sys::signal::SigSet::all();
        // SAFETY: initialised attributes and valid sigset_t pointers.
        unsafe {
            check(
                libc::posix_spawnattr_setsigmask(&mut attr.0, empty.as_ref()),
                "signal mask",
            )?;
            check(
                libc::posix_spawnattr_setsigdefault(&mut attr.0, all.as_ref()),
                "signal defaults",
            )?;
            let flags = libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF;
            check(
                libc::posix_spawnattr_setflags(&mut attr.0, flags as libc::c_short),
                "flags",
            )?;
        }
        Ok(attr)
    }
}

impl Drop for Attr {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
    }
}

fn check(r: libc::c_int, what: &str) -> Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(Error::sys(
            format!("posix_spawn {what} (kiln helper)"),
            nix::Error::from_raw(r),
        ))
    }
}
