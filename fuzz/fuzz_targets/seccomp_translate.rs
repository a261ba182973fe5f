//! Arbitrary bytes → `linux.seccomp` → BPF: translation and validation must never panic.
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
            let _ = kiln_seccomp::compile(&seccomp);
        }
    }
});
