//! The state hooks get. Whatever text reaches the init as `HooksDone`, making
//! the container's hooks' state from it never panics, and what it makes is an
//! object carrying the init's pid; the state `create` sends (`State::to_spec_json`
//! of any state) comes out unchanged but for that pid.
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
        let sent = state.to_spec_json();
        let got = fuzzing::hook_state(&sent.to_string(), 7).expect("create's state parses");
        let mut want = sent;
        want["pid"] = 7.into();
        assert_eq!(got, want);
    }
});
