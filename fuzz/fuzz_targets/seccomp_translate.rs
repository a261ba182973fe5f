//! Arbitrary bytes → `linux.seccomp` → BPF: parsing, translation and
//! validation never panic; a profile read through the raw-JSON path reads the
//! same when serialized again.
//!
//! Only compiles (libseccomp + export); nothing is ever loaded into the kernel.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The typed path kiln-libcontainer uses after oci-spec parsed config.json.
    if let Ok(seccomp) = serde_json::from_slice::<oci_spec::runtime::LinuxSeccomp>(data) {
        let _ = kiln_seccomp::compile(&seccomp);
    }
    // The raw-JSON path with entry-naming errors.
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(seccomp) = kiln_seccomp::parse_seccomp(&value) {
            let again = serde_json::to_value(&seccomp).expect("a profile serializes");
            let reparsed = kiln_seccomp::parse_seccomp(&again).expect("and parses again");
            assert_eq!(reparsed, seccomp);
            let _ = kiln_seccomp::compile(&seccomp);
        }
    }
});
