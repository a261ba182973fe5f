//! The compiled-filter cache: hits, misses, corruption, key changes, concurrency, permissions.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

use common::{docker_profile::docker_like_profile, profile};
use kiln_seccomp::{compile, compile_cached, CacheOutcome, SeccompError};
use oci_spec::runtime::LinuxSeccomp;
use serde_json::json;

fn cache_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("seccomp-cache");
    (tmp, dir)
}

/// Every file in `dir`, sorted.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn the_entry(dir: &Path) -> PathBuf {
    let files = entries(dir);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].extension().is_some_and(|e| e == "bpf"));
    files[0].clone()
}

fn docker() -> LinuxSeccomp {
    profile(docker_like_profile())
}

#[test]
fn miss_then_hit_returns_the_same_program() {
    let (_tmp, dir) = cache_dir();
    let seccomp = docker();
    let (first, outcome) = compile_cached(&seccomp, &dir).unwrap();
    assert_eq!(outcome, CacheOutcome::Miss);
    let entry = the_entry(&dir);
    let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    assert_eq!(
        fs::metadata(&entry).unwrap().permissions().mode() & 0o077,
        0
    );

    let (second, outcome) = compile_cached(&seccomp, &dir).unwrap();
    assert_eq!(outcome, CacheOutcome::Hit);
    assert_eq!(second.program_bytes(), first.program_bytes());
    assert_eq!(second.flags(), first.flags());
    assert_eq!(second.skipped_syscalls(), first.skipped_syscalls());
    assert_eq!(second.uses_notify(), first.uses_notify());
    // And both equal an uncached compile.
    assert_eq!(
        second.program_bytes(),
        compile(&seccomp).unwrap().program_bytes()
    );
    assert_eq!(entries(&dir), [entry], "no temporary files left behind");
}

#[test]
fn notify_flags_survive_the_cache() {
    let (_tmp, dir) = cache_dir();
    let seccomp = profile(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/a.sock",
        "syscalls": [{"names": ["mkdir", "kiln_future_syscall"], "action": "SCMP_ACT_NOTIFY"}]}),
    );
    let (first, _) = compile_cached(&seccomp, &dir).unwrap();
    let (hit, outcome) = compile_cached(&seccomp, &dir).unwrap();
    assert_eq!(outcome, CacheOutcome::Hit);
    assert!(hit.uses_notify());
    assert_eq!(hit.flags(), first.flags());
    assert_eq!(hit.skipped_syscalls(), ["kiln_future_syscall"]);
}

/// Applies `damage` to the entry and checks the next lookup rebuilds it (and the one after hits).
fn assert_rebuilt_after(damage: impl Fn(&mut Vec<u8>)) {
    let (_tmp, dir) = cache_dir();
    let seccomp = docker();
    let (good, _) = compile_cached(&seccomp, &dir).unwrap();
    let entry = the_entry(&dir);
    let mut bytes = fs::read(&entry).unwrap();
    damage(&mut bytes);
    fs::write(&entry, &bytes).unwrap();

    let (rebuilt, outcome) = compile_cached(&seccomp, &dir).unwrap();
    assert_eq!(outcome, CacheOutcome::Rebuilt);
    assert_eq!(rebuilt.program_bytes(), good.program_bytes());
    let (_, outcome) = compile_cached(&seccomp, &dir).unwrap();
    assert_eq!(outcome, CacheOutcome::Hit);
}

#[test]
fn flipped_program_byte_is_rebuilt() {
    assert_rebuilt_after(|b| {
        let at = b.len() / 2;
        b[at] ^= 0x40;
    });
}

#[test]
fn truncated_entry_is_rebuilt() {
    assert_rebuilt_after(|b| b.truncate(b.len() - 8));
    assert_rebuilt_after(|b| b.truncate(20));
    assert_rebuilt_after(Vec::clear);
}

#[test]
fn foreign_or_stale_header_is_rebuilt() {
    assert_rebuilt_after(|b| b[0] = b'X'); // magic
    assert_rebuilt_after(|b| b[8] = b[8].wrapping_add(1)); // format version
    assert_rebuilt_after(|b| b[12] ^= 1); // flags: covered by the checksum
    assert_rebuilt_after(|b| b.extend_from_slice(b"trailing")); // length mismatch
}

#[test]
fn entry_copied_under_another_key_is_rebuilt() {
    let (_tmp, dir) = cache_dir();
    let a = profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}));
    let b = profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"}]}));
    compile_cached(&a, &dir).unwrap();
    let entry_a = the_entry(&dir);
    compile_cached(&b, &dir).unwrap();
    let entry_b = entries(&dir).into_iter().find(|p| *p != entry_a).unwrap();
    // Plant a's (valid) entry under b's name: the checksum binds it to a's key.
    fs::copy(&entry_a, &entry_b).unwrap();
    let (filter, outcome) = compile_cached(&b, &dir).unwrap();
    assert_eq!(outcome, CacheOutcome::Rebuilt);
    assert_eq!(filter.program_bytes(), compile(&b).unwrap().program_bytes());
}

#[test]
fn changed_profile_uses_a_different_entry() {
    let (_tmp, dir) = cache_dir();
    let mut value = docker_like_profile();
    let (_, first) = compile_cached(&profile(value.clone()), &dir).unwrap();
    value["defaultErrnoRet"] = json!(38);
    let (changed, second) = compile_cached(&profile(value.clone()), &dir).unwrap();
    assert_eq!((first, second), (CacheOutcome::Miss, CacheOutcome::Miss));
    assert_eq!(entries(&dir).len(), 2);
    assert_eq!(
        changed.program_bytes(),
        compile(&profile(value)).unwrap().program_bytes()
    );
    // The original is still a hit.
    let (_, again) = compile_cached(&docker(), &dir).unwrap();
    assert_eq!(again, CacheOutcome::Hit);
}

#[test]
fn concurrent_creates_all_succeed() {
    let (_tmp, dir) = cache_dir();
    let seccomp = Arc::new(docker());
    let expected = compile(&seccomp).unwrap().program_bytes();
    let barrier = Arc::new(Barrier::new(6));
    let workers: Vec<_> = (0..6)
        .map(|_| {
            let (seccomp, barrier, dir) = (seccomp.clone(), barrier.clone(), dir.clone());
            std::thread::spawn(move || {
                barrier.wait();
                compile_cached(&seccomp, &dir).map(|(f, _)| f.program_bytes())
            })
        })
        .collect();
    for worker in workers {
        assert_eq!(worker.join().unwrap().unwrap(), expected);
    }
    the_entry(&dir);
    let (_, outcome) = compile_cached(&seccomp, &dir).unwrap();
    assert_eq!(outcome, CacheOutcome::Hit);
}

#[test]
fn cache_dir_writable_by_others_is_refused() {
    let (_tmp, dir) = cache_dir();
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    let err = compile_cached(&docker(), &dir).unwrap_err();
    assert!(matches!(err, SeccompError::Cache { .. }), "{err:?}");
    assert!(
        err.to_string().contains("writable by group or others"),
        "{err}"
    );
    assert!(entries(&dir).is_empty());
}

#[test]
fn cache_dir_owned_by_someone_else_is_refused() {
    if !nix::unistd::geteuid().is_root() {
        return; // needs chown
    }
    let (_tmp, dir) = cache_dir();
    fs::create_dir(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
    let err = compile_cached(&docker(), &dir).unwrap_err();
    assert!(err.to_string().contains("owned by uid 65534"), "{err}");
}

#[test]
fn invalid_profile_is_not_cached() {
    let (_tmp, dir) = cache_dir();
    let bad = profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}));
    assert!(compile_cached(&bad, &dir).is_err());
    assert!(entries(&dir).is_empty());
}

/// Environment variable that turns [`cache_worker_process`] into a worker for
/// [`concurrent_processes_all_succeed`].
const WORKER_DIR_ENV: &str = "KILN_SECCOMP_CACHE_WORKER_DIR";

/// Worker half of [`concurrent_processes_all_succeed`] (does nothing in a normal test run):
/// waits for the go byte on stdin, then compiles through the shared cache.
#[test]
fn cache_worker_process() {
    let Some(dir) = std::env::var_os(WORKER_DIR_ENV) else {
        return;
    };
    let mut go = [0u8; 1];
    std::io::Read::read_exact(&mut std::io::stdin(), &mut go).unwrap();
    let (filter, _) = compile_cached(&docker(), Path::new(&dir)).unwrap();
    assert_eq!(
        filter.program_bytes(),
        compile(&docker()).unwrap().program_bytes()
    );
}

#[test]
fn concurrent_processes_all_succeed() {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let (_tmp, dir) = cache_dir();
    let exe = std::env::current_exe().unwrap();
    let mut children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "cache_worker_process",
                    "--test-threads=1",
                    "--quiet",
                ])
                .env(WORKER_DIR_ENV, &dir)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    // Release all workers at once.
    for child in &mut children {
        child.stdin.take().unwrap().write_all(b"g").unwrap();
    }
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    the_entry(&dir);
    let (_, outcome) = compile_cached(&docker(), &dir).unwrap();
    assert_eq!(outcome, CacheOutcome::Hit);
}
