//! `kiln --timings`: every command writes one JSON line with how long each of its phases
//! took into the `--log` file (stderr without one), the init's and the exec'd process's
//! steps included. kiln's own flag (runc has none).

use std::path::Path;

use kiln_integration_tests::timings::{phases, timings_lines};
use kiln_integration_tests::{skip_for_runc, Container, Output};
use serde_json::Value;

/// The last report, after checking it is about `command` on `id` and that its phases add
/// up to its total.
#[track_caller]
fn last_report(log: &Path, out: &Output, command: &str, id: &str) -> Value {
    assert!(out.success(), "{}", out.describe());
    let lines = timings_lines(log);
    let report = lines
        .last()
        .unwrap_or_else(|| panic!("no timings line in the log"));
    assert_eq!(report["timings"], command, "{report}");
    assert_eq!(report["id"], id, "{report}");
    let total = report["total_ms"].as_f64().unwrap();
    let sum: f64 = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ms"].as_f64().unwrap())
        .sum();
    assert!(total > 0.0, "{report}");
    assert!(
        (sum - total).abs() < 0.05,
        "phases add up to {sum}, total {total}: {report}"
    );
    report.clone()
}

#[track_caller]
fn assert_has(report: &Value, wanted: &[&str]) {
    let names = phases(report);
    for w in wanted {
        assert!(names.iter().any(|n| n == w), "no phase {w} in {names:?}");
    }
}

#[test]
fn each_command_reports_its_phases_in_one_json_line() {
    if skip_for_runc("--timings is kiln's own") {
        return;
    }
    let mut c = Container::new("timings");
    c.config().args(&["sleep", "100"]);
    let out = c.create_with(&["--timings"]);
    let (rt, id) = (c.rt(), c.id().to_string());
    let log = rt.log_path();
    let create = last_report(&log, &out, "create", &id);
    // The command's own phases, then the init's steps, in the order they ran.
    assert_has(
        &create,
        &[
            "load",
            "validate",
            "plan",
            "clone",
            "init.namespaces",
            "init.mounts",
            "init.pivot-root",
            "init.caps",
            "init.ready",
            "save-state",
            "handover",
        ],
    );
    let names = phases(&create);
    let pos = |n: &str| names.iter().position(|x| x == n).unwrap();
    assert!(
        pos("load") < pos("clone") && pos("clone") < pos("init.mounts"),
        "{names:?}"
    );
    assert!(pos("init.mounts") < pos("init.pivot-root"), "{names:?}");
    assert!(pos("init.ready") < pos("handover"), "{names:?}");

    let out = rt.exec(&["--timings", "start", &id]).unwrap();
    assert_has(&last_report(&log, &out, "start", &id), &["load", "start"]);

    let out = rt.exec(&["exec", "--timings", &id, "true"]).unwrap();
    let exec = last_report(&log, &out, "exec", &id);
    assert_has(
        &exec,
        &[
            "load",
            "plan",
            "clone",
            "cgroup",
            "exec.setns",
            "exec.caps",
            "handover",
            "execve",
        ],
    );

    let out = rt.exec(&["--timings", "delete", "--force", &id]).unwrap();
    assert_has(&last_report(&log, &out, "delete", &id), &["load", "delete"]);
    assert_eq!(timings_lines(&log).len(), 4, "one line per command");
}

#[test]
fn without_the_flag_nothing_is_reported_and_stderr_gets_it_without_a_log() {
    if skip_for_runc("--timings is kiln's own") {
        return;
    }
    let mut c = Container::new("notimings");
    c.config().args(&["true"]);
    let out = c.create_with(&[]);
    assert!(out.success(), "{}", out.describe());
    let (rt, id) = (c.rt(), c.id().to_string());
    assert!(timings_lines(&rt.log_path()).is_empty());
    // Without --log the line goes to stderr.
    let out = std::process::Command::new(rt.bin())
        .arg("--root")
        .arg(rt.root())
        .args(["--timings", "state", &id])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line: Value =
        serde_json::from_str(stderr.trim()).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(line["timings"], "state");
    assert_has(&line, &["cli", "load"]);
}
