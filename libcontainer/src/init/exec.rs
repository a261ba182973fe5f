//! Init steps "wait for start" and "exec": the last things the init does.

use std::ffi::{CStr, CString};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use oci_spec::runtime::Process;

use super::fds;
use crate::error::{Error, InitError, Result};
use crate::process::proc_root::{self, ProcfsError};

/// PATH used to find the program when `process.env` has none (runc's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The program, argv and envp, ready for execve.
#[derive(Debug)]
pub(crate) struct ExecPlan {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    /// `process.env` with HOME filled in: also the startContainer hooks' default env.
    env: Vec<String>,
    /// Whether [`ExecPlan::close_fds_on_exec`] ran.
    fds_marked: bool,
}

fn cstring(field: &str, s: &[u8]) -> Result<CString> {
    CString::new(s).map_err(|_| Error::config(field, "contains a NUL byte"))
}

impl ExecPlan {
    /// Looks `args[0]` up in the container's PATH (after pivot_root) and
    /// checks it is an executable file, so a missing program fails `create`.
    /// Without a (non-empty) HOME in `process.env`, HOME is the user's home
    /// in the container's /etc/passwd, else `/` (as runc does).
    pub(crate) fn resolve(process: &Process) -> Result<Self> {
        let args = process.args().as_deref().unwrap_or_default();
        let argv = args
            .iter()
            .enumerate()
            .map(|(i, a)| cstring(&format!("process.args[{i}]"), a.as_bytes()))
            .collect::<Result<Vec<_>>>()?;
        let env = prepare_env(process.env().as_deref().unwrap_or_default(), || {
            super::user::home_dir(process.user().uid())
        })?;
        let envp = env
            .iter()
            .map(|e| cstring("process.env", e.as_bytes()))
            .collect::<Result<Vec<_>>>()?;
        let prog = args.first().map(String::as_str).unwrap_or_default();
        let path_var = env
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        let found = find_program(prog, path_var, process.cwd()).ok_or_else(|| {
            Error::config(
                "process.args[0]",
                format!("{prog:?}: executable file not found in the container (PATH={path_var})"),
            )
        })?;
        Ok(ExecPlan {
            path: cstring("process.args[0]", found.as_os_str().as_bytes())?,
            argv,
            envp,
            env,
            fds_marked: false,
        })
    }

    /// The process' environment (with HOME).
    pub(crate) fn env(&self) -> &[String] {
        &self.env
    }

    /// Marks every fd from `keep_below` on close-on-exec (CVE-2024-21626: nothing of the
    /// runtime's may leak). Call it before the seccomp filter is loaded (see [`fds`]); [`exec`]
    /// refuses to run without it.
    ///
    /// [`exec`]: Self::exec
    pub(crate) fn close_fds_on_exec(&mut self, keep_below: u32) -> Result<()> {
        fds::cloexec_from(keep_below)?;
        self.fds_marked = true;
        Ok(())
    }

    /// execve. Returns only on error.
    pub(crate) fn exec(&self) -> Error {
        if !self.fds_marked {
            return Error::InitDied(
                "internal: exec before the fds were marked close-on-exec".into(),
            );
        }
        let argv: Vec<&CStr> = self.argv.iter().map(CString::as_c_str).collect();
        let envp: Vec<&CStr> = self.envp.iter().map(CString::as_c_str).collect();
        match nix::unistd::execve(&self.path, &argv, &envp) {
            Err(e) => {
                let program = self.argv.first().unwrap_or(&self.path);
                let desc = e.desc();
                let mut reason = desc.to_string();
                if let Some(first) = desc.chars().next() {
                    reason.replace_range(..first.len_utf8(), &first.to_lowercase().to_string());
                }
                Error::Exec {
                    program: program.to_string_lossy().into_owned(),
                    reason,
                    errno: e,
                }
            }
            Ok(never) => match never {},
        }
    }
}

/// Changes to `process.cwd` and checks that the working directory is inside
/// the process' root (CVE-2024-21626): a cwd reached through an fd the
/// runtime still held (`/proc/self/fd/N`) would be outside it, which
/// getcwd(2) reports as unreachable (ENOENT).
pub(crate) fn enter_cwd(process: &Process) -> Result<()> {
    let cwd = process.cwd();
    std::env::set_current_dir(cwd)
        .map_err(|e| Error::config("process.cwd", format!("chdir {}: {e}", cwd.display())))?;
    match nix::unistd::getcwd() {
        Ok(_) => Ok(()),
        Err(nix::errno::Errno::ENOENT) => Err(Error::config(
            "process.cwd",
            format!(
                "{} is outside the container's root (possible container breakout): refusing to run",
                cwd.display()
            ),
        )),
        Err(e) => Err(Error::sys(
            format!("getcwd after chdir {}", cwd.display()),
            e,
        )),
    }
}

/// The environment the program gets, as runc prepares it: every entry must be
/// `NAME=VALUE` with a non-empty name; a name given more than once keeps its
/// last value (at the place of its last occurrence); without a non-empty
/// `HOME`, `HOME` is `home()` (the user's home directory), appended last.
fn prepare_env(env: &[String], home: impl FnOnce() -> Result<String>) -> Result<Vec<String>> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(env.len() + 1);
    let mut home_set = false;
    for (i, kv) in env.iter().enumerate().rev() {
        let field = || format!("process.env[{i}]");
        let Some((name, value)) = kv.split_once('=') else {
            return Err(Error::config(field(), format!("{kv:?} is not NAME=VALUE")));
        };
        if name.is_empty() {
            return Err(Error::config(field(), format!("{kv:?} has an empty name")));
        }
        if !seen.insert(name) {
            continue;
        }
        if kv.contains('\0') {
            return Err(Error::config(
                field(),
                format!("{name}: contains a NUL byte"),
            ));
        }
        if name == "HOME" {
            if value.is_empty() {
                continue;
            }
            home_set = true;
        }
        out.push(kv.clone());
    }
    out.reverse();
    if !home_set {
        out.push(format!("HOME={}", home()?));
    }
    Ok(out)
}

fn find_program(prog: &str, path_var: &str, cwd: &Path) -> Option<PathBuf> {
    let is_exec = |p: &Path| {
        nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok()
            && p.metadata().is_ok_and(|m| m.is_file())
    };
    if prog.contains('/') {
        let p = if prog.starts_with('/') {
            PathBuf::from(prog)
        } else {
            cwd.join(prog)
        };
        return is_exec(&p).then(|| PathBuf::from(prog));
    }
    path_var
        .split(':')
        .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(prog))
        .find(|p| is_exec(p))
}

/// Blocks until `kiln start` opens the exec fifo of this container (an
/// O_PATH fd of it taken before pivot_root, reopened for writing through
/// /proc/thread-self/fd: the init holds nothing of the host but the fifo), then
/// tells it we are going. What the reopen returned is checked to be the fifo
/// itself before anything is written to it (CVE-2025-52881: a mount over the
/// container's /proc must not turn this write into one to another file). The
/// fifo stays open (close-on-exec): `start` waits for it to close, which
/// happens when the user program is executed, and reads an error text written
/// here instead if the init fails first.
pub(crate) fn wait_for_start(fifo: BorrowedFd<'_>) -> Result<OwnedFd> {
    let file = proc_root::reopen(fifo, OFlag::O_WRONLY).map_err(|e| match e {
        ProcfsError::Sys { path, errno, .. } => Error::sys(
            format!(
                "reopen exec fifo through {} (is /proc mounted?)",
                path.display()
            ),
            errno,
        ),
        refusal => Error::Procfs(refusal),
    })?;
    let fd = OwnedFd::from(file);
    nix::unistd::write(&fd, b"0").map_err(|e| Error::sys("write exec fifo", e))?;
    Ok(fd)
}

/// Tells `start`, waiting on the exec fifo (after the `0` of
/// [`wait_for_start`]), why the init failed: the report as JSON, which
/// `start` turns into an [`Error::InitFailed`].
pub(crate) fn report_to_start(fifo: &OwnedFd, report: &InitError) -> Result<()> {
    let text = serde_json::to_vec(report)
        .map_err(|e| Error::InitDied(format!("encoding the failure report: {e}")))?;
    let mut rest = &text[..];
    while !rest.is_empty() {
        match nix::unistd::write(fifo, rest) {
            Ok(0) => return Err(Error::sys("write exec fifo", nix::Error::EIO)),
            Ok(n) => rest = &rest[n..],
            Err(nix::Error::EINTR) => {}
            Err(e) => return Err(Error::sys("write exec fifo", e)),
        }
    }
    Ok(())
}

/// Restores default dispositions and an empty signal mask: Rust ignores
/// SIGPIPE in its runtime, and ignored signals survive execve.
pub(crate) fn reset_signals() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for sig in Signal::iterator() {
        if sig == Signal::SIGKILL || sig == Signal::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL runs no code of ours.
        let _ = unsafe { sigaction(sig, &dfl) };
    }
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

#[cfg(test)]
mod tests {
    use super::prepare_env;

    fn env(list: &[&str]) -> Vec<String> {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        prepare_env(&list, || Ok("/root".into())).unwrap()
    }

    #[test]
    fn last_value_of_a_name_wins() {
        assert_eq!(
            env(&["ONE=two", "ONE=", "PATH=/bin"]),
            ["ONE=", "PATH=/bin", "HOME=/root"]
        );
        assert_eq!(env(&["A=1", "B=2", "A=3"]), ["B=2", "A=3", "HOME=/root"]);
    }

    #[test]
    fn empty_home_is_replaced_by_the_users() {
        assert_eq!(env(&["HOME=/override", "HOME="]), ["HOME=/root"]);
        assert_eq!(env(&["HOME=", "HOME=/x"]), ["HOME=/x"]);
        assert_eq!(env(&["NL=\n"]), ["NL=\n", "HOME=/root"]);
    }

    #[test]
    fn malformed_entries_are_refused_by_index() {
        let bad = |l: &[&str]| {
            let l: Vec<String> = l.iter().map(|s| s.to_string()).collect();
            prepare_env(&l, || Ok("/".into())).unwrap_err().to_string()
        };
        assert!(bad(&["A=1", "NOEQUALS"]).contains("process.env[1]"));
        assert!(bad(&["=x"]).contains("process.env[0]"));
    }
}
