//! The last steps of every container process, the init's and each exec'd
//! one's: one ordered list, so that their security ordering cannot drift
//! apart. rlimits → scheduling → program lookup → labels → fds close-on-exec
//! → (seccomp without no_new_privs) → bounding set → user → cwd → caps →
//! no_new_privs → (seccomp with a notify listener).

use oci_spec::runtime::{Process, Spec};

use super::caps::CapPlan;
use super::exec::ExecPlan;
use super::{die_with_parent, rlimits, sched, seccomp, security, user};
use crate::error::Result;
use crate::process::channel::Channel;

/// What a container process becomes, prepared before the clone.
pub(crate) struct ProcessSetup<'a> {
    /// "init" or "exec-process": names the fail points (see `crate::failpoint`).
    pub stage: &'static str,
    pub spec: &'a Spec,
    pub process: &'a Process,
    pub caps: Option<&'a CapPlan>,
    pub seccomp: Option<&'a kiln_seccomp::CompiledFilter>,
    /// fds 3..3+preserve_fds stay open across exec.
    pub preserve_fds: u32,
    /// Whether setgroups(2) may be called (not in a user namespace whose
    /// /proc/self/setgroups says "deny").
    pub setgroups: bool,
}

impl<'a> ProcessSetup<'a> {
    /// Runs the steps; returns the program to exec and the filter still to
    /// load (with no_new_privs and no notify listener: as late as possible,
    /// for the init after `start`).
    pub(crate) fn run(
        &self,
        chan: &Channel,
    ) -> Result<(ExecPlan, Option<&'a kiln_seccomp::CompiledFilter>)> {
        let (spec, process) = (self.spec, self.process);
        let hit = |step: &str| crate::failpoint::hit(self.stage, step);
        hit("rlimits");
        rlimits::apply(process)?;
        sched::apply(spec, process)?;
        let mut program = ExecPlan::resolve(process)?;
        security::set_exec_labels(process)?;
        // Before any filter is loaded: a profile need not allow close_range.
        program.close_fds_on_exec(3 + self.preserve_fds)?;
        // Without no_new_privs, loading seccomp needs CAP_SYS_ADMIN: do it while
        // still root (the profile then has to allow setresuid/capset, as with runc).
        // A notify listener must reach the agent while the runtime still runs.
        let nnp = process.no_new_privileges().unwrap_or(false);
        let mut filter = self.seccomp;
        if !nnp {
            if let Some(f) = filter.take() {
                hit("seccomp");
                seccomp::load(f, chan)?;
            }
        }
        if let Some(c) = self.caps {
            c.apply_bounding()?;
        }
        hit("user");
        user::switch(process, self.setgroups)?;
        // A change of effective uid cleared PR_SET_PDEATHSIG.
        die_with_parent(chan)?;
        super::exec::enter_cwd(process)?;
        hit("caps");
        if let Some(c) = self.caps {
            c.apply()?;
        }
        security::no_new_privs(process)?;
        if filter.is_some_and(|f| f.uses_notify()) {
            if let Some(f) = filter.take() {
                hit("seccomp");
                seccomp::load(f, chan)?;
            }
        }
        Ok((program, filter))
    }
}

/// Whether this user namespace allows setgroups(2) (`create` writes gid_map
/// as a privileged process, so it normally does).
pub(crate) fn setgroups_allowed() -> bool {
    crate::process::proc_root::ProcRoot::open()
        .and_then(|p| p.read_to_string("self/setgroups"))
        .map(|s| s.trim() == "allow")
        .unwrap_or(true)
}
