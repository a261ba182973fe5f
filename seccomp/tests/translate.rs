//! Translation and validation of `linux.seccomp` (no filter is loaded here).

mod common;

use common::profile;
use kiln_seccomp::{compile, parse_seccomp, SeccompError};
use serde_json::json;

fn compile_err(value: serde_json::Value) -> String {
    compile(&profile(value))
        .expect_err("profile must be rejected")
        .to_string()
}

fn parse_err(value: serde_json::Value) -> String {
    parse_seccomp(&value)
        .expect_err("profile must be rejected")
        .to_string()
}

#[test]
fn minimal_profile_compiles_without_flags() {
    let f = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW"}))).unwrap();
    assert!(f.instructions() > 0);
    assert_eq!(f.flags(), 0);
    assert!(!f.uses_notify());
    assert!(f.skipped_syscalls().is_empty());
}

#[test]
fn unknown_syscall_names_are_skipped_and_listed() {
    let f = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir", "kiln_no_such_syscall", "another_fake"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["kiln_no_such_syscall"], "action": "SCMP_ACT_KILL"}
        ]
    })))
    .unwrap();
    assert_eq!(
        f.skipped_syscalls(),
        ["kiln_no_such_syscall", "another_fake"]
    );
}

#[test]
fn rule_equal_to_default_action_is_dropped() {
    // gettid (186) is above mkdir (83): the dropped rule's name does not raise the largest
    // syscall number of the ENOSYS prefix, so the programs are byte-identical.
    let base = json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["gettid"], "action": "SCMP_ACT_ALLOW"}]});
    let mut redundant = base.clone();
    redundant["syscalls"]
        .as_array_mut()
        .unwrap()
        .push(json!({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}));
    let a = compile(&profile(base)).unwrap();
    let b = compile(&profile(redundant)).unwrap();
    assert_eq!(a.program_bytes(), b.program_bytes());

    // A different errno is a different action: that rule is kept.
    let other_errno = json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["gettid"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2}]});
    assert_ne!(
        a.program_bytes(),
        compile(&profile(other_errno)).unwrap().program_bytes()
    );

    // SCMP_ACT_KILL and SCMP_ACT_KILL_THREAD are the same action.
    let kill = json!({"defaultAction": "SCMP_ACT_KILL", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_KILL_THREAD"}]});
    compile(&profile(kill)).unwrap();
}

#[test]
fn every_action_translates() {
    for action in [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_LOG",
        "SCMP_ACT_NOTIFY",
    ] {
        let f = compile(&profile(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/agent.sock",
            "syscalls": [{"names": ["mkdir"], "action": action}]
        })))
        .unwrap_or_else(|e| panic!("{action}: {e}"));
        assert_eq!(f.uses_notify(), action == "SCMP_ACT_NOTIFY", "{action}");
    }
}

#[test]
fn every_operator_translates_including_repeated_indexes() {
    for op in [
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ",
    ] {
        compile(&profile(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["chmod"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 1, "value": 0o777, "valueTwo": 0o700, "op": op}]}]
        })))
        .unwrap_or_else(|e| panic!("{op}: {e}"));
    }
    // Two comparisons on one argument: libseccomp rejects that in one rule, runc splits it.
    compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 1, "value": 0o700, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 0o711, "op": "SCMP_CMP_EQ"}]}]
    })))
    .unwrap();
}

#[test]
fn architectures_and_flags_translate() {
    let f = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"],
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
    })))
    .unwrap();
    let want = libc::SECCOMP_FILTER_FLAG_TSYNC
        | libc::SECCOMP_FILTER_FLAG_LOG
        | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    assert_eq!(u64::from(f.flags()), want);

    // WAIT_KILLABLE_RECV needs a listener: dropped without NOTIFY, kept (with TSYNC_ESRCH) with it.
    let f = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
    })))
    .unwrap();
    assert_eq!(f.flags(), 0);
    let f = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/agent.sock",
        "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "SECCOMP_FILTER_FLAG_TSYNC"],
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
    })))
    .unwrap();
    let want = libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
        | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
        | libc::SECCOMP_FILTER_FLAG_TSYNC
        | libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
    assert_eq!(u64::from(f.flags()), want);
}

#[test]
fn validation_errors_name_the_entry() {
    let cases = [
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["chmod"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
            "linux.seccomp.syscalls[1].args[0].index: 6 is out of range",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}),
            "linux.seccomp.syscalls[0].names: must contain at least one entry",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", ""], "action": "SCMP_ACT_ERRNO"}]}),
            "linux.seccomp.syscalls[0].names[1]: empty syscall name",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
            "linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY requires linux.seccomp.listenerPath",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/a", "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}]}),
            "linux.seccomp.syscalls[0].names[1]: SCMP_ACT_NOTIFY cannot be used for \"write\"",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/a"}),
            "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be used as the default action",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "x"}),
            "linux.seccomp.listenerMetadata: must not be set without listenerPath",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 5}),
            "linux.seccomp.defaultErrnoRet: SCMP_ACT_ALLOW does not take an errno",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_KILL_PROCESS", "errnoRet": 5}]}),
            "linux.seccomp.syscalls[0].errnoRet: SCMP_ACT_KILL_PROCESS does not take an errno",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]}),
            "linux.seccomp.syscalls[0].errnoRet: 70000 does not fit",
        ),
    ];
    for (value, want) in cases {
        let got = compile_err(value);
        assert!(got.starts_with(want), "got {got:?}, want prefix {want:?}");
    }
}

#[test]
fn arch_unsupported_by_libseccomp_is_an_error_naming_it() {
    let supported = kiln_seccomp::features().archs;
    let Some(missing) = [
        "SCMP_ARCH_LOONGARCH64",
        "SCMP_ARCH_M68K",
        "SCMP_ARCH_SH",
        "SCMP_ARCH_SHEB",
    ]
    .into_iter()
    .find(|a| !supported.iter().any(|s| s == a)) else {
        return; // a libseccomp that supports every architecture oci-spec knows
    };
    let err = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86", missing]})))
    .unwrap_err();
    assert!(matches!(err, SeccompError::Libseccomp { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("linux.seccomp.architectures[1] ({missing})")),
        "{err}"
    );
}

#[test]
fn parse_names_unknown_spellings() {
    let cases = [
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["a"], "action": "SCMP_ACT_ERRNO"}, {"names": ["b"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["c"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["d"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}]}]}),
            r#"linux.seccomp.syscalls[3].args[0].op: unknown operator "SCMP_CMP_FOO""#,
        ),
        (
            json!({"defaultAction": "SCMP_ACT_NOPE"}),
            r#"linux.seccomp.defaultAction: unknown action "SCMP_ACT_NOPE""#,
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_VAX"]}),
            r#"linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_VAX""#,
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FOO"]}),
            r#"linux.seccomp.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_FOO""#,
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_MAYBE"}]}),
            r#"linux.seccomp.syscalls[0].action: unknown action "SCMP_ACT_MAYBE""#,
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["a"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
            "linux.seccomp.syscalls[0].args[0].index: 9 is out of range",
        ),
        (json!({"defaultAction": 3}), "linux.seccomp: "),
        (json!([]), "linux.seccomp: must be an object"),
    ];
    for (value, want) in cases {
        let got = parse_err(value);
        assert!(got.starts_with(want), "got {got:?}, want prefix {want:?}");
    }
    let ok = parse_seccomp(&common::docker_profile::docker_like_profile()).unwrap();
    assert_eq!(ok, profile(common::docker_profile::docker_like_profile()));
}

#[test]
fn docker_like_profile_compiles() {
    let seccomp = profile(common::docker_profile::docker_like_profile());
    let f = compile(&seccomp).unwrap();
    assert!(
        f.instructions() > 100 && f.instructions() <= 4096,
        "{}",
        f.instructions()
    );
    // Only names libseccomp does not know are skipped; other architectures' names resolve.
    assert!(
        f.skipped_syscalls()
            .iter()
            .any(|s| s == "kiln_future_syscall"),
        "{:?}",
        f.skipped_syscalls()
    );
    assert!(!f
        .skipped_syscalls()
        .iter()
        .any(|s| s == "mkdir" || s == "s390_pci_mmio_read"));
    // Compiling is deterministic.
    assert_eq!(
        f.program_bytes(),
        compile(&seccomp).unwrap().program_bytes()
    );
}
