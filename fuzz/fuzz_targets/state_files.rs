//! A container's state files as kiln reads them back: `state.json` and the
//! `recovery.json` record never panic; a record saved again loads again as
//! the same record; the state document round-trips through JSON; the
//! recovery record's cgroup path parses without panicking.
#![no_main]

use kiln_libcontainer::fuzzing::{self, StateFile};
use kiln_libcontainer::State;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = StateFile::parse(data) {
        let saved = record.to_bytes().expect("a parsed record serializes");
        let again = StateFile::parse(&saved).expect("a saved record loads");
        assert_eq!(again, record);
        let state = record.state();
        let doc = serde_json::to_vec(&state).expect("a state serializes");
        assert_eq!(
            serde_json::from_slice::<State>(&doc).ok(),
            Some(state.clone())
        );
        assert!(state.to_spec_json().is_object());
    }
    if let Ok((path, systemd)) = fuzzing::recovery_record(data) {
        let _ = kiln_cgroups::fuzzing::cgroup_path(path.as_deref(), "fuzz", systemd, true);
    }
});
