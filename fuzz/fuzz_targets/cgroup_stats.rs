//! cgroupfs statistics files as `events --stats`, `ps` and `kill --all` read
//! them (cgroup v1 and v2): never a panic (overflow included) whatever the
//! files hold; the statistics serialize to JSON.
//!
//! Input: a first byte choosing v1 (even) or v2 (odd), then files separated
//! by NUL, each a byte naming it (an index into `FILES`) and its content;
//! they are written into a fresh directory, which the v1 code reads as every
//! controller's and the v2 code as the container's cgroup.
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;

const FILES: &[&str] = &[
    // v2
    "cpu.stat",
    "cpu.pressure",
    "cpuset.cpus.effective",
    "cpuset.mems.effective",
    "memory.current",
    "memory.stat",
    "memory.events",
    "memory.max",
    "memory.peak",
    "memory.swap.current",
    "memory.swap.max",
    "memory.swap.events",
    "memory.swap.peak",
    "memory.pressure",
    "pids.current",
    "pids.max",
    "io.stat",
    "io.pressure",
    "hugetlb.2MB.current",
    "hugetlb.2MB.events",
    // v1
    "cpuacct.usage",
    "cpuacct.usage_percpu",
    "cpuacct.usage_percpu_sys",
    "cpuacct.usage_percpu_user",
    "cpuacct.usage_user",
    "cpuacct.usage_sys",
    "cpuacct.stat",
    "cpuset.cpus",
    "cpuset.mems",
    "cpuset.cpu_exclusive",
    "cpuset.sched_relax_domain_level",
    "memory.usage_in_bytes",
    "memory.limit_in_bytes",
    "memory.max_usage_in_bytes",
    "memory.failcnt",
    "memory.memsw.usage_in_bytes",
    "memory.memsw.limit_in_bytes",
    "memory.kmem.usage_in_bytes",
    "blkio.io_serviced_recursive",
    "blkio.io_service_bytes_recursive",
    "blkio.io_queued_recursive",
    "blkio.bfq.io_serviced_recursive",
    "blkio.bfq.io_service_bytes_recursive",
    "blkio.throttle.io_serviced_recursive",
    "blkio.throttle.io_service_bytes_recursive",
    "hugetlb.2MB.usage_in_bytes",
    "hugetlb.2MB.failcnt",
    "cgroup.procs",
];

/// A directory of this process' own under `$TMPDIR`, emptied for each input.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-fuzz-stats-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fuzz_target!(|data: &[u8]| {
    let Some((&version, rest)) = data.split_first() else {
        return;
    };
    let dir = scratch();
    for file in rest.split(|&b| b == 0) {
        let Some((&which, content)) = file.split_first() else {
            continue;
        };
        let name = FILES[usize::from(which) % FILES.len()];
        std::fs::write(dir.join(name), content).expect("write into the scratch directory");
        if name == "cgroup.procs" {
            if let Ok(pids) = kiln_cgroups::fuzzing::procs(&String::from_utf8_lossy(content)) {
                assert!(pids.len() <= content.len());
            }
        }
    }
    let stats = if version % 2 == 0 {
        kiln_cgroups::fuzzing::stats_v1(&dir)
    } else {
        kiln_cgroups::fuzzing::stats_v2(&dir)
    };
    if let Ok(stats) = stats {
        serde_json::to_string(&stats).expect("statistics serialize");
    }
    let _ = std::fs::remove_dir_all(&dir);
});
