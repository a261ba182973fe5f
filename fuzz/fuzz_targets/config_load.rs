//! config.json → spec → validation never panics, whatever the bytes; a parsed
//! config as state.json keeps it (serialized, then read back as `create`'s
//! record is) is the same spec with the same verdict; the options of every
//! mount parse without panicking.
#![no_main]

use kiln_libcontainer::{bundle, fuzzing, validate};
use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::Spec;

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = bundle::parse_config(data) else {
        return;
    };
    let valid = validate::spec(&spec).map_err(|e| e.to_string());
    for m in spec.mounts().iter().flatten() {
        let _ = fuzzing::mount_options(m.options().as_deref().unwrap_or_default());
    }
    let text = serde_json::to_vec(&spec).expect("a parsed spec serializes");
    // Not `parse_config` again: that takes the runtime-spec's names, some of
    // which oci-spec serializes differently (SCHED_RESET_ON_FORK).
    let again: Spec = serde_json::from_slice(&text).expect("a serialized spec reads back");
    assert_eq!(again, spec, "config.json does not survive a round trip");
    let valid_again = validate::spec(&again).map_err(|e| e.to_string());
    assert_eq!(valid_again, valid);
});
