//! process.json (`exec --process`) parsing never panics; a parsed process
//! serialized and read back (as `exec` without `--process` does with the
//! container's process) is the same process; its execCPUAffinity lists
//! parse without panicking, to CPUs below CPU_SETSIZE.
#![no_main]

use kiln_libcontainer::{bundle, fuzzing};
use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::Process;

fuzz_target!(|data: &[u8]| {
    let Ok(process) = bundle::parse_process(data, "--process") else {
        return;
    };
    if let Some(affinity) = process.exec_cpu_affinity() {
        for list in [affinity.initial(), affinity.cpu_affinity_final()] {
            if let Some(Ok(cpus)) = list.as_deref().map(fuzzing::cpu_list) {
                assert!(
                    !cpus.is_empty() && cpus.iter().all(|&c| c < 1024),
                    "{cpus:?}"
                );
            }
        }
    }
    let text = serde_json::to_vec(&process).expect("a parsed process serializes");
    // Not `parse_process` again: that takes the runtime-spec's names, some of
    // which oci-spec serializes differently (SCHED_RESET_ON_FORK).
    let again: Process = serde_json::from_slice(&text).expect("a serialized process reads back");
    assert_eq!(again, process, "process.json does not survive a round trip");
});
