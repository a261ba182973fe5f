//! The last steps of every container process, the init's and each exec'd
//! one's: one ordered list, so that their security ordering cannot drift
//! apart. rlimits → scheduling → program lookup → labels → fds close-on-exec
//! → (seccomp without no_new_privs) → bounding set → user → cwd → caps →
//! no_new_privs → (seccomp with a notify listener); then, once the process
//! may go on, (seccomp with no_new_privs) → final CPU affinity → signals →
//! execve ([`Prepared`]).
//!
//! The security-relevant system calls go through [`Privileges`], so that the
//! order can be checked without root (`setup_tests.rs` records them); the
//! real ones are [`Kernel`]'s, a zero-sized type the steps are compiled for.

use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{Process, Spec};

use super::caps::CapPlan;
use super::exec::ExecPlan;
use super::{rlimits, sched, seccomp, security, step, user};
use crate::error::{Error, Result};
use crate::process::channel::Channel;
use kiln_seccomp::CompiledFilter;

/// Which process goes through the setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// The container init.
    Init,
    /// A process `exec` starts in the container.
    ExecProcess,
}

impl Stage {
    /// Its name in fail points (see `crate::failpoint`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Stage::Init => "init",
            Stage::ExecProcess => "exec-process",
        }
    }
}

/// The security-relevant system calls of the setup, whose order matters.
pub(crate) trait Privileges {
    /// Marks every fd from `keep_below` on close-on-exec (CVE-2024-21626).
    fn close_fds_on_exec(&mut self, program: &mut ExecPlan, keep_below: u32) -> Result<()>;
    /// Loads a seccomp filter; a notify listener fd goes to the runtime.
    fn load_seccomp(&mut self, filter: &CompiledFilter, chan: &Channel, stage: Stage)
        -> Result<()>;
    /// Limits the capability bounding set (needs CAP_SETPCAP).
    fn limit_bounding(&mut self, caps: &CapPlan) -> Result<()>;
    /// setgroups(2).
    fn set_groups(&mut self, gids: &[Gid]) -> nix::Result<()>;
    /// PR_SET_KEEPCAPS: whether a uid change keeps the permitted set.
    fn keep_caps(&mut self, on: bool) -> nix::Result<()>;
    /// setresgid(2), all three ids.
    fn set_gid(&mut self, gid: Gid) -> nix::Result<()>;
    /// setresuid(2), all three ids.
    fn set_uid(&mut self, uid: Uid) -> nix::Result<()>;
    /// Re-arms PR_SET_PDEATHSIG (a change of credentials cleared it).
    fn die_with_parent(&mut self, chan: &Channel) -> Result<()>;
    /// Enters `process.cwd`.
    fn enter_cwd(&mut self, process: &Process) -> Result<()>;
    /// Sets the inheritable, effective, permitted and ambient sets.
    fn apply_caps(&mut self, caps: &CapPlan) -> Result<()>;
    /// PR_SET_NO_NEW_PRIVS.
    fn no_new_privs(&mut self) -> Result<()>;
}

/// The real system calls.
pub(crate) struct Kernel;

impl Privileges for Kernel {
    fn close_fds_on_exec(&mut self, program: &mut ExecPlan, keep_below: u32) -> Result<()> {
        program.close_fds_on_exec(keep_below)
    }
    fn load_seccomp(&mut self, f: &CompiledFilter, chan: &Channel, stage: Stage) -> Result<()> {
        seccomp::load(f, chan, stage)
    }
    fn limit_bounding(&mut self, caps: &CapPlan) -> Result<()> {
        caps.apply_bounding()
    }
    fn set_groups(&mut self, gids: &[Gid]) -> nix::Result<()> {
        nix::unistd::setgroups(gids)
    }
    fn keep_caps(&mut self, on: bool) -> nix::Result<()> {
        nix::sys::prctl::set_keepcaps(on)
    }
    fn set_gid(&mut self, gid: Gid) -> nix::Result<()> {
        nix::unistd::setresgid(gid, gid, gid)
    }
    fn set_uid(&mut self, uid: Uid) -> nix::Result<()> {
        nix::unistd::setresuid(uid, uid, uid)
    }
    fn die_with_parent(&mut self, chan: &Channel) -> Result<()> {
        super::die_with_parent(chan)
    }
    fn enter_cwd(&mut self, process: &Process) -> Result<()> {
        super::exec::enter_cwd(process)
    }
    fn apply_caps(&mut self, caps: &CapPlan) -> Result<()> {
        caps.apply()
    }
    fn no_new_privs(&mut self) -> Result<()> {
        security::set_no_new_privs()
    }
}

/// What a container process becomes, prepared before the clone.
pub(crate) struct ProcessSetup<'a> {
    pub stage: Stage,
    pub spec: &'a Spec,
    pub process: &'a Process,
    pub caps: Option<&'a CapPlan>,
    pub seccomp: Option<&'a CompiledFilter>,
    /// fds 3..3+preserve_fds stay open across exec.
    pub preserve_fds: u32,
    /// Whether setgroups(2) may be called (not in a user namespace whose
    /// /proc/self/setgroups says "deny"): see [`setgroups_permitted`].
    pub setgroups: bool,
}

impl<'a> ProcessSetup<'a> {
    /// Runs the steps; returns the program to exec, with the filter still to
    /// load (with no_new_privs and no notify listener: as late as possible).
    pub(crate) fn run(&self, chan: &Channel) -> Result<Prepared<'a>> {
        self.run_with(&mut Kernel, chan)
    }

    /// [`ProcessSetup::run`] with `sys`'s system calls.
    pub(crate) fn run_with<P: Privileges>(
        &self,
        sys: &mut P,
        chan: &Channel,
    ) -> Result<Prepared<'a>> {
        let (spec, process) = (self.spec, self.process);
        // A step that is also a fail point.
        let at = |name: &'static str| {
            step(name);
            crate::failpoint::hit(self.stage.name(), name);
        };
        at("rlimits");
        rlimits::apply(process)?;
        step("sched");
        sched::apply(spec, process)?;
        step("lookup");
        let mut program = ExecPlan::resolve(process)?;
        step("labels");
        security::set_exec_labels(process)?;
        // Before any filter is loaded: a profile need not allow close_range.
        step("fds-cloexec");
        sys.close_fds_on_exec(&mut program, 3 + self.preserve_fds)?;
        // Without no_new_privs, loading seccomp needs CAP_SYS_ADMIN: do it while
        // still root (the profile then has to allow setresuid/capset, as with runc).
        // A notify listener must reach the agent while the runtime still runs.
        let nnp = process.no_new_privileges().unwrap_or(false);
        let mut filter = self.seccomp;
        if !nnp {
            if let Some(f) = filter.take() {
                at("seccomp");
                sys.load_seccomp(f, chan, self.stage)?;
            }
        }
        if let Some(c) = self.caps {
            step("bounding");
            sys.limit_bounding(c)?;
        }
        at("user");
        user::switch(sys, process, self.setgroups)?;
        // A change of effective uid cleared PR_SET_PDEATHSIG.
        sys.die_with_parent(chan)?;
        step("cwd");
        sys.enter_cwd(process)?;
        at("caps");
        if let Some(c) = self.caps {
            sys.apply_caps(c)?;
        }
        if nnp {
            step("no-new-privs");
            sys.no_new_privs()?;
        }
        if filter.is_some_and(CompiledFilter::uses_notify) {
            if let Some(f) = filter.take() {
                at("seccomp");
                sys.load_seccomp(f, chan, self.stage)?;
            }
        }
        Ok(Prepared {
            stage: self.stage,
            program,
            filter,
        })
    }
}

/// A set-up process, ready to execute its program once it may go on (the
/// init: after `start`; an exec'd process: after the handover).
pub(crate) struct Prepared<'a> {
    stage: Stage,
    program: ExecPlan,
    /// The filter still to load, just before exec.
    filter: Option<&'a CompiledFilter>,
}

impl Prepared<'_> {
    /// The process' environment (with HOME).
    pub(crate) fn env(&self) -> &[String] {
        self.program.env()
    }

    /// Loads the filter left for last, if any (step "seccomp").
    pub(crate) fn load_seccomp(&mut self, chan: &Channel) -> Result<()> {
        self.load_seccomp_with(&mut Kernel, chan)
    }

    /// [`Prepared::load_seccomp`] with `sys`'s system calls.
    pub(crate) fn load_seccomp_with<P: Privileges>(
        &mut self,
        sys: &mut P,
        chan: &Channel,
    ) -> Result<()> {
        if let Some(f) = self.filter.take() {
            step("seccomp");
            sys.load_seccomp(f, chan, self.stage)?;
        }
        Ok(())
    }

    /// The last steps: `process.execCPUAffinity.final`, default signal
    /// dispositions, execve. Returns only on failure.
    pub(crate) fn exec(self, process: &Process) -> Error {
        if self.filter.is_some() {
            return Error::InitDied("internal: exec before the seccomp filter was loaded".into());
        }
        step("affinity");
        if let Err(e) = sched::final_affinity(process) {
            return e;
        }
        super::exec::reset_signals();
        step("exec");
        self.program.exec()
    }
}

/// Whether setgroups(2) may be called by a process that is in a user
/// namespace other than the initial one (`in_user_ns`: a new or joined one,
/// or the runtime's own — rootless podman runs it as uid 0 of its own) or
/// not: outside any, always; inside, when /proc/self/setgroups says "allow"
/// (`create` writes gid_map as a privileged process, so it normally does).
pub(crate) fn setgroups_permitted(in_user_ns: bool) -> bool {
    !in_user_ns || setgroups_allowed()
}

/// Whether this user namespace allows setgroups(2).
fn setgroups_allowed() -> bool {
    crate::process::proc_root::ProcRoot::open()
        .and_then(|p| p.read_to_string("self/setgroups"))
        .map(|s| s.trim() == "allow")
        .unwrap_or(true)
}

#[cfg(test)]
#[path = "setup_tests.rs"]
mod tests;
