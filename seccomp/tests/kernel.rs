//! Real-kernel tests: each loads a compiled filter in a forked child that then tries syscalls;
//! the parent reads the outcome back (exit status, errno codes, file system, /proc).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::{
    cpath, docker_profile::docker_like_profile, no_core_dumps, pipe, profile, read_exact,
    seccomp_status, set_no_new_privs, spawn, sys_chmod, sys_mkdir, write_byte,
};
use kiln_seccomp::{compile, compile_cached, CacheOutcome, CompiledFilter};
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use serde_json::json;

/// Child exit codes.
const OK: i32 = 0;
const LOAD_FAILED: i32 = 90;

/// Exit code for a syscall outcome: 0 for success, the errno otherwise.
fn code(result: Result<(), Errno>) -> i32 {
    match result {
        Ok(()) => OK,
        Err(e) => e as i32,
    }
}

/// Loads `filter` in a child and returns `mkdir(path)`'s outcome as the exit code.
fn mkdir_under(filter: &CompiledFilter, dir: &std::path::Path) -> WaitStatus {
    let path = cpath(&dir.join("made"));
    spawn(|| {
        if !set_no_new_privs() || filter.load().is_err() {
            return LOAD_FAILED;
        }
        code(sys_mkdir(&path, 0o755))
    })
    .wait()
}

fn exited(status: WaitStatus) -> i32 {
    match status {
        WaitStatus::Exited(_, code) => code,
        other => panic!("child did not exit normally: {other:?}"),
    }
}

#[test]
fn denied_mkdir_gets_eperm() {
    let tmp = tempfile::tempdir().unwrap();
    let filter = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]})))
    .unwrap();
    assert_eq!(exited(mkdir_under(&filter, tmp.path())), libc::EPERM);
    assert!(!tmp.path().join("made").exists());
}

#[test]
fn custom_errno_ret_comes_back() {
    let tmp = tempfile::tempdir().unwrap();
    let filter = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV}]})))
    .unwrap();
    assert_eq!(exited(mkdir_under(&filter, tmp.path())), libc::EXDEV);
    assert!(!tmp.path().join("made").exists());
}

#[test]
fn default_errno_ret_applies_to_unlisted_syscalls() {
    let tmp = tempfile::tempdir().unwrap();
    let filter = compile(&profile(
        json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": libc::ENXIO,
        "syscalls": [{"names": ["exit", "exit_group"], "action": "SCMP_ACT_ALLOW"}]}),
    ))
    .unwrap();
    assert_eq!(exited(mkdir_under(&filter, tmp.path())), libc::ENXIO);
}

#[test]
fn kill_process_kills_with_sigsys() {
    let tmp = tempfile::tempdir().unwrap();
    for action in ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_TRAP"] {
        let filter = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": action}]})))
        .unwrap();
        let path = cpath(&tmp.path().join("made"));
        let status = spawn(|| {
            no_core_dumps();
            if !set_no_new_privs() || filter.load().is_err() {
                return LOAD_FAILED;
            }
            code(sys_mkdir(&path, 0o755))
        })
        .wait();
        assert!(
            matches!(status, WaitStatus::Signaled(_, Signal::SIGSYS, _)),
            "{action}: {status:?}"
        );
        assert!(!tmp.path().join("made").exists(), "{action}");
    }
}

#[test]
fn trace_without_tracer_fails_with_enosys_and_log_allows() {
    let tmp = tempfile::tempdir().unwrap();
    let trace = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_TRACE"}]})))
    .unwrap();
    assert_eq!(exited(mkdir_under(&trace, tmp.path())), libc::ENOSYS);
    let log = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_LOG"}]})))
    .unwrap();
    assert_eq!(exited(mkdir_under(&log, tmp.path())), OK);
    assert!(tmp.path().join("made").is_dir());
}

/// Runs chmod(file, mode) for each mode in a child under `filter`; returns the exit code
/// (index+1 of the first unexpected outcome, 0 if all matched) and the final file mode.
fn chmod_sequence(filter: &CompiledFilter, steps: &[(u32, Result<(), Errno>)]) -> (i32, u32) {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("f");
    fs::write(&file, b"").unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    let path = cpath(&file);
    let status = spawn(|| {
        if !set_no_new_privs() || filter.load().is_err() {
            return LOAD_FAILED;
        }
        for (i, (mode, want)) in steps.iter().enumerate() {
            if sys_chmod(&path, *mode) != *want {
                return i as i32 + 1;
            }
        }
        OK
    })
    .wait();
    let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o7777;
    (exited(status), mode)
}

#[test]
fn masked_eq_denies_chmod_only_for_mode_0700() {
    let filter = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["chmod"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 1, "value": 0o777, "valueTwo": 0o700, "op": "SCMP_CMP_MASKED_EQ"}]}]})))
    .unwrap();
    // `value` is the mask, `valueTwo` the datum: the setuid bit is masked out (04700 denied),
    // group bits are not (0750 allowed).
    let steps = [
        (0o700, Err(Errno::EPERM)),
        (0o4700, Err(Errno::EPERM)),
        (0o750, Ok(())),
        (0o640, Ok(())),
    ];
    assert_eq!(chmod_sequence(&filter, &steps), (OK, 0o640));
}

#[test]
fn eq_denies_chmod_only_for_exactly_0700() {
    let filter = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["chmod"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 1, "value": 0o700, "op": "SCMP_CMP_EQ"}]}]})))
    .unwrap();
    let steps = [(0o700, Err(Errno::EPERM)), (0o750, Ok(()))];
    assert_eq!(chmod_sequence(&filter, &steps), (OK, 0o750));
}

#[test]
fn repeated_arg_index_means_any_of_them() {
    // runc semantics: two comparisons on one argument become two rules (OR), not one (AND).
    let filter = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EROFS, "args": [
            {"index": 1, "value": 0o700, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 0o711, "op": "SCMP_CMP_EQ"}]}]})))
    .unwrap();
    let steps = [
        (0o700, Err(Errno::EROFS)),
        (0o711, Err(Errno::EROFS)),
        (0o644, Ok(())),
    ];
    assert_eq!(chmod_sequence(&filter, &steps), (OK, 0o644));
}

#[test]
fn flags_are_accepted_by_the_kernel_and_the_filter_is_installed() {
    let supported = kiln_seccomp::features().supported_flags;
    let flags: Vec<_> = [
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    ]
    .into_iter()
    .filter(|f| supported.iter().any(|s| s == f))
    .collect();
    let filter = compile(&profile(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": flags,
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}),
    ))
    .unwrap();
    let (ready_r, ready_w) = pipe();
    let (go_r, go_w) = pipe();
    let child = spawn(|| {
        if !set_no_new_privs() || filter.load().is_err() {
            return LOAD_FAILED;
        }
        write_byte(&ready_w, 1);
        let mut buf = [0u8];
        read_exact(&go_r, &mut buf);
        OK
    });
    drop(ready_w);
    let mut buf = [0u8];
    assert!(
        read_exact(&ready_r, &mut buf),
        "child failed before loading"
    );
    let (mode, filters) = seccomp_status(child.pid());
    write_byte(&go_w, 1);
    assert_eq!(exited(child.wait()), OK);
    assert_eq!((mode.as_str(), filters.as_str()), ("2", "1"));
}

#[test]
fn docker_like_profile_allows_its_list_and_denies_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    let seccomp = profile(docker_like_profile());
    compile_cached(&seccomp, &dir).unwrap();
    // Load the program as read back from the cache.
    let (filter, outcome) = compile_cached(&seccomp, &dir).unwrap();
    assert_eq!(outcome, CacheOutcome::Hit);
    let made = cpath(&tmp.path().join("made"));
    let status = spawn(|| {
        if !set_no_new_privs() || filter.load().is_err() {
            return LOAD_FAILED;
        }
        if sys_mkdir(&made, 0o755).is_err() {
            return 1;
        }
        // acct(2) is not on the list: the default action answers.
        // SAFETY: acct(NULL) takes no memory from us; under the filter it never runs.
        let rc = unsafe { libc::syscall(libc::SYS_acct, std::ptr::null::<libc::c_char>()) };
        if rc != -1 || Errno::last() != Errno::EPERM {
            return 2;
        }
        // unshare is not on the list either.
        // SAFETY: unshare takes flags only.
        let rc = unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUTS) };
        if rc != -1 || Errno::last() != Errno::EPERM {
            return 3;
        }
        OK
    })
    .wait();
    assert_eq!(exited(status), OK);
    assert!(tmp.path().join("made").is_dir());
}

/// The errno of a raw syscall with no meaningful arguments (0 when it succeeded).
fn raw_errno(nr: libc::c_long, args: [libc::c_long; 4]) -> i32 {
    // SAFETY: the callers pass syscalls whose arguments are plain integers or a valid C string
    // pointer; no memory of ours is written.
    let rc = unsafe { libc::syscall(nr, args[0], args[1], args[2], args[3]) };
    if rc < 0 {
        Errno::last() as i32
    } else {
        0
    }
}

#[test]
fn syscalls_newer_than_the_profile_get_enosys() {
    // Allows only old syscalls (exit_group is 231); denies the rest with EPERM.
    let filter = compile(&profile(json!({"defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["exit", "exit_group", "write"], "action": "SCMP_ACT_ALLOW"}]})))
    .unwrap();
    let root = c"/";
    let under_filter = |nr: libc::c_long, args| {
        exited(
            spawn(|| {
                if !set_no_new_privs() || filter.load().is_err() {
                    return LOAD_FAILED;
                }
                raw_errno(nr, args)
            })
            .wait(),
        )
    };
    let faccessat2 = [libc::AT_FDCWD as libc::c_long, root.as_ptr() as _, 0, 0];
    // Control: faccessat2 (439) works on this kernel without a filter.
    assert_eq!(raw_errno(libc::SYS_faccessat2, faccessat2), 0);
    assert_eq!(under_filter(libc::SYS_faccessat2, faccessat2), libc::ENOSYS);
    // close_range(~0, ~0, 0) is newer too; getppid (110) is older and unlisted.
    let close_range = [!0, !0, 0, 0];
    assert_eq!(
        under_filter(libc::SYS_close_range, close_range),
        libc::ENOSYS
    );
    assert_eq!(under_filter(libc::SYS_getppid, [0; 4]), libc::EPERM);
}
