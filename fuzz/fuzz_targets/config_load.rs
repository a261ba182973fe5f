//! config.json loading and validation must never panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(spec) = kiln_libcontainer::bundle::parse_config(data) {
        let _ = kiln_libcontainer::validate::spec(&spec);
    }
});
