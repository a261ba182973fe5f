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

/// Applies the personality, NUMA memory policy, I/O priority, scheduler and
/// initial CPU affinity.
pub(crate) fn apply(spec: &Spec, process: &Process) -> Result<()> {
    personality(spec)?;
    if let Some(policy) = super::mempolicy::MemPolicy::from_spec(spec)? {
        policy.apply()?;
    }
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

/// The process' I/O priority, scheduler and initial CPU affinity (reset to
/// the cgroup's cpuset without one).
fn process_attrs(process: &Process) -> Result<()> {
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
            return Err(setattr_error(*s.policy(), nix::Error::last()));
        }
    }
    match process
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.initial().clone())
    {
        Some(cpus) => set_affinity("process.execCPUAffinity.initial", &cpus),
        None => reset_affinity(),
    }
}

/// Without `execCPUAffinity.initial`, the process must not keep the affinity
/// of whoever ran the runtime (e.g. `taskset -c 0 kiln run`): since Linux 6.2
/// a cgroup move keeps a mask set with sched_setaffinity. Asking for every
/// CPU gets the container's cpuset (the kernel intersects the request with
/// it), as runc does. Call it after joining the cgroup.
fn reset_affinity() -> Result<()> {
    let mut all = nix::sched::CpuSet::new();
    for cpu in 0..nix::sched::CpuSet::count() {
        all.set(cpu)
            .map_err(|e| Error::sys("reset CPU affinity: CpuSet::set", e))?;
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &all)
        .map_err(|e| Error::sys("reset CPU affinity: sched_setaffinity to all CPUs", e))
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

/// The runtime-spec names of the scheduler flags (config.md) and their bits;
/// oci-spec 0.10 deserializes two of them under other names.
const FLAGS: [(&str, LinuxSchedulerFlag, u64); 7] = [
    (
        "SCHED_FLAG_RESET_ON_FORK",
        LinuxSchedulerFlag::SchedResetOnFork,
        0x01,
    ),
    (
        "SCHED_FLAG_RECLAIM",
        LinuxSchedulerFlag::SchedFlagReclaim,
        0x02,
    ),
    (
        "SCHED_FLAG_DL_OVERRUN",
        LinuxSchedulerFlag::SchedFlagDLOverrun,
        0x04,
    ),
    (
        "SCHED_FLAG_KEEP_POLICY",
        LinuxSchedulerFlag::SchedFlagKeepPolicy,
        0x08,
    ),
    (
        "SCHED_FLAG_KEEP_PARAMS",
        LinuxSchedulerFlag::SchedFlagKeepParams,
        0x10,
    ),
    (
        "SCHED_FLAG_UTIL_CLAMP_MIN",
        LinuxSchedulerFlag::SchedFlagUtilClampMin,
        0x20,
    ),
    (
        "SCHED_FLAG_UTIL_CLAMP_MAX",
        LinuxSchedulerFlag::SchedFlagUtilClampMax,
        0x40,
    ),
];

fn flag_bit(f: LinuxSchedulerFlag) -> u64 {
    FLAGS
        .iter()
        .find(|(_, flag, _)| *flag == f)
        .map_or(0, |(_, _, bit)| *bit)
}

/// Rewrites `scheduler.flags` of a process JSON object from the runtime-spec
/// names to the ones oci-spec deserializes, before it is parsed. A name that
/// is not the spec's is an error naming `{prefix}scheduler.flags[i]`; entries
/// that are not strings are left for the parser to report.
pub(crate) fn spec_flag_names(process: &mut serde_json::Value, prefix: &str) -> Result<()> {
    let Some(flags) = process
        .pointer_mut("/scheduler/flags")
        .and_then(serde_json::Value::as_array_mut)
    else {
        return Ok(());
    };
    for (i, entry) in flags.iter_mut().enumerate() {
        let Some(name) = entry.as_str() else { continue };
        let field = format!("{prefix}scheduler.flags[{i}]");
        let Some((_, flag, _)) = FLAGS.iter().find(|(n, _, _)| *n == name) else {
            let known: Vec<&str> = FLAGS.iter().map(|(n, _, _)| *n).collect();
            return Err(Error::config(
                field,
                format!(
                    "unknown flag {name:?} (expected one of {})",
                    known.join(", ")
                ),
            ));
        };
        *entry = serde_json::to_value(flag).map_err(|e| Error::config(field, e.to_string()))?;
    }
    Ok(())
}

fn policy_name(p: LinuxSchedulerPolicy) -> &'static str {
    match p {
        LinuxSchedulerPolicy::SchedOther => "SCHED_OTHER",
        LinuxSchedulerPolicy::SchedFifo => "SCHED_FIFO",
        LinuxSchedulerPolicy::SchedRr => "SCHED_RR",
        LinuxSchedulerPolicy::SchedBatch => "SCHED_BATCH",
        LinuxSchedulerPolicy::SchedIso => "SCHED_ISO",
        LinuxSchedulerPolicy::SchedIdle => "SCHED_IDLE",
        LinuxSchedulerPolicy::SchedDeadline => "SCHED_DEADLINE",
    }
}

/// The `process.scheduler` error for a failed sched_setattr.
fn setattr_error(policy: LinuxSchedulerPolicy, errno: nix::Error) -> Error {
    let name = policy_name(policy);
    let realtime = matches!(
        policy,
        LinuxSchedulerPolicy::SchedFifo
            | LinuxSchedulerPolicy::SchedRr
            | LinuxSchedulerPolicy::SchedDeadline
    );
    let reason = if errno == nix::Error::EPERM && realtime {
        format!(
            "policy {name} was refused (sched_setattr: EPERM): real-time policies need \
             CAP_SYS_NICE in the host's user namespace, which a container with a user \
             namespace of its own does not have, and, under cgroup v1 real-time group \
             scheduling, real-time runtime in the container's cgroup"
        )
    } else {
        format!("policy {name}: sched_setattr: {errno}")
    };
    Error::config("process.scheduler", reason)
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

    #[test]
    fn spec_flag_names_parse_to_their_bits() {
        let names: Vec<&str> = FLAGS.iter().map(|(n, _, _)| *n).collect();
        let mut p = serde_json::json!({"scheduler": {"policy": "SCHED_OTHER", "flags": names}});
        spec_flag_names(&mut p, "process.").unwrap();
        let s: oci_spec::runtime::Scheduler =
            serde_json::from_value(p["scheduler"].take()).unwrap();
        let bits: Vec<u64> = s.flags().iter().flatten().map(|f| flag_bit(*f)).collect();
        assert_eq!(bits, [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40]);
    }

    #[test]
    fn other_flag_names_are_refused() {
        let mut p = serde_json::json!({"scheduler": {"flags": ["SCHED_FLAG_RECLAIM", "SCHED_RESET_ON_FORK"]}});
        let e = spec_flag_names(&mut p, "process.").unwrap_err().to_string();
        assert!(
            e.contains("process.scheduler.flags[1]") && e.contains("SCHED_FLAG_RESET_ON_FORK"),
            "{e}"
        );
    }
}
