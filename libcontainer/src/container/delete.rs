//! `delete`: remove a stopped (or, forced, a live) container and its resources.

use std::os::fd::AsFd;
use std::time::Duration;

use super::Container;
use crate::error::{Error, Result};
use crate::hooks::{self, HookKind};
use crate::process::pidfd;
use crate::state::Status;

/// How long `delete --force` waits for the killed init to exit (runc: 10 s too).
const KILL_WAIT: Duration = Duration::from_secs(10);

impl Container {
    /// Deletes the container (runtime.md "delete"): without `force` only a
    /// stopped or created one; with `force` a running or paused one is killed
    /// first. Removes the cgroup and the state directory, then runs the
    /// poststop hooks.
    pub fn delete(self, force: bool) -> Result<()> {
        crate::timings::mark("delete");
        let _lock = self.lock()?;
        let status = self.status();
        if matches!(status, Status::Running | Status::Paused | Status::Creating) && !force {
            return Err(self.refuse(
                status,
                "cannot delete a container that is not stopped (use --force)",
            ));
        }
        let cgroup = self.cgroup();
        if let Some(pid) = self.pid() {
            let fd = pidfd::open(pid)?;
            // Still the same process? (pid() checked the start time.)
            if self.pid().is_some() {
                pidfd::send_signal(fd.as_fd(), libc::SIGKILL)?;
                // Freeze, kill everything, thaw: a frozen (paused, or frozen behind kiln's
                // back, even while created) process acts on its SIGKILL only once thawed.
                if let Some(cg) = cgroup.as_ref().ok().filter(|cg| cg.has_hierarchies()) {
                    cg.kill_all(libc::SIGKILL)?;
                }
                if !pidfd::wait_exit(fd.as_fd(), Some(KILL_WAIT))? {
                    return Err(Error::StillRunning {
                        id: self.record.id.clone(),
                        pid,
                        waited: KILL_WAIT,
                    });
                }
            }
        }
        // The init of a container this program created through the library is its child:
        // collect its status, or it stays a zombie.
        self.reap_if_ours();
        match cgroup {
            // Without a pid namespace other processes may outlive the init.
            Ok(cg) => super::cgroup_ops::kill_and_remove(&cg)?,
            Err(e) => log::warn!("{}: cgroup not removed: {e}", self.record.id),
        }
        std::fs::remove_dir_all(&self.dir).map_err(|e| Error::io("remove", &self.dir, e))?;
        let state = self.state_with(Status::Stopped).to_spec_json();
        hooks::run_all_warn(
            HookKind::Poststop,
            self.record.spec.hooks().as_ref(),
            &state,
        );
        Ok(())
    }

    /// Collects the exited init if it is this process' child (no-op otherwise, and while
    /// it runs): only the process with the recorded start time, never one that took its pid.
    fn reap_if_ours(&self) {
        let pid = self.record.pid;
        let same = crate::process::procfs::start_time_and_state(pid)
            .is_some_and(|(start, _)| start == self.record.pid_start);
        if same {
            if let Ok(fd) = pidfd::open(pid) {
                pidfd::reap_if_child(fd.as_fd());
            }
        }
    }
}
