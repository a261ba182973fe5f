//! The state hooks get. Whatever text reaches the init as the state of
//! `HooksDone`, making the container's hooks' state from it never panics, and
//! what it makes is an object carrying the init's pid; a state `create` sends
//! comes out as its `State::to_spec_json` but for that pid.
#![no_main]

use kiln_libcontainer::{fuzzing, State};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(state) = fuzzing::hook_state(&text, 42) {
        assert!(state.is_object(), "hook state {state} is not an object");
        assert_eq!(state["pid"], 42);
    }
    if let Ok(state) = serde_json::from_slice::<State>(data) {
        let sent = serde_json::to_string(&state).expect("a state serializes");
        let got = fuzzing::hook_state(&sent, 7).expect("create's state parses");
        let mut want = state.to_spec_json();
        want["pid"] = 7.into();
        assert_eq!(got, want);
    }
});
