//! Init step "namespaces": which namespaces to create or join, and entering them.
//!
//! Fast path (the usual container): nothing is joined by path and there is no
//! time namespace, so the init is cloned straight into all its new
//! namespaces with one clone3. Otherwise the cloned process joins the listed
//! namespaces (user first), unshares the new ones and, when a pid or time
//! namespace only applies to children, forks the real init once.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::sched::{setns, unshare, CloneFlags};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, Result};
use crate::process::channel::Channel;
use crate::process::clone::{fork_sibling, Forked};
use crate::process::protocol::{FromInit, ToInit};

/// What the init must do about namespaces; built in the parent before clone.
#[derive(Debug)]
pub(crate) struct NamespacePlan {
    /// Flags for clone3 on the fast path: the pid and user namespaces.
    pub clone_flags: u64,
    /// Fast path: the other new namespaces, which the init unshares itself
    /// right after the clone (creating a network namespace takes ~1 ms, and
    /// this way it overlaps with the parent creating the cgroups).
    pub deferred: CloneFlags,
    /// New namespaces to unshare on the slow path (all but cgroup and time).
    pub unshare_flags: CloneFlags,
    /// Existing namespaces to join: (fd, type), user first.
    pub joins: Vec<(OwnedFd, CloneFlags)>,
    /// Whether the slow path (joins, time, or a forked init) is needed.
    pub slow_path: bool,
    /// Whether the init must be forked after unsharing (new or joined pid ns, new time ns).
    pub fork_init: bool,
    /// A new user namespace is created (the parent writes id maps).
    pub new_user: bool,
    /// A new cgroup namespace: unshared after the init joined its cgroup.
    pub new_cgroup: bool,
    /// A new mount namespace.
    pub new_mount: bool,
    /// A new network namespace (its `lo` is brought up).
    pub new_net: bool,
    /// Contents for /proc/self/timens_offsets, if a time namespace is new.
    pub time_offsets: Option<String>,
}

/// The clone/unshare/setns flag of a namespace type.
pub(crate) fn flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

impl NamespacePlan {
    /// Whether the init ends up in a user namespace other than the runtime's
    /// (a new one, or one joined by path).
    pub(crate) fn in_user_namespace(&self) -> bool {
        self.new_user
            || self
                .joins
                .iter()
                .any(|(_, f)| *f == CloneFlags::CLONE_NEWUSER)
    }

    /// Opens every `path` namespace (so a missing one fails before clone) and
    /// sorts the rest into clone/unshare flags.
    pub(crate) fn from_spec(spec: &Spec) -> Result<Self> {
        let mut plan = NamespacePlan {
            clone_flags: 0,
            deferred: CloneFlags::empty(),
            unshare_flags: CloneFlags::empty(),
            joins: Vec::new(),
            slow_path: false,
            fork_init: false,
            new_user: false,
            new_cgroup: false,
            new_mount: false,
            new_net: false,
            time_offsets: None,
        };
        let list = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
        let mut new = CloneFlags::empty();
        let mut pid_joined = false;
        for (i, ns) in list.into_iter().flatten().enumerate() {
            let f = flag(ns.typ());
            match ns.path() {
                Some(path) => {
                    let file = File::open(path).map_err(|e| {
                        Error::config(
                            format!("linux.namespaces[{i}].path"),
                            format!("open {}: {e}", path.display()),
                        )
                    })?;
                    if ns.typ() == LinuxNamespaceType::Pid {
                        pid_joined = true;
                    }
                    let entry = (OwnedFd::from(file), f);
                    if ns.typ() == LinuxNamespaceType::User {
                        plan.joins.insert(0, entry);
                    } else {
                        plan.joins.push(entry);
                    }
                }
                None => new |= f,
            }
        }
        let time = flag(LinuxNamespaceType::Time);
        plan.new_user = new.contains(CloneFlags::CLONE_NEWUSER);
        plan.new_cgroup = new.contains(CloneFlags::CLONE_NEWCGROUP);
        plan.new_mount = new.contains(CloneFlags::CLONE_NEWNS);
        plan.new_net = new.contains(CloneFlags::CLONE_NEWNET);
        if new.contains(time) {
            plan.time_offsets = Some(time_offsets(spec));
        }
        let base = new - CloneFlags::CLONE_NEWCGROUP - time;
        plan.slow_path = !plan.joins.is_empty() || new.contains(time);
        plan.fork_init = plan.slow_path
            && (pid_joined || new.contains(CloneFlags::CLONE_NEWPID) || new.contains(time));
        if plan.slow_path {
            plan.unshare_flags = base;
        } else {
            let at_clone = base & (CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWUSER);
            plan.clone_flags = at_clone.bits() as u64;
            plan.deferred = base - at_clone;
        }
        Ok(plan)
    }

    /// Slow path, in the cloned process: join, unshare, maybe fork. Returns in
    /// the process that goes on to be the container init (the intermediate
    /// process, if any, reports the init pid and exits here).
    pub(crate) fn enter(&self, chan: &Channel) -> Result<()> {
        if !self.slow_path {
            if !self.deferred.is_empty() {
                unshare(self.deferred)
                    .map_err(|e| Error::sys(format!("unshare {:?}", self.deferred), e))?;
            }
            return Ok(());
        }
        for (fd, f) in &self.joins {
            setns(fd.as_fd(), *f)
                .map_err(|e| Error::sys(format!("setns {f:?} (fd {})", fd.as_raw_fd()), e))?;
        }
        if !self.unshare_flags.is_empty() {
            unshare(self.unshare_flags)
                .map_err(|e| Error::sys(format!("unshare {:?}", self.unshare_flags), e))?;
        }
        if self.new_user {
            chan.send(&FromInit::MapRequest(nix::unistd::getpid().as_raw()))?;
            chan.expect(ToInit::Go)?;
        }
        if let Some(offsets) = &self.time_offsets {
            unshare(flag(LinuxNamespaceType::Time))
                .map_err(|e| Error::sys("unshare CLONE_NEWTIME", e))?;
            std::fs::write("/proc/self/timens_offsets", offsets).map_err(|e| {
                Error::config(
                    "linux.timeOffsets",
                    format!("write /proc/self/timens_offsets: {e}"),
                )
            })?;
        }
        if self.fork_init {
            match fork_sibling()? {
                Forked::Parent { pid, .. } => {
                    let code = match chan.send(&FromInit::InitPid(pid)) {
                        Ok(()) => 0,
                        Err(_) => 1,
                    };
                    // The intermediate process has nothing left to do.
                    crate::init::exit_now(code);
                }
                Forked::Child => super::die_with_parent(chan)?,
            }
        } else {
            chan.send(&FromInit::InitPid(nix::unistd::getpid().as_raw()))?;
        }
        Ok(())
    }

    /// After the parent's `Go`: become root of a new user namespace and
    /// create the cgroup namespace now that the init sits in its cgroup.
    pub(crate) fn finish(&self) -> Result<()> {
        if self.new_user {
            let root = nix::unistd::Uid::from_raw(0);
            let rootg = nix::unistd::Gid::from_raw(0);
            nix::unistd::setresgid(rootg, rootg, rootg)
                .map_err(|e| Error::sys("setresgid 0 in user namespace", e))?;
            nix::unistd::setresuid(root, root, root)
                .map_err(|e| Error::sys("setresuid 0 in user namespace", e))?;
        }
        if self.new_cgroup {
            unshare(CloneFlags::CLONE_NEWCGROUP)
                .map_err(|e| Error::sys("unshare CLONE_NEWCGROUP", e))?;
        }
        Ok(())
    }
}

/// `linux.timeOffsets` in the format of /proc/PID/timens_offsets.
fn time_offsets(spec: &Spec) -> String {
    let mut out = String::new();
    if let Some(offsets) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref())
    {
        for (clock, off) in offsets {
            out.push_str(&format!(
                "{clock} {} {}\n",
                off.secs().unwrap_or(0),
                off.nanosecs().unwrap_or(0)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ns: &str) -> Spec {
        crate::bundle::parse_config(
            format!(
                r#"{{"ociVersion":"1.0.2","root":{{"path":"r"}},"linux":{{"namespaces":{ns}}}}}"#
            )
            .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn fast_path_for_plain_container() {
        let p = NamespacePlan::from_spec(&spec(
            r#"[{"type":"pid"},{"type":"mount"},{"type":"cgroup"},{"type":"network"}]"#,
        ))
        .unwrap();
        assert!(!p.slow_path);
        assert!(p.new_cgroup && p.new_net);
        let f = CloneFlags::from_bits_retain(p.clone_flags as i32);
        assert_eq!(f, CloneFlags::CLONE_NEWPID);
        assert_eq!(
            p.deferred,
            CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWNET
        );
    }

    #[test]
    fn join_takes_slow_path_user_first() {
        let p = NamespacePlan::from_spec(&spec(
            r#"[{"type":"pid"},{"type":"network","path":"/proc/self/ns/net"},{"type":"user","path":"/proc/self/ns/user"}]"#,
        ))
        .unwrap();
        assert!(p.slow_path && p.fork_init);
        assert!(!p.new_net, "a joined network namespace is not new");
        assert_eq!(p.joins[0].1, CloneFlags::CLONE_NEWUSER);
        assert_eq!(p.unshare_flags, CloneFlags::CLONE_NEWPID);
    }

    #[test]
    fn missing_path_is_named() {
        let e = NamespacePlan::from_spec(&spec(r#"[{"type":"network","path":"/nonexistent/ns"}]"#))
            .unwrap_err();
        assert!(e.to_string().contains("linux.namespaces[0].path"), "{e}");
    }
}
