//! Compile time vs cache-hit time for a docker-like default profile (~350 syscall names).
//!
//! `cargo run --release -p kiln-seccomp --example cache_bench [rounds]`

#[path = "../tests/common/docker_profile.rs"]
mod docker_profile;

use std::time::{Duration, Instant};

use kiln_seccomp::{compile, compile_cached, CacheOutcome};
use oci_spec::runtime::LinuxSeccomp;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Median and minimum of `rounds` runs of `f`.
fn measure(rounds: usize, mut f: impl FnMut()) -> (f64, f64) {
    let mut times: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            f();
            ms(start.elapsed())
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(Ok(50), |s| s.parse())?
        .max(1);
    let seccomp: LinuxSeccomp = serde_json::from_value(docker_profile::docker_like_profile())?;
    let names = docker_profile::allowed().len();
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("seccomp-cache");

    let filter = compile(&seccomp)?;
    let (cold, outcome) = {
        let start = Instant::now();
        let (_, outcome) = compile_cached(&seccomp, &dir)?;
        (ms(start.elapsed()), outcome)
    };
    assert_eq!(outcome, CacheOutcome::Miss);

    let (compile_med, compile_min) = measure(rounds, || {
        compile(&seccomp).expect("compile");
    });
    let (hit_med, hit_min) = measure(rounds, || {
        let (_, outcome) = compile_cached(&seccomp, &dir).expect("cache");
        assert_eq!(outcome, CacheOutcome::Hit);
    });

    println!(
        "profile: {names} allowed names + 7 argument/errno rules, {} BPF instructions",
        filter.instructions()
    );
    println!("rounds: {rounds}");
    println!(
        "compile (libseccomp + export):   median {compile_med:.3} ms, min {compile_min:.3} ms"
    );
    println!("compile_cached, miss (cold):     {cold:.3} ms");
    println!("compile_cached, hit:             median {hit_med:.3} ms, min {hit_min:.3} ms");
    println!(
        "speed-up (median):               {:.1}x",
        compile_med / hit_med
    );
    Ok(())
}
