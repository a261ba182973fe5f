//! Reading kiln's `--timings` lines (one JSON object per command) back from a log file.

use std::path::Path;

use serde_json::Value;

/// The `--timings` lines of the log `log`, in order (other log entries are skipped).
pub fn timings_lines(log: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("timings").is_some())
        .collect()
}

/// The phase names of one report, in order.
pub fn phases(report: &Value) -> Vec<String> {
    report["phases"]
        .as_array()
        .unwrap_or_else(|| panic!("no phases: {report}"))
        .iter()
        .map(|p| p["phase"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The phase names of the last report in `log`.
#[track_caller]
pub fn last_phases(log: &Path) -> Vec<String> {
    let lines = timings_lines(log);
    let last = lines
        .last()
        .unwrap_or_else(|| panic!("no timings line in {}", log.display()));
    phases(last)
}
