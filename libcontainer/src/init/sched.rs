//! Init step "scheduling": `linux.personality`, `process.ioPriority`,
//! `process.scheduler` and `process.execCPUAffinity` (runtime-spec 1.2).
//! Runs before the user switch: real-time policies need CAP_SYS_NICE.

use oci_spec::runtime::{
    IOPriorityClass, LinuxPersonalityDomain, LinuxSchedulerFlag, LinuxSchedulerPolicy, Process,
    Spec,
};

use crate::error::{Error, Result};

/// The kernel's `struct sched_attr` (sched_setattr(2)).
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

/// Applies the personality, I/O priority, scheduler and initial CPU affinity.
pub(crate) fn apply(spec: &Spec, process: &Process) -> Result<()> {
    personality(spec)?;
    process_attrs(process)
}

/// `linux.personality` (the container's execution domain).
pub(crate) fn personality(spec: &Spec) -> Result<()> {
    if let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) {
        if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
            return Err(Error::config(
                "linux.personality.flags",
                "no personality flags are defined; leave it empty",
            ));
        }
        let domain: libc::c_ulong = match p.domain() {
            LinuxPersonalityDomain::PerLinux => 0x0000,
            LinuxPersonalityDomain::PerLinux32 => 0x0008,
        };
        // SAFETY: personality(2) takes a plain integer.
        if unsafe { libc::personality(domain) } < 0 {
            return Err(Error::sys("personality", nix::Error::last()));
        }
    }
    Ok(())
}

/// The process' I/O priority, scheduler and initial CPU affinity (also for `exec`).
pub(crate) fn process_attrs(process: &Process) -> Result<()> {
    if let Some(io) = process.io_priority() {
        let class = match io.class() {
            IOPriorityClass::IoprioClassRt => 1,
            IOPriorityClass::IoprioClassBe => 2,
            IOPriorityClass::IoprioClassIdle => 3,
        };
        let prio = io.priority();
        if !(0..=7).contains(&prio) {
            return Err(Error::config(
                "process.ioPriority.priority",
                format!("{prio} is not in 0..=7"),
            ));
        }
        const IOPRIO_WHO_PROCESS: libc::c_int = 1;
        // SAFETY: ioprio_set(which, who = 0 for ourselves, ioprio) takes integers.
        let r = unsafe {
            libc::syscall(
                libc::SYS_ioprio_set,
                IOPRIO_WHO_PROCESS,
                0,
                (class << 13) | prio as i32,
            )
        };
        if r < 0 {
            return Err(Error::config(
                "process.ioPriority",
                format!("ioprio_set: {}", nix::Error::last()),
            ));
        }
    }
    if let Some(s) = process.scheduler() {
        let mut attr = SchedAttr {
            size: std::mem::size_of::<SchedAttr>() as u32,
            policy: policy_number(*s.policy()),
            nice: s.nice().unwrap_or(0),
            priority: s.priority().unwrap_or(0).max(0) as u32,
            runtime: s.runtime().unwrap_or(0),
            deadline: s.deadline().unwrap_or(0),
            period: s.period().unwrap_or(0),
            ..Default::default()
        };
        for f in s.flags().iter().flatten() {
            attr.flags |= flag_bit(*f);
        }
        // SAFETY: a fully initialised sched_attr of the size we pass; pid 0 is us.
        let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
        if r < 0 {
            return Err(Error::config(
                "process.scheduler",
                format!("sched_setattr: {}", nix::Error::last()),
            ));
        }
    }
    if let Some(cpus) = process
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.initial().clone())
    {
        set_affinity("process.execCPUAffinity.initial", &cpus)?;
    }
    Ok(())
}

/// `process.execCPUAffinity.final`, applied just before exec.
pub(crate) fn final_affinity(process: &Process) -> Result<()> {
    if let Some(cpus) = process
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.cpu_affinity_final().clone())
    {
        set_affinity("process.execCPUAffinity.final", &cpus)?;
    }
    Ok(())
}

fn policy_number(p: LinuxSchedulerPolicy) -> u32 {
    match p {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIso => 4,
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    }
}

fn flag_bit(f: LinuxSchedulerFlag) -> u64 {
    match f {
        LinuxSchedulerFlag::SchedResetOnFork => 0x01,
        LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
        LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
        LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
        LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
        LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
        LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
    }
}

/// Parses a CPU list such as `0-3,7`.
pub(crate) fn parse_cpu_list(field: &str, list: &str) -> Result<Vec<usize>> {
    let bad = || Error::config(field, format!("{list:?} is not a CPU list like 0-3,7"));
    let mut cpus = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (usize, usize) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        );
        if a > b || b >= libc::CPU_SETSIZE as usize {
            return Err(bad());
        }
        cpus.extend(a..=b);
    }
    if cpus.is_empty() {
        return Err(bad());
    }
    Ok(cpus)
}

fn set_affinity(field: &str, list: &str) -> Result<()> {
    let mut set = nix::sched::CpuSet::new();
    for cpu in parse_cpu_list(field, list)? {
        set.set(cpu)
            .map_err(|e| Error::config(field, e.to_string()))?;
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .map_err(|e| Error::config(field, format!("sched_setaffinity: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("f", "0-2,5").unwrap(), vec![0, 1, 2, 5]);
        assert_eq!(parse_cpu_list("f", "1").unwrap(), vec![1]);
        assert!(parse_cpu_list("f", "3-1").is_err());
        assert!(parse_cpu_list("f", "x").is_err());
        assert!(parse_cpu_list("f", "").is_err());
    }
}
