//! `linux.cgroupsPath` parsing: cgroupfs paths and systemd `slice:prefix:name` triples.

use std::path::{Component, Path, PathBuf};

use crate::CgroupError;

/// Where a container's cgroup lives, parsed from OCI `linux.cgroupsPath`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupPath {
    /// A cgroupfs path, absolute from each hierarchy's root (e.g. `/kiln/<id>`).
    Fs(PathBuf),
    /// A systemd `slice:prefix:name` triple: the [`Manager`](crate::Manager) has systemd
    /// start a transient scope unit `prefix-name.scope` in the slice (over D-Bus), whose
    /// cgroup is `a.slice/a-b.slice/prefix-name.scope`.
    Systemd {
        /// The parent slice, e.g. `system.slice` or `user-1000.slice`.
        slice: String,
        /// The unit prefix, e.g. `kiln` (unit `kiln-<name>.scope`); empty means `name` is the unit.
        prefix: String,
        /// The unit name, usually the container id.
        name: String,
    },
}

/// The default parent of containers created without `linux.cgroupsPath`.
pub const DEFAULT_PARENT: &str = "/kiln";

impl CgroupPath {
    /// Parses `linux.cgroupsPath` for `container_id`.
    ///
    /// With `systemd == false`:
    /// * unset → `/kiln/<id>`;
    /// * absolute → used as is (lexically cleaned; `..` cannot climb above the root);
    /// * relative → taken relative to *each hierarchy's root*, i.e. `a/b` means `/a/b`.
    ///   This is a deliberate choice: it never places containers under the runtime's own
    ///   cgroup, which may be a supervisor's (runc instead nests them under its own).
    ///
    /// With `systemd == true` the value must be `slice:prefix:name` (unset → `system.slice:kiln:<id>`),
    /// and systemd must be running (`/run/systemd/system` exists), otherwise this fails with
    /// [`CgroupError::SystemdNotRunning`].
    pub fn parse(
        cgroups_path: Option<&str>,
        container_id: &str,
        systemd: bool,
    ) -> Result<Self, CgroupError> {
        let running = systemd && Path::new("/run/systemd/system").is_dir();
        Self::parse_with(cgroups_path, container_id, systemd, running)
    }

    /// [`CgroupPath::parse`] with the "is systemd running" probe injected (pure; unit tested).
    pub(crate) fn parse_with(
        cgroups_path: Option<&str>,
        container_id: &str,
        systemd: bool,
        systemd_running: bool,
    ) -> Result<Self, CgroupError> {
        let cgroups_path = cgroups_path.filter(|p| !p.is_empty());
        if systemd {
            if !systemd_running {
                return Err(CgroupError::SystemdNotRunning);
            }
            return match cgroups_path {
                None => Self::systemd("system.slice", "kiln", container_id),
                Some(p) => {
                    let parts: Vec<&str> = p.split(':').collect();
                    let [slice, prefix, name] = parts[..] else {
                        return Err(invalid(
                            p,
                            "expected slice:prefix:name for the systemd driver",
                        ));
                    };
                    Self::systemd(slice, prefix, name).map_err(|e| match e {
                        CgroupError::InvalidPath { reason, .. } => invalid(p, &reason),
                        other => other,
                    })
                }
            };
        }
        if container_id.is_empty() || container_id.contains('/') {
            return Err(invalid(
                container_id,
                "container id must be non-empty and contain no '/'",
            ));
        }
        let raw = match cgroups_path {
            None => format!("{DEFAULT_PARENT}/{container_id}"),
            Some(p) => p.to_string(),
        };
        if raw.contains(':') && !raw.starts_with('/') {
            return Err(invalid(
                &raw,
                "looks like a systemd slice:prefix:name path, but the systemd cgroup driver is not in use",
            ));
        }
        let cleaned = clean(Path::new(&raw));
        if cleaned == Path::new("/") {
            return Err(invalid(
                &raw,
                "the root cgroup cannot be a container's cgroup",
            ));
        }
        Ok(Self::Fs(cleaned))
    }

    fn systemd(slice: &str, prefix: &str, name: &str) -> Result<Self, CgroupError> {
        let slice = if slice.is_empty() {
            "system.slice"
        } else {
            slice
        };
        // Validate by expanding now, so errors surface at parse time.
        expand_slice(slice)?;
        // `.` and `..` would name the slice itself or its parent (a unit
        // name without a prefix is used as the directory name as it is).
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(invalid(
                name,
                "the unit name must be non-empty, not . or .. and contain no '/'",
            ));
        }
        if prefix.contains('/') {
            return Err(invalid(prefix, "the unit prefix must not contain '/'"));
        }
        if name.ends_with(".slice") {
            return Err(invalid(
                name,
                "a slice as the container's own unit is not supported: name a scope",
            ));
        }
        Ok(Self::Systemd {
            slice: slice.to_string(),
            prefix: prefix.to_string(),
            name: name.to_string(),
        })
    }

    /// The cgroup's path relative to a hierarchy root, e.g. `kiln/abc` or
    /// `system.slice/kiln-abc.scope` (systemd lays out slices `a-b.slice` as `a.slice/a-b.slice`).
    pub fn relative(&self) -> PathBuf {
        match self {
            Self::Fs(p) => p.strip_prefix("/").unwrap_or(p).to_path_buf(),
            Self::Systemd {
                slice,
                prefix,
                name,
            } => {
                // Validated in `systemd()`; an error cannot happen for a constructed value,
                // but fall back to the flat slice name rather than panicking.
                let mut dir = expand_slice(slice).unwrap_or_else(|_| PathBuf::from(slice));
                dir.push(unit_name(prefix, name));
                dir
            }
        }
    }
}

/// The unit of a systemd triple: `prefix-name.scope`; `name` itself when there is no prefix
/// (with `.scope` added unless it names a scope or slice already).
fn unit_name(prefix: &str, name: &str) -> String {
    if !prefix.is_empty() && !name.ends_with(".slice") {
        format!("{prefix}-{name}.scope")
    } else if name.ends_with(".scope") || name.ends_with(".slice") {
        name.to_string()
    } else {
        format!("{name}.scope")
    }
}

impl CgroupPath {
    /// The systemd unit of a `slice:prefix:name` path (`None` for a cgroupfs path).
    pub fn unit(&self) -> Option<String> {
        match self {
            Self::Fs(_) => None,
            Self::Systemd { prefix, name, .. } => Some(unit_name(prefix, name)),
        }
    }

    /// The parent slice of a `slice:prefix:name` path.
    pub fn slice(&self) -> Option<&str> {
        match self {
            Self::Fs(_) => None,
            Self::Systemd { slice, .. } => Some(slice),
        }
    }
}

fn invalid(path: &str, reason: &str) -> CgroupError {
    CgroupError::InvalidPath {
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

/// Lexically cleans an absolute path: drops `.`, resolves `..` without climbing above `/`.
fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Expands a systemd slice name into its cgroup path: `a-b-c.slice` → `a.slice/a-b.slice/a-b-c.slice`;
/// `-.slice` is the root.
pub(crate) fn expand_slice(slice: &str) -> Result<PathBuf, CgroupError> {
    let Some(stem) = slice.strip_suffix(".slice") else {
        return Err(invalid(slice, "a systemd slice name must end in .slice"));
    };
    if slice.contains('/') {
        return Err(invalid(slice, "a systemd slice name must not contain '/'"));
    }
    if stem == "-" {
        return Ok(PathBuf::new());
    }
    if stem.is_empty() || stem.starts_with('-') || stem.ends_with('-') || stem.contains("--") {
        return Err(invalid(slice, "malformed systemd slice name"));
    }
    let mut out = PathBuf::new();
    let mut acc = String::new();
    for (i, part) in stem.split('-').enumerate() {
        if i > 0 {
            acc.push('-');
        }
        acc.push_str(part);
        out.push(format!("{acc}.slice"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs(p: Option<&str>) -> Result<CgroupPath, CgroupError> {
        CgroupPath::parse_with(p, "ctr1", false, false)
    }

    #[test]
    fn unset_defaults_to_kiln_parent() {
        assert_eq!(fs(None).unwrap(), CgroupPath::Fs("/kiln/ctr1".into()));
        assert_eq!(fs(Some("")).unwrap(), CgroupPath::Fs("/kiln/ctr1".into()));
        assert_eq!(fs(None).unwrap().relative(), PathBuf::from("kiln/ctr1"));
    }

    #[test]
    fn absolute_and_relative_paths() {
        assert_eq!(fs(Some("/a/b")).unwrap(), CgroupPath::Fs("/a/b".into()));
        assert_eq!(fs(Some("a/b")).unwrap(), CgroupPath::Fs("/a/b".into()));
        assert_eq!(
            fs(Some("/a/./b/../c")).unwrap(),
            CgroupPath::Fs("/a/c".into())
        );
        assert_eq!(fs(Some("/../../x")).unwrap(), CgroupPath::Fs("/x".into()));
    }

    #[test]
    fn root_and_bad_ids_are_rejected() {
        assert!(fs(Some("/")).is_err());
        assert!(fs(Some("/a/..")).is_err());
        assert!(CgroupPath::parse_with(None, "a/b", false, false).is_err());
        assert!(fs(Some("system.slice:kiln:x")).is_err());
    }

    #[test]
    fn systemd_requires_running_systemd() {
        let err =
            CgroupPath::parse_with(Some("system.slice:kiln:x"), "x", true, false).unwrap_err();
        assert!(matches!(err, CgroupError::SystemdNotRunning));
        assert!(err.to_string().contains("/run/systemd/system"));
    }

    #[test]
    fn systemd_triples() {
        let p =
            CgroupPath::parse_with(Some("user-1000.slice:kiln:abc"), "abc", true, true).unwrap();
        assert_eq!(
            p,
            CgroupPath::Systemd {
                slice: "user-1000.slice".into(),
                prefix: "kiln".into(),
                name: "abc".into()
            }
        );
        assert_eq!(
            p.relative(),
            PathBuf::from("user.slice/user-1000.slice/kiln-abc.scope")
        );
        let d = CgroupPath::parse_with(None, "abc", true, true).unwrap();
        assert_eq!(d.relative(), PathBuf::from("system.slice/kiln-abc.scope"));
        let e = CgroupPath::parse_with(Some(":kiln:abc"), "abc", true, true).unwrap();
        assert_eq!(e.relative(), PathBuf::from("system.slice/kiln-abc.scope"));
        let r = CgroupPath::parse_with(Some("-.slice::abc.scope"), "abc", true, true).unwrap();
        assert_eq!(r.relative(), PathBuf::from("abc.scope"));
        assert_eq!(r.unit().as_deref(), Some("abc.scope"));
        let n = CgroupPath::parse_with(Some("system.slice::abc"), "abc", true, true).unwrap();
        assert_eq!(n.relative(), PathBuf::from("system.slice/abc.scope"));
        assert_eq!(p.unit().as_deref(), Some("kiln-abc.scope"));
        assert_eq!(p.slice(), Some("user-1000.slice"));
    }

    #[test]
    fn bad_systemd_triples() {
        for bad in [
            "a:b",
            "a:b:c:d",
            "nota:kiln:x",
            "a--b.slice:k:x",
            "s.slice:k:",
            "s.slice:k:a/b",
            // Found by fuzz/fuzz_targets/cgroups_path.rs: `system.slice/.`
            // and `..` (the root cgroup) as the container's cgroup.
            "::.",
            "-.slice::..",
            "system.slice::..",
            "system.slice:kiln:own.slice",
        ] {
            assert!(
                CgroupPath::parse_with(Some(bad), "x", true, true).is_err(),
                "{bad} should be rejected"
            );
        }
    }
}
