//! Real container engines drive the runtime under test unmodified (kiln issue #5).
//!
//! Each test runs `engines/<engine>.sh` with `KILN_BIN` set to the runtime under test: the
//! script installs the engine if needed, starts it with every state path in a temp dir, runs
//! its checks (`PASS name` / `FAIL name: output`), cleans up and ends with
//! `N passed, M failed`. A script exits 77 when the engine cannot be installed: the test then
//! prints the reason and passes. `podman-rootless` and `udocker` run their engine as an
//! unprivileged account that the script makes and removes. See `engines/README.md`.

use std::path::Path;
use std::process::Command;

use kiln_integration_tests::runtime_bin;

/// The exit status of a script whose engine cannot be installed.
const SKIP_STATUS: i32 = 77;

/// `(passed, failed)` from a script's final `N passed, M failed` line.
fn summary(stdout: &str) -> Option<(u32, u32)> {
    let line = stdout.lines().rev().find(|l| !l.trim().is_empty())?;
    let (passed, failed) = line.trim().split_once(" passed, ")?;
    let failed = failed.strip_suffix(" failed")?;
    Some((passed.parse().ok()?, failed.parse().ok()?))
}

/// Runs `engines/<engine>.sh` against the runtime under test; fails unless every check passed.
fn run_engine(engine: &str) {
    let bin = runtime_bin();
    assert!(
        bin.is_file(),
        "runtime binary {} not found: build it (cargo build -p kiln) or set KILN_BIN",
        bin.display()
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("engines")
        .join(format!("{engine}.sh"));
    let out = Command::new("bash")
        .arg(&script)
        .env("KILN_BIN", &bin)
        .output()
        .unwrap_or_else(|e| panic!("running bash {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = format!(
        "{} with {} exited {:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        script.display(),
        bin.display(),
        out.status
    );
    if out.status.code() == Some(SKIP_STATUS) {
        let reason = stdout
            .lines()
            .find(|l| l.starts_with("SKIP"))
            .unwrap_or("SKIP: the script gave no reason");
        println!("{reason}");
        return;
    }
    let Some((passed, failed)) = summary(&stdout) else {
        panic!("no `N passed, M failed` line: {report}");
    };
    assert!(
        out.status.success() && failed == 0 && passed > 0,
        "{failed} {engine} check(s) failed: {report}"
    );
    println!("{report}");
}

#[test]
fn podman_drives_the_runtime() {
    run_engine("podman");
}

#[test]
fn docker_drives_the_runtime() {
    run_engine("docker");
}

#[test]
fn containerd_drives_the_runtime() {
    run_engine("containerd");
}

#[test]
fn rootless_podman_drives_the_runtime() {
    run_engine("podman-rootless");
}

#[test]
fn udocker_drives_the_runtime() {
    run_engine("udocker");
}
