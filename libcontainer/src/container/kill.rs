//! `kill`: send a signal to the container process, or to all of its processes.

use std::os::fd::AsFd;

use kiln_cgroups::{CgroupError, FreezerState};

use super::Container;
use crate::error::Result;
use crate::process::pidfd;
use crate::signal::Signal;
use crate::state::Status;

impl Container {
    /// Sends `signal` to the container process; with `all`, to every process
    /// in the container's cgroup. `signal` is a [`Signal`], parsed from runc's forms with
    /// `"KILL".parse()`, or e.g. [`Signal::TERM`].
    pub fn kill(&self, signal: Signal, all: bool) -> Result<()> {
        let status = self.status();
        let is_kill = signal == Signal::KILL;
        let signal = signal.as_raw();
        // As runc: without a pid namespace of its own, the container's other processes
        // would outlive its init, so SIGKILL goes to every process of its cgroup.
        // A rootless container without a cgroup: only its init can be signalled (with a
        // pid namespace, the kernel kills the rest when the init dies).
        let cgroup_less = !self.cgroup()?.has_hierarchies();
        if (all || (is_kill && !self.has_own_pid_ns())) && !cgroup_less {
            // As runc: --all of a container that is gone is no error.
            if status == Status::Stopped
                && self.cgroup()?.pids().map(|p| p.is_empty()).unwrap_or(true)
            {
                return if all {
                    Ok(())
                } else {
                    Err(self.refuse(status, "container not running"))
                };
            }
            self.cgroup()?.kill_all(signal)?;
            return Ok(());
        }
        if status == Status::Stopped {
            return if all {
                Ok(())
            } else {
                Err(self.refuse(status, "container not running"))
            };
        }
        let fd = pidfd::open(self.record.pid)?;
        // Re-check identity now that the pidfd pins the process.
        if self.pid().is_none() {
            return Err(self.refuse(Status::Stopped, "container not running"));
        }
        pidfd::send_signal(fd.as_fd(), signal)?;
        if is_kill {
            self.thaw_for_sigkill()?;
        }
        Ok(())
    }

    /// Whether config.json gives the container a pid namespace (new or joined).
    fn has_own_pid_ns(&self) -> bool {
        self.spec()
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|ns| {
                ns.iter()
                    .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Pid)
            })
    }

    /// A frozen process (paused, or frozen behind kiln's back) acts on a SIGKILL only once
    /// thawed: thaw its cgroup, as runc does. Other signals stay pending until `resume`.
    fn thaw_for_sigkill(&self) -> Result<()> {
        let cg = self.cgroup()?;
        match cg.freezer_state() {
            Ok(FreezerState::Thawed) => Ok(()),
            Ok(FreezerState::Freezing | FreezerState::Frozen) => Ok(cg.thaw()?),
            // No freezer, or no cgroup: nothing can be frozen.
            Err(CgroupError::ControllerMissing { .. } | CgroupError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
