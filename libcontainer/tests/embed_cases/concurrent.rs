//! 50 containers created, exec'd into and deleted concurrently from tokio tasks.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kiln_libcontainer::{ContainerBuilder, ExecOptions, ExitStatus, Stdio};

use super::{cgroup_parent, process};
use crate::common;

const CONTAINERS: usize = 50;

/// Per container: create, start, exec `echo`, read its output, kill the init,
/// wait for it (async, through its pidfd), delete. Fails on any error, on a
/// wrong output or status, and on a deadlock (3 minutes for all).
pub fn fifty_concurrent() -> Result<(), String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let rootfs = work.path().join("rootfs");
    common::busybox_rootfs(&rootfs).map_err(|e| e.to_string())?;
    let state = work.path().join("state");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let timings = rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..CONTAINERS {
            let (work, rootfs, state) = (work.path().to_path_buf(), rootfs.clone(), state.clone());
            tasks.push(tokio::spawn(
                async move { one(i, &work, &rootfs, &state).await },
            ));
        }
        let all = async {
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.map_err(|e| format!("task: {e}"))??);
            }
            Ok::<_, String>(out)
        };
        tokio::time::timeout(Duration::from_secs(180), all)
            .await
            .map_err(|_| "deadlock: 50 containers not done in 3 minutes".to_string())?
    })?;
    let total = t0.elapsed();
    report(&timings, total);
    let left: Vec<_> = std::fs::read_dir(&state)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    if !left.is_empty() {
        return Err(format!("state directories left: {left:?}"));
    }
    Ok(())
}

/// How long each step of one container took.
struct Timing {
    create: Duration,
    exec: Duration,
}

async fn one(i: usize, work: &Path, rootfs: &Path, state: &Path) -> Result<Timing, String> {
    let id = format!("lt-{i}");
    let bundle: PathBuf = work.join(&id);
    let cgroup = format!("{}/{id}", cgroup_parent());
    common::write_config(&bundle, rootfs, &["sleep", "1000"], &cgroup)
        .map_err(|e| e.to_string())?;
    let t = Instant::now();
    let mut c = ContainerBuilder::new(&id, &bundle)
        .root(state)
        .create_async()
        .await
        .map_err(|e| format!("{id}: create: {e}"))?;
    let create = t.elapsed();
    c.start().map_err(|e| format!("{id}: start: {e}"))?;
    let (mut reader, writer) = std::io::pipe().map_err(|e| e.to_string())?;
    let opts = ExecOptions {
        stdio: Stdio::default().stdout(writer),
        ..Default::default()
    };
    let t = Instant::now();
    let p = c
        .exec_async(process(&["echo", &format!("hello {i}")]), opts)
        .await
        .map_err(|e| format!("{id}: exec: {e}"))?;
    let exec = t.elapsed();
    let status = p
        .wait_async()
        .await
        .map_err(|e| format!("{id}: wait exec: {e}"))?;
    let mut out = String::new();
    reader.read_to_string(&mut out).map_err(|e| e.to_string())?;
    if status != ExitStatus::Code(0) || out != format!("hello {i}\n") {
        return Err(format!("{id}: exec gave {status:?} and {out:?}"));
    }
    c.kill(kiln_libcontainer::Signal::KILL, false)
        .map_err(|e| format!("{id}: kill: {e}"))?;
    let status = c
        .wait_async()
        .await
        .map_err(|e| format!("{id}: wait: {e}"))?;
    if status != ExitStatus::Signal(libc::SIGKILL) {
        return Err(format!("{id}: init ended with {status:?}, not SIGKILL"));
    }
    c.delete(false).map_err(|e| format!("{id}: delete: {e}"))?;
    Ok(Timing { create, exec })
}

fn report(t: &[Timing], total: Duration) {
    let stats = |mut v: Vec<Duration>| {
        v.sort();
        (v[v.len() / 2], v[v.len() * 9 / 10], v[v.len() - 1])
    };
    let (c50, c90, cmax) = stats(t.iter().map(|t| t.create).collect());
    let (e50, e90, emax) = stats(t.iter().map(|t| t.exec).collect());
    println!(
        "  {CONTAINERS} containers in {total:.2?} ({:.1}/s) from 4 tokio workers; \
         create p50 {c50:.1?} p90 {c90:.1?} max {cmax:.1?}; exec p50 {e50:.1?} p90 {e90:.1?} max {emax:.1?}",
        CONTAINERS as f64 / total.as_secs_f64()
    );
}
