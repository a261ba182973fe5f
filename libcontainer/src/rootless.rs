//! Running without privilege: telling whether we are, the `--rootless` setting, and where
//! an unprivileged caller keeps container state.
//!
//! "Rootless" means what it means to runc and crun: the effective uid is not 0, or the
//! process runs inside a user namespace (where even uid 0 cannot create cgroups, mount sysfs
//! or make device nodes on the host's behalf).

use std::ffi::OsStr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, Result};

pub use kiln_cgroups::systemd::instance::PROC_USER_INIT_INO;

pub use kiln_cgroups::systemd::in_user_namespace;

/// Whether this process lacks the privilege of real root: euid ≠ 0, or in a user namespace.
pub fn unprivileged() -> bool {
    !nix::unistd::geteuid().is_root() || in_user_namespace()
}

/// The `--rootless` setting (runc's meaning: whether cgroup permission problems are
/// tolerated the way an unprivileged user needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rootless {
    /// Decide from the process: see [`Rootless::resolve`].
    #[default]
    Auto,
    /// Rootless.
    Yes,
    /// Not rootless, even when it looks so.
    No,
}

impl FromStr for Rootless {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" | "" => Ok(Rootless::Auto),
            "true" => Ok(Rootless::Yes),
            "false" => Ok(Rootless::No),
            other => Err(Error::InvalidOption {
                option: "--rootless",
                reason: format!("invalid value {other:?}: want \"true\", \"false\" or \"auto\""),
            }),
        }
    }
}

impl Rootless {
    /// The decision: `auto` is rootless when euid ≠ 0, or when uid 0 runs in a user
    /// namespace, unless cgroups are handed to systemd and it is the system's instance that
    /// takes them (runc's rule: with `--systemd-cgroup`, uid 0 of a user namespace is
    /// rootless when its session bus sees an unprivileged uid, as under rootless podman —
    /// [`kiln_cgroups::systemd::user_instance`]).
    pub fn resolve(self, systemd_cgroup: bool) -> bool {
        match self {
            Rootless::Yes => true,
            Rootless::No => false,
            Rootless::Auto => {
                !nix::unistd::geteuid().is_root()
                    || (in_user_namespace()
                        && (!systemd_cgroup || kiln_cgroups::systemd::user_instance()))
            }
        }
    }
}

/// The state root when `--root` is not given: `/run/<name>` for real root; for an
/// unprivileged caller `$XDG_RUNTIME_DIR/<name>`, else `/run/user/<uid>/<name>` when that
/// directory is the caller's, else `<tmp>/<name>-<uid>` (`$TMPDIR` or `/tmp`). uid 0 in a user
/// namespace gets `$XDG_RUNTIME_DIR/<name>` (if set and not empty) unless `$USER` is "root",
/// as with runc.
pub fn default_state_root(name: &str) -> PathBuf {
    let euid = nix::unistd::geteuid();
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty());
    if euid.is_root() {
        let user = std::env::var_os("USER");
        return uid0_state_root(name, xdg.as_deref(), user.as_deref(), in_user_namespace());
    }
    if let Some(x) = xdg {
        return Path::new(&x).join(name);
    }
    let run_user = PathBuf::from(format!("/run/user/{euid}"));
    if std::fs::metadata(&run_user).is_ok_and(|m| m.is_dir() && m.uid() == euid.as_raw()) {
        return run_user.join(name);
    }
    let tmp = std::env::var_os("TMPDIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    tmp.join(format!("{name}-{euid}"))
}

/// uid 0's state root: `$XDG_RUNTIME_DIR/<name>` (`xdg`, if set and not empty) in a user
/// namespace unless `$USER` (`user`) is "root", else `/run/<name>` — runc's rule. An unset
/// `$USER` counts as not root: rootless podman starts conmon, and so the runtime, in its user
/// namespace with `XDG_RUNTIME_DIR` but no `USER`.
fn uid0_state_root(
    name: &str,
    xdg: Option<&OsStr>,
    user: Option<&OsStr>,
    in_user_namespace: bool,
) -> PathBuf {
    match xdg {
        Some(x) if in_user_namespace && user != Some(OsStr::new("root")) => Path::new(x).join(name),
        _ => Path::new("/run").join(name),
    }
}

/// Makes sure a state root an unprivileged caller uses is its own: created 0700 if missing
/// (parents too), and refused if it is not a directory this uid owns or others may write
/// (a shared /tmp lets anyone make the directory first).
pub fn ensure_private_dir(path: &Path) -> Result<()> {
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
    {
        Ok(()) => {}
        Err(e) => return Err(Error::io("create state root", path, e)),
    }
    let meta = std::fs::symlink_metadata(path).map_err(|e| Error::io("stat", path, e))?;
    let euid = nix::unistd::geteuid().as_raw();
    if !meta.is_dir() || meta.uid() != euid || meta.mode() & 0o022 != 0 {
        return Err(Error::StateRoot {
            path: path.to_path_buf(),
            reason: format!(
                "not a private directory of uid {euid} (owner {}, mode {:o}): \
                 remove it or pass --root",
                meta.uid(),
                meta.mode() & 0o7777
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_runc_values() {
        assert_eq!("auto".parse::<Rootless>().unwrap(), Rootless::Auto);
        assert_eq!("true".parse::<Rootless>().unwrap(), Rootless::Yes);
        assert_eq!("false".parse::<Rootless>().unwrap(), Rootless::No);
        let e = "yes".parse::<Rootless>().unwrap_err().to_string();
        assert!(e.contains("--rootless") && e.contains("yes"), "{e}");
        assert!(Rootless::Yes.resolve(false));
        assert!(!Rootless::No.resolve(false));
    }

    #[test]
    fn user_namespace_is_told_by_inode() {
        // A test process runs in some namespace; the answer must match the inode.
        let ino = std::fs::metadata("/proc/self/ns/user").unwrap().ino();
        assert_eq!(in_user_namespace(), ino != PROC_USER_INIT_INO);
    }

    #[test]
    fn uid0_in_a_user_namespace_keeps_state_in_xdg_runtime_dir_unless_user_is_root() {
        let xdg = Some(OsStr::new("/run/user/1000"));
        let root = Some(OsStr::new("root"));
        let alice = Some(OsStr::new("alice"));
        let at = |p: &str| PathBuf::from(p);
        // rootless podman's conmon: XDG_RUNTIME_DIR, no USER.
        assert_eq!(
            uid0_state_root("kiln", xdg, None, true),
            at("/run/user/1000/kiln")
        );
        assert_eq!(
            uid0_state_root("kiln", xdg, alice, true),
            at("/run/user/1000/kiln")
        );
        assert_eq!(
            uid0_state_root("kiln", xdg, Some(OsStr::new("")), true),
            at("/run/user/1000/kiln")
        );
        assert_eq!(uid0_state_root("kiln", xdg, root, true), at("/run/kiln"));
        assert_eq!(uid0_state_root("kiln", None, alice, true), at("/run/kiln"));
        // Real root ignores XDG_RUNTIME_DIR (/run/user/0 under a login session).
        assert_eq!(uid0_state_root("kiln", xdg, None, false), at("/run/kiln"));
        assert_eq!(uid0_state_root("kiln", xdg, alice, false), at("/run/kiln"));
    }

    #[test]
    fn a_shared_directory_is_refused() {
        let base = std::env::temp_dir().join(format!("kiln-rootless-{}", std::process::id()));
        let dir = base.join("state");
        ensure_private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        let e = ensure_private_dir(&dir).unwrap_err().to_string();
        assert!(e.contains("not a private directory of uid"), "{e}");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
