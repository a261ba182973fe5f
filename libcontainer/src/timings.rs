//! Where a command's time goes (`kiln --timings`).
//!
//! A command marks the start of each of its phases ([`mark`]); the container init and an
//! exec'd process mark their setup steps (the same names a failure reports, see
//! [`crate::InitError::step`]) and send them to the command before they are handed over. The
//! marks are CLOCK_MONOTONIC instants, so those of all processes fall into one timeline;
//! [`report`] turns it into one JSON line: each phase lasts until the next one starts, the
//! last until the report.
//!
//! Off unless [`enable`]d: a mark is then one relaxed atomic load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde::Serialize;

static ENABLED: AtomicBool = AtomicBool::new(false);
static MARKS: Mutex<Vec<(String, u64)>> = Mutex::new(Vec::new());

/// Environment variable by which a process that re-executes itself (see
/// [`crate::exe_guard`]) passes on when it started its re-execution.
pub(crate) const REEXEC_ENV: &str = "_KILN_TIMINGS_REEXEC";

/// Starts recording marks in this process (and in the processes it clones).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
    if let Some(at) = std::env::var(REEXEC_ENV).ok().and_then(|v| v.parse().ok()) {
        record("reexec".into(), at);
    }
    std::env::remove_var(REEXEC_ENV);
}

/// Whether marks are recorded.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Now, in nanoseconds of CLOCK_MONOTONIC (shared by all processes of the host).
pub fn now_ns() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64);
    // CLOCK_MONOTONIC cannot fail; a zero would only make one phase look long.
    t.unwrap_or(0)
}

/// Phase `name` starts now.
pub fn mark(name: &str) {
    if enabled() {
        record(name.to_string(), now_ns());
    }
}

/// Adds marks of another process (the init's or an exec'd process' steps).
pub(crate) fn merge(marks: Vec<(String, u64)>) {
    for (name, at) in marks {
        record(name, at);
    }
}

fn record(name: String, at: u64) {
    // A poisoned lock only means a panic elsewhere; the marks are still good.
    let mut marks = MARKS.lock().unwrap_or_else(|p| p.into_inner());
    marks.push((name, at));
}

/// This process' marks so far, taken (a cloned child starts from none).
pub(crate) fn take() -> Vec<(String, u64)> {
    let mut marks = MARKS.lock().unwrap_or_else(|p| p.into_inner());
    std::mem::take(&mut *marks)
}

#[derive(Serialize)]
struct Report<'a> {
    timings: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    total_ms: f64,
    phases: Vec<Phase>,
}

#[derive(Serialize)]
struct Phase {
    phase: String,
    ms: f64,
}

fn ms(ns: u64) -> f64 {
    (ns as f64 / 1000.0).round() / 1000.0
}

/// The JSON line of `command` (on container `id`): `{"timings":"create","id":"c1",
/// "total_ms":5.9,"phases":[{"phase":"load","ms":0.31},…]}`, phases in the order they
/// started. None when timings are off or nothing was marked.
pub fn report(command: &str, id: Option<&str>) -> Option<String> {
    if !enabled() {
        return None;
    }
    let mut marks = take();
    marks.sort_by_key(|(_, at)| *at);
    let first = marks.first()?.1;
    // (a mark of another process is never later than this; if a clock said so, the last
    // phase would just end where it starts)
    let end = now_ns().max(marks.last()?.1);
    let phases = marks
        .iter()
        .enumerate()
        .map(|(i, (name, at))| {
            let next = marks.get(i + 1).map_or(end, |(_, t)| *t);
            Phase {
                phase: name.clone(),
                ms: ms(next.saturating_sub(*at)),
            }
        })
        .collect();
    let report = Report {
        timings: command,
        id,
        total_ms: ms(end.saturating_sub(first)),
        phases,
    };
    serde_json::to_string(&report).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_in_time_order_each_until_the_next() {
        enable();
        take();
        mark("load");
        let t = now_ns();
        merge(vec![("init.mounts".into(), t + 2_000_000)]);
        record("clone".into(), t + 1_000_000);
        let line = report("create", Some("c1")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["timings"], "create");
        assert_eq!(v["id"], "c1");
        let names: Vec<&str> = v["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["phase"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["load", "clone", "init.mounts"]);
        assert_eq!(v["phases"][1]["ms"], 1.0);
        let total = v["total_ms"].as_f64().unwrap();
        assert!(total >= 2.0, "{line}");
        assert!(report("create", None).is_none(), "marks are taken once");
    }
}
