//! Small, allocation-light readers of /proc.

use std::fs;

/// Number of threads of the calling process (field 20 of /proc/self/stat).
pub(crate) fn thread_count() -> Option<usize> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    stat_field(&stat, 20)?.parse().ok()
}

/// Start time (field 22) and state letter (field 3) of `pid`, if it exists.
pub(crate) fn start_time_and_state(pid: i32) -> Option<(u64, char)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let start = stat_field(&stat, 22)?.parse().ok()?;
    let state = stat_field(&stat, 3)?.chars().next()?;
    Some((start, state))
}

/// Field `n` (1-based, as in proc(5)) of a /proc/PID/stat line; the comm
/// field may contain spaces and parentheses, so split after its last ')'.
fn stat_field(stat: &str, n: usize) -> Option<&str> {
    if n < 3 {
        return None;
    }
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(n - 3)
}

/// Whether `pid` is the same live process that started at `start`.
pub(crate) fn is_alive(pid: i32, start: u64) -> bool {
    match start_time_and_state(pid) {
        Some((s, state)) => s == start && state != 'Z' && state != 'X',
        None => false,
    }
}

/// `pid` and every process below it, from `/proc/<pid>/task/<tid>/children` (a process that
/// exits meanwhile is skipped).
pub(crate) fn descendants_and_self(pid: i32) -> Vec<i32> {
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        i += 1;
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            out.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<i32>().ok()),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comm_with_spaces() {
        let line = "42 (a b) c) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 7 0 12345 0";
        assert_eq!(stat_field(line, 3), Some("S"));
        assert_eq!(stat_field(line, 20), Some("7"));
        assert_eq!(stat_field(line, 22), Some("12345"));
    }

    #[test]
    fn self_is_alive() {
        let pid = std::process::id() as i32;
        let (start, _) = start_time_and_state(pid).unwrap();
        assert!(is_alive(pid, start));
        assert!(!is_alive(pid, start + 1));
    }
}
