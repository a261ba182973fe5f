//! One container at a time: stdio, typed errors, a killed helper, try_wait.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use kiln_libcontainer::{Container, ContainerBuilder, Error, ExitStatus, Stdio};

use super::cgroup_parent;
use crate::common;

fn bundle(work: &std::path::Path, id: &str, args: &[&str]) -> Result<std::path::PathBuf, String> {
    let dir = work.join(id);
    common::busybox_bundle(&dir, args, &format!("{}/{id}", cgroup_parent()))
        .map_err(|e| e.to_string())?;
    Ok(dir)
}

/// `cat` in a container: what goes into its stdin pipe comes out of its stdout pipe.
pub fn stdio_roundtrip() -> Result<(), String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = bundle(work.path(), "cat", &["cat"])?;
    // Twice: the first create starts a helper with the pipes as its stdio, the second
    // finds the spare one started meanwhile and sends it the pipes.
    for round in 0..2 {
        let spare_ready = Instant::now() + Duration::from_secs(5);
        while round == 1 && !spare_running() && Instant::now() < spare_ready {
            std::thread::sleep(Duration::from_millis(5));
        }
        cat_roundtrip(work.path(), &dir, &format!("cat{round}"))
            .map_err(|e| format!("round {round}: {e}"))?;
    }
    Ok(())
}

/// Whether an idle spare helper (a `kiln-helper` child of this process) exists.
fn spare_running() -> bool {
    !children_of(std::process::id() as i32, "kiln-helper").is_empty()
}

fn cat_roundtrip(work: &std::path::Path, dir: &std::path::Path, id: &str) -> Result<(), String> {
    let (stdin_r, mut stdin_w) = std::io::pipe().map_err(|e| e.to_string())?;
    let (mut out_r, out_w) = std::io::pipe().map_err(|e| e.to_string())?;
    let mut c = ContainerBuilder::new(id, dir)
        .root(work.join("state"))
        .stdio(Stdio::default().stdin(stdin_r).stdout(out_w))
        .create()
        .map_err(|e| format!("create: {e}"))?;
    c.start().map_err(|e| format!("start: {e}"))?;
    stdin_w
        .write_all(b"ping through kiln\n")
        .map_err(|e| e.to_string())?;
    drop(stdin_w);
    let status = c.wait().map_err(|e| format!("wait: {e}"))?;
    let mut out = String::new();
    out_r.read_to_string(&mut out).map_err(|e| e.to_string())?;
    c.delete(false).map_err(|e| format!("delete: {e}"))?;
    match (status, out.as_str()) {
        (ExitStatus::Code(0), "ping through kiln\n") => Ok(()),
        other => Err(format!("cat gave {other:?}")),
    }
}

/// An existing id, a bad field, a missing container: the same variants as in-process.
pub fn typed_errors() -> Result<(), String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let state = work.path().join("state");
    let dir = bundle(work.path(), "dup", &["sleep", "1000"])?;
    let c = ContainerBuilder::new("dup", &dir)
        .root(&state)
        .create()
        .map_err(|e| format!("create: {e}"))?;
    let again = ContainerBuilder::new("dup", &dir).root(&state).create();
    c.delete(true).map_err(|e| format!("delete: {e}"))?;
    if !matches!(&again, Err(Error::Exists(id)) if id == "dup") {
        return Err(format!("second create of dup gave {again:?}"));
    }
    let bad = bundle(work.path(), "bad", &["true"])?;
    let config = bad.join("config.json");
    let text = std::fs::read_to_string(&config).map_err(|e| e.to_string())?;
    let text = text.replacen("\"cwd\":\"/\"", "\"cwd\":\"relative\"", 1);
    std::fs::write(&config, text).map_err(|e| e.to_string())?;
    let r = ContainerBuilder::new("bad", &bad).root(&state).create();
    if !matches!(&r, Err(Error::Config { field, .. }) if field == "process.cwd") {
        return Err(format!("relative cwd gave {r:?}"));
    }
    let root = kiln_libcontainer::StateRoot::new(&state).map_err(|e| e.to_string())?;
    match Container::load(&root, "bad") {
        Err(Error::NotFound(_)) => Ok(()),
        other => Err(format!("a refused create left {other:?}")),
    }
}

/// The helper SIGKILLed while a createRuntime hook runs: create fails, and the
/// init it made, the cgroup and the state directory are gone.
pub fn killed_helper() -> Result<(), String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let state = work.path().join("state");
    let dir = bundle(work.path(), "victim", &["sleep", "1000"])?;
    let config = dir.join("config.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    spec["hooks"] =
        serde_json::json!({"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "3"]}]});
    std::fs::write(&config, spec.to_string()).map_err(|e| e.to_string())?;
    let creating = std::thread::spawn({
        let (dir, state) = (dir.clone(), state.clone());
        move || {
            ContainerBuilder::new("victim", &dir)
                .root(&state)
                .create()
                .map(drop)
        }
    });
    let (helper, hook) = wait_for_hook(Duration::from_secs(20))?;
    // SAFETY: kill(2) of the helper this process started (its child, not yet reaped).
    unsafe { libc::kill(helper, libc::SIGKILL) };
    let r = creating.join().map_err(|_| "create panicked".to_string())?;
    // The hook, now an orphan, ends by itself within 3 s; do not leave it running.
    // SAFETY: kill(2) of the hook our helper started, found by its parent pid above.
    unsafe { libc::kill(hook, libc::SIGKILL) };
    if r.is_ok() {
        return Err("create succeeded although its helper was killed".into());
    }
    if state.join("victim").exists() {
        return Err("the state directory of the killed create is left".into());
    }
    Ok(())
}

/// The helper (our child, argv[0] `kiln-helper`) and its hook child `sleep`.
fn wait_for_hook(limit: Duration) -> Result<(i32, i32), String> {
    let t = Instant::now();
    let me = std::process::id() as i32;
    while t.elapsed() < limit {
        for helper in children_of(me, "kiln-helper") {
            if let Some(hook) = children_of(helper, "sleep").first() {
                return Ok((helper, *hook));
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err("no kiln helper running a hook appeared".into())
}

/// Children of `parent` whose argv[0] is `name`.
fn children_of(parent: i32, name: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(") ")
            .and_then(|(_, r)| r.split(' ').nth(1)?.parse::<i32>().ok());
        let argv0 = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let argv0 = argv0.split(|b| *b == 0).next().unwrap_or_default();
        if ppid == Some(parent) && argv0 == name.as_bytes() {
            out.push(pid);
        }
    }
    out
}

/// try_wait says None while the init runs and its status once killed; the pidfd turns readable.
pub fn try_wait_and_pidfd() -> Result<(), String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = bundle(work.path(), "waiter", &["sleep", "1000"])?;
    let mut c = ContainerBuilder::new("waiter", &dir)
        .root(work.path().join("state"))
        .create()
        .map_err(|e| format!("create: {e}"))?;
    c.start().map_err(|e| format!("start: {e}"))?;
    let fd = c.pidfd().map_err(|e| format!("pidfd: {e}"))?;
    let early = c.try_wait().map_err(|e| format!("try_wait: {e}"))?;
    c.kill(kiln_libcontainer::Signal::KILL, false)
        .map_err(|e| format!("kill: {e}"))?;
    let mut pfd = [nix::poll::PollFd::new(
        fd.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let ready = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(10_000u16))
        .map_err(|e| e.to_string())?;
    let late = c.try_wait().map_err(|e| format!("try_wait: {e}"))?;
    c.delete(false).map_err(|e| format!("delete: {e}"))?;
    match (early, ready, late) {
        (None, 1, Some(ExitStatus::Signal(libc::SIGKILL))) => Ok(()),
        other => Err(format!("try_wait/pidfd gave {other:?}")),
    }
}

/// Runs this test binary without init(): its create must be refused.
pub fn refused_without_init() -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::process::Command::new(exe)
        .env("KILN_EMBED_TEST_NO_INIT", "1")
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "without init(): {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// In the child of `refused_without_init`: 0 when create says NotInitialised.
pub fn without_init() -> i32 {
    let r = std::thread::spawn(|| {
        ContainerBuilder::new("never", "/nonexistent")
            .root("/nonexistent")
            .create()
            .map(drop)
    })
    .join();
    match r {
        Ok(Err(Error::NotInitialised)) => 0,
        other => {
            eprintln!("create without init() gave {other:?}");
            1
        }
    }
}

/// A container joining another's pid namespace (the init is forked by an
/// intermediate process): both are this program's children, the intermediate
/// is reaped, and `exec` into the joiner sees the first container's processes.
pub fn joined_pid_namespace() -> Result<(), String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let state = work.path().join("state");
    let first_dir = bundle(work.path(), "first", &["sleep", "1000"])?;
    let mut first = ContainerBuilder::new("first", &first_dir)
        .root(&state)
        .create()
        .map_err(|e| format!("create first: {e}"))?;
    first.start().map_err(|e| format!("start first: {e}"))?;
    let pid = first.pid().ok_or("first container not running")?;
    let second_dir = bundle(work.path(), "second", &["sleep", "1000"])?;
    let config = second_dir.join("config.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    for ns in spec["linux"]["namespaces"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if ns["type"] == "pid" {
            ns["path"] = format!("/proc/{pid}/ns/pid").into();
        }
    }
    std::fs::write(&config, spec.to_string()).map_err(|e| e.to_string())?;
    let result = (|| {
        let mut second = ContainerBuilder::new("second", &second_dir)
            .root(&state)
            .create()
            .map_err(|e| format!("create second: {e}"))?;
        second.start().map_err(|e| format!("start second: {e}"))?;
        let (mut r, w) = std::io::pipe().map_err(|e| e.to_string())?;
        let opts = kiln_libcontainer::ExecOptions {
            stdio: Stdio::default().stdout(w),
            ..Default::default()
        };
        let p = second
            .exec(
                &super::process(&["sh", "-c", "ls /proc | grep -c '^[0-9]'"]),
                &opts,
            )
            .map_err(|e| format!("exec: {e}"))?;
        drop(opts);
        p.wait().map_err(|e| format!("wait exec: {e}"))?;
        let mut out = String::new();
        r.read_to_string(&mut out).map_err(|e| e.to_string())?;
        second
            .delete(true)
            .map_err(|e| format!("delete second: {e}"))?;
        // first's sleep, second's sleep, the shell and grep (ls has exited or not).
        match out.trim().parse::<u32>() {
            Ok(n) if n >= 3 => Ok(()),
            _ => Err(format!("the joined pid namespace shows {out:?} processes")),
        }
    })();
    first
        .delete(true)
        .map_err(|e| format!("delete first: {e}"))?;
    result
}

/// The idle spare helper killed behind the library's back: the next create still works.
pub fn killed_spare() -> Result<(), String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = bundle(work.path(), "sp", &["true"])?;
    let state = work.path().join("state");
    let run = |id: &str| -> Result<(), String> {
        let mut c = ContainerBuilder::new(id, &dir)
            .root(&state)
            .create()
            .map_err(|e| format!("create {id}: {e}"))?;
        c.start().map_err(|e| format!("start {id}: {e}"))?;
        c.wait().map_err(|e| format!("wait {id}: {e}"))?;
        c.delete(false).map_err(|e| format!("delete {id}: {e}"))
    };
    run("sp0")?;
    // Ten times, killing the spare right before the next create (not waiting for it to die:
    // the library finds it dead, or it dies while taking the request).
    for round in 1..=10 {
        let spare = wait_for_spare()?;
        // SAFETY: kill(2) of the spare helper, a child of this process found above.
        unsafe { libc::kill(spare, libc::SIGKILL) };
        run(&format!("sp{round}"))?;
    }
    Ok(())
}

/// The pid of the idle spare helper, once one is running (5 s at most).
fn wait_for_spare() -> Result<i32, String> {
    let t = Instant::now();
    loop {
        if let Some(pid) = children_of(std::process::id() as i32, "kiln-helper").first() {
            return Ok(*pid);
        }
        if t.elapsed() > Duration::from_secs(5) {
            return Err("no spare helper was started".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
