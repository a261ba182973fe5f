//! Side by side, from one multi-threaded (tokio) program: a container's
//! create and an exec through the library, and through spawning the `kiln`
//! binary as a shim does today. Interleaved runs; medians of each.
//!
//! `cargo run --release -p kiln-libcontainer --example embed_bench -- KILN_BINARY [RUNS]`
//!
//! With `--in-process [RUNS]` instead: the path the `kiln` command takes inside (a
//! single-threaded process that re-executed itself from a read-only view of its binary, so
//! create and exec clone in-process, no helper), for comparison.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use kiln_libcontainer::{ContainerBuilder, ExecOptions, Stdio};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> Res<()> {
    kiln_libcontainer::init();
    let mut args = std::env::args().skip(1);
    let kiln = args
        .next()
        .ok_or("usage: embed_bench KILN_BINARY|--in-process [RUNS]")?;
    if kiln == "--in-process" {
        return in_process(args.next().map_or(Ok(30), |r| r.parse())?);
    }
    let runs: usize = args.next().map_or(Ok(30), |r| r.parse())?;
    let work = tempfile::tempdir()?;
    let bundle = work.path().join("bundle");
    common::busybox_bundle(&bundle, &["sleep", "1000"], "/kiln-embed-bench/c")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()?;
    let state = work.path().join("state");
    let (mut lib, mut cli) = (Vec::new(), Vec::new());
    rt.block_on(async {
        for i in 0..runs + 2 {
            let l = library(&bundle, &state, &format!("l{i}")).await?;
            let c = spawned(&kiln, &bundle, &state, &format!("c{i}")).await?;
            if i >= 2 {
                lib.push(l);
                cli.push(c);
            }
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    })?;
    for (name, pick) in [("create", 0), ("exec", 1), ("delete", 2)] {
        let l = median(lib.iter().map(|t: &[Duration; 3]| t[pick]).collect());
        let c = median(cli.iter().map(|t: &[Duration; 3]| t[pick]).collect());
        println!(
            "{name:7} library {l:>9.2?}   spawning kiln {c:>9.2?}   kiln/library {:.2}",
            c.as_secs_f64() / l.as_secs_f64()
        );
    }
    Ok(())
}

/// Single-threaded, from a read-only view of this binary: the library clones in-process.
fn in_process(runs: usize) -> Res<()> {
    kiln_libcontainer::exe_guard::reexec_from_readonly_view()?;
    let work = tempfile::tempdir()?;
    let bundle = work.path().join("bundle");
    common::busybox_bundle(&bundle, &["sleep", "1000"], "/kiln-embed-bench/c")?;
    let state = work.path().join("state");
    let mut times = Vec::new();
    for i in 0..runs + 2 {
        let id = format!("p{i}");
        let t = Instant::now();
        let mut c = ContainerBuilder::new(&id, &bundle).root(&state).create()?;
        let create = t.elapsed();
        c.start()?;
        let t = Instant::now();
        c.exec(&common::process(&["true"]), &ExecOptions::default())?
            .wait()?;
        let exec = t.elapsed();
        let t = Instant::now();
        c.delete(true)?;
        if i >= 2 {
            times.push([create, exec, t.elapsed()]);
        }
    }
    for (name, pick) in [("create", 0), ("exec", 1), ("delete", 2)] {
        let m = median(times.iter().map(|t: &[Duration; 3]| t[pick]).collect());
        println!("{name:7} in-process (single-threaded, no helper) {m:>9.2?}");
    }
    Ok(())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn library(bundle: &Path, state: &Path, id: &str) -> Res<[Duration; 3]> {
    let t = Instant::now();
    let mut c = ContainerBuilder::new(id, bundle)
        .root(state)
        .create_async()
        .await?;
    let create = t.elapsed();
    c.start()?;
    let (_r, w) = std::io::pipe()?;
    let opts = ExecOptions {
        stdio: Stdio::default().stdout(w),
        ..Default::default()
    };
    let t = Instant::now();
    let p = c.exec_async(common::process(&["true"]), opts).await?;
    p.wait_async().await?;
    let exec = t.elapsed();
    let t = Instant::now();
    c.delete(true)?;
    Ok([create, exec, t.elapsed()])
}

async fn spawned(kiln: &str, bundle: &Path, state: &Path, id: &str) -> Res<[Duration; 3]> {
    let root = state.to_string_lossy().into_owned();
    let run = |args: Vec<String>| {
        let mut cmd = tokio::process::Command::new(kiln);
        cmd.arg("--root").arg(&root).args(args);
        cmd.stdout(std::process::Stdio::null());
        async move {
            let s = cmd.status().await.map_err(|e| e.to_string())?;
            if s.success() {
                Ok(())
            } else {
                Err(format!("kiln failed: {s}"))
            }
        }
    };
    let b = bundle.to_string_lossy().into_owned();
    let t = Instant::now();
    run(vec!["create".into(), "--bundle".into(), b, id.into()]).await?;
    let create = t.elapsed();
    run(vec!["start".into(), id.into()]).await?;
    let t = Instant::now();
    run(vec!["exec".into(), id.into(), "true".into()]).await?;
    let exec = t.elapsed();
    let t = Instant::now();
    run(vec!["delete".into(), "-f".into(), id.into()]).await?;
    Ok([create, exec, t.elapsed()])
}
