//! `linux.memoryPolicy` (runtime-spec 1.2.1): set_mempolicy for the container and its exec'd
//! processes, seen in /proc/self/numa_maps; bad policies refused with runc's wording.

use kiln_integration_tests::{skip_for_runc, Container};

/// The policy field of the first line of /proc/self/numa_maps (`bind=static:0`, `default`, …).
const POLICY: &str = "head -n 1 /proc/self/numa_maps | cut -d ' ' -f 2";

#[test]
fn the_policy_applies_to_run_and_exec() {
    // runc differs: runc 1.1 does not know linux.memoryPolicy and ignores it.
    if skip_for_runc("no linux.memoryPolicy") {
        return;
    }
    let policy = serde_json::json!({"mode": "MPOL_BIND", "nodes": "0",
        "flags": ["MPOL_F_STATIC_NODES"]});
    let mut c = Container::new("mpolrun");
    c.config().set(&["linux", "memoryPolicy"], policy.clone());
    assert_eq!(c.sh(POLICY), "bind=static:0\n");

    let mut c = Container::new("mpolexec");
    c.config()
        .set(&["linux", "memoryPolicy"], policy)
        .args(&["sleep", "1000"]);
    c.run_with(&["-d"]).expect_success();
    let out = c
        .rt()
        .exec(&["exec", c.id(), "sh", "-c", POLICY])
        .expect("exec")
        .expect_success();
    assert_eq!(out.stdout, "bind=static:0\n");
}

#[test]
fn bad_policies_are_refused_naming_the_field() {
    if skip_for_runc("no linux.memoryPolicy") {
        return;
    }
    let cases = [
        (
            serde_json::json!({"mode": "INTERLEAVE"}),
            "invalid memory policy mode",
        ),
        (serde_json::json!({}), "invalid memory policy mode"),
        (
            serde_json::json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["bad"]}),
            "invalid memory policy flag",
        ),
        (
            serde_json::json!({"mode": "MPOL_DEFAULT", "nodes": "0-7"}),
            "mode requires 0 nodes but got 8",
        ),
        (
            serde_json::json!({"mode": "MPOL_BIND", "nodes": "0-9876543210"}),
            "invalid memory policy node",
        ),
    ];
    for (policy, words) in cases {
        let mut c = Container::new("mpolbad");
        c.config()
            .set(&["linux", "memoryPolicy"], policy)
            .args(&["true"]);
        let out = c.run_with(&[]).expect_failure();
        assert!(out.stderr.contains(words), "{words}: {}", out.describe());
        assert!(
            out.stderr.contains("linux.memoryPolicy"),
            "{}",
            out.describe()
        );
        c.assert_nothing_left();
    }
}
