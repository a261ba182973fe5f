//! [`InitError`]: what a container's init (or an exec'd process) reports to
//! the runtime when a setup step fails.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Error;

/// Why the container's init, or a process being exec'd into a container,
/// failed before it executed the user's program; carried by
/// [`Error::InitFailed`].
///
/// It is reported by another process (over the sync channel, or the exec
/// fifo after `start`), so it holds the original error's text and what can
/// be told about it, not the error itself. It displays as that text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitError {
    step: String,
    field: Option<String>,
    errno: Option<i32>,
    message: String,
}

impl InitError {
    /// What the failing process reports for `err`, which it hit at `step`.
    pub(crate) fn new(step: &str, err: &Error) -> Self {
        InitError {
            step: step.to_owned(),
            field: field_of(err),
            errno: errno_of(err),
            message: err.to_string(),
        }
    }

    /// An error known only by its text (a report that was not one of these,
    /// e.g. from an init started by an older kiln).
    pub(crate) fn from_message(step: &str, message: String) -> Self {
        InitError {
            step: step.to_owned(),
            field: None,
            errno: None,
            message,
        }
    }

    /// The setup step that failed. The init's steps, in order: `fds`,
    /// `namespaces`, `cgroup`, `loopback`, `keyring`, `bind-sources`, `mounts`,
    /// `mounts-done` (waiting for the prestart/createRuntime hooks),
    /// `create-container-hooks`, `pivot-root`, `devices`, `console`, `hostname`,
    /// `sysctl`, `finalize-root`, then the steps every container process goes
    /// through: `rlimits`, `sched`, `lookup` (of the program), `labels`,
    /// `fds-cloexec`, `seccomp` (without no_new_privs), `bounding`, `user`,
    /// `cwd`, `caps`, `no-new-privs`, `seccomp` (with a notify listener),
    /// then `ready`, `handover`, `wait-start`, `seccomp` (with no_new_privs),
    /// `start-container-hooks`, `affinity` and `exec`. An exec'd process:
    /// `setns`, `fork` (in the helper that joins the container), `console`,
    /// the common steps, `handover`, `seccomp`, `affinity`, `exec`; the
    /// bind-sources helper of `create`: `bind-sources`. Empty when the report
    /// did not say.
    pub fn step(&self) -> &str {
        &self.step
    }

    /// The config.json field the failure is about, as a JSON path (e.g.
    /// `process.cwd`, `mounts[3]`, `linux.seccomp`), when known.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The errno of the failed system call, when the failure was one
    /// (`nix::errno::Errno::from_raw` or `std::io::Error::from_raw_os_error`
    /// turn it into an error value).
    pub fn errno(&self) -> Option<i32> {
        self.errno
    }

    /// The text of the error, as the failing process displayed it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InitError {}

/// The config.json field `err` names, if any.
fn field_of(err: &Error) -> Option<String> {
    use kiln_cgroups::CgroupError as C;
    use kiln_seccomp::SeccompError as S;
    match err {
        Error::Config { field, .. } => Some(field.clone()),
        Error::Exec { .. } => Some("process.args[0]".into()),
        Error::Hook { kind, index, .. } => Some(format!("hooks.{kind}[{index}]")),
        Error::Seccomp(S::Invalid { field, .. } | S::Libseccomp { field, .. }) => {
            Some(field.clone())
        }
        Error::Seccomp(S::Listener { .. }) => Some("linux.seccomp.listenerPath".into()),
        Error::Seccomp(S::Cache { .. }) => None,
        Error::Seccomp(_) => Some("linux.seccomp".into()),
        Error::Cgroup(C::InvalidResource { field, .. } | C::Apply { field, .. }) => {
            Some(field.clone())
        }
        Error::Cgroup(C::InvalidPath { .. }) => Some("linux.cgroupsPath".into()),
        Error::Tty(crate::tty::TtyError::ConsoleSize { .. }) => Some("process.consoleSize".into()),
        Error::Rootfs(e) => rootfs_field(e),
        _ => None,
    }
}

/// The config entry a rootfs error's context names (`mounts[3] (/proc)`,
/// `linux.maskedPaths[0] (/x)`, `root.readonly`), not a setup phase (`rootfs`,
/// `devices`, `default device /dev/null`).
fn rootfs_field(e: &crate::rootfs::RootfsError) -> Option<String> {
    use crate::rootfs::RootfsError as R;
    let context = match e {
        R::Syscall { context, .. }
        | R::InvalidConfig { context, .. }
        | R::Unsupported { context, .. }
        | R::Unexpected { context, .. }
        | R::Io { context, .. } => context,
    };
    let first = context.split(' ').next()?;
    (first.contains('.') || first.contains('[')).then(|| first.to_owned())
}

/// The errno behind `err`: its own, or the first one in its chain of sources.
fn errno_of(err: &Error) -> Option<i32> {
    match err {
        Error::Exec { errno, .. } => return Some(*errno as i32),
        Error::Seccomp(kiln_seccomp::SeccompError::Load { errno, .. }) => {
            return Some(*errno as i32)
        }
        _ => {}
    }
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(n) = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
        {
            return Some(n);
        }
        if let Some(errno) = e.downcast_ref::<nix::errno::Errno>() {
            return Some(*errno as i32);
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;

    fn samples() -> Vec<Error> {
        vec![
            Error::config("process.cwd", "chdir /nope: No such file or directory"),
            Error::sys("setresuid 1000", Errno::EPERM),
            Error::io(
                "open",
                "/proc/1/ns/mnt",
                std::io::Error::from_raw_os_error(libc::ENOENT),
            ),
            Error::Exec {
                program: "/run.sh".into(),
                reason: "no such file or directory".into(),
                errno: Errno::ENOENT,
            },
            Error::Rootfs(crate::rootfs::RootfsError::Syscall {
                context: "mounts[3] (/proc)".into(),
                syscall: "mount proc".into(),
                path: None,
                errno: Errno::EBUSY,
            }),
            Error::Seccomp(kiln_seccomp::SeccompError::Load {
                flags: 0,
                errno: Errno::EINVAL,
            }),
            Error::InitDied("the runtime process exited".into()),
        ]
    }

    #[test]
    fn displays_as_the_init_error_did() {
        for e in samples() {
            // What the parent printed when the init sent `e.to_string()`.
            let before = format!("container init: {e}");
            let now = Error::InitFailed(InitError::new("user", &e)).to_string();
            assert_eq!(now, before);
        }
        let exec = &samples()[3];
        assert_eq!(
            Error::InitFailed(InitError::new("exec", exec)).to_string(),
            "container init: exec /run.sh: no such file or directory"
        );
    }

    #[test]
    fn step_field_and_errno_of_each_kind() {
        let got: Vec<(Option<String>, Option<i32>)> = samples()
            .iter()
            .map(|e| {
                let i = InitError::new("mounts", e);
                assert_eq!(i.step(), "mounts");
                assert_eq!(i.message(), e.to_string());
                (i.field().map(str::to_owned), i.errno())
            })
            .collect();
        let want = [
            (Some("process.cwd"), None),
            (None, Some(libc::EPERM)),
            (None, Some(libc::ENOENT)),
            (Some("process.args[0]"), Some(libc::ENOENT)),
            (Some("mounts[3]"), Some(libc::EBUSY)),
            (Some("linux.seccomp"), Some(libc::EINVAL)),
            (None, None),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(f, n)| (f.map(str::to_owned), *n))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_setup_phase_is_no_field() {
        for (context, field) in [
            ("rootfs", None),
            ("default device /dev/null", None),
            (
                "linux.maskedPaths[0] (/proc/kcore)",
                Some("linux.maskedPaths[0]"),
            ),
            ("root.readonly", Some("root.readonly")),
        ] {
            let e = Error::Rootfs(crate::rootfs::RootfsError::invalid(context, "x"));
            assert_eq!(InitError::new("s", &e).field(), field, "{context}");
        }
    }

    #[test]
    fn survives_serialization() {
        for e in samples() {
            let i = InitError::new("caps", &e);
            let text = serde_json::to_string(&i).unwrap();
            assert_eq!(serde_json::from_str::<InitError>(&text).unwrap(), i);
        }
    }
}
