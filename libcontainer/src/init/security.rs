//! Init steps for the process' security attributes that are not capabilities:
//! no_new_privs, the session keyring, AppArmor and SELinux labels.

use oci_spec::runtime::Process;

use crate::error::{Error, Result};
use crate::process::proc_root::{field_error, ProcRoot};

/// Sets PR_SET_NO_NEW_PRIVS (`process.noNewPrivileges`).
pub(crate) fn set_no_new_privs() -> Result<()> {
    nix::sys::prctl::set_no_new_privs().map_err(|e| Error::sys("prctl PR_SET_NO_NEW_PRIVS", e))
}

/// Joins a fresh session keyring named after the container, so containers
/// do not share the host's (runc does the same; `--no-new-keyring` skips it).
pub(crate) fn new_session_keyring(id: &str) -> Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let name = std::ffi::CString::new(format!("_ses.{id}")).unwrap_or_default();
    // SAFETY: keyctl(JOIN_SESSION_KEYRING, name) reads a NUL-terminated string.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if r < 0 {
        let e = nix::Error::last();
        // Kernels without keyrings (or seccomp'd hosts) are not an error, as with runc.
        if e != nix::Error::ENOSYS && e != nix::Error::EACCES && e != nix::Error::EPERM {
            return Err(Error::sys("keyctl JOIN_SESSION_KEYRING", e));
        }
    }
    Ok(())
}

/// Which LSM labels the host can apply.
pub(crate) fn check_lsm_support(process: &Process) -> Result<()> {
    if process
        .apparmor_profile()
        .as_deref()
        .is_some_and(|p| !p.is_empty())
        && !apparmor_enabled()
    {
        return Err(Error::config(
            "process.apparmorProfile",
            "AppArmor is not enabled on this host",
        ));
    }
    if process
        .selinux_label()
        .as_deref()
        .is_some_and(|p| !p.is_empty())
        && !selinux_enabled()
    {
        return Err(Error::config(
            "process.selinuxLabel",
            "SELinux is not enabled on this host",
        ));
    }
    Ok(())
}

fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.starts_with('Y'))
}

fn selinux_enabled() -> bool {
    std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

/// Asks the LSM to switch label at the next execve (writing our own
/// attr/exec needs no capability). The files are written through a
/// [`ProcRoot`] (CVE-2025-52881: a label written elsewhere leaves the
/// process unconfined).
pub(crate) fn set_exec_labels(process: &Process) -> Result<()> {
    let apparmor = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty());
    let selinux = process.selinux_label().as_deref().filter(|l| !l.is_empty());
    if apparmor.is_none() && selinux.is_none() {
        return Ok(());
    }
    let proc = ProcRoot::open()?;
    if let Some(p) = apparmor {
        let own = "thread-self/attr/apparmor/exec";
        let path = if proc.open_file(own, libc::O_PATH).is_ok() {
            own
        } else {
            "thread-self/attr/exec"
        };
        proc.write(path, format!("exec {p}").as_bytes())
            .map_err(|e| field_error("process.apparmorProfile", e))?;
    }
    if let Some(l) = selinux {
        proc.write("thread-self/attr/exec", l.as_bytes())
            .map_err(|e| field_error("process.selinuxLabel", e))?;
    }
    Ok(())
}
