//! Host diagnosis before the first container (`kiln check`): each check looks at one thing
//! the runtime needs (cgroups, user namespaces, seccomp, syscalls, systemd, the state root)
//! as the calling user, and says what it found and, when something is wrong, how to fix it.
//!
//! Every check only looks: nothing is created, written or removed, and the syscall probes
//! are made with arguments the kernel rejects (or that change nothing).

mod cgroups;
mod seccomp;
mod state_root;
mod syscalls;
mod systemd;
mod userns;

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

pub use cgroups::stray_directories;
pub use userns::{parse_subid_line, subid_count, SubIdEntry};

/// The verdict of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// As needed.
    Ok,
    /// Containers can run, but something will not work or is unusual.
    Warn,
    /// Containers cannot run (as this user) until it is fixed.
    Fail,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Ok => "OK",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        })
    }
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Short name (`cgroup layout`).
    pub name: String,
    /// The verdict.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// For WARN and FAIL: one concrete step (a package, a file, a command).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    /// A passing check.
    pub fn ok(name: &str, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Ok, detail.into(), None)
    }

    /// A warning with its fix.
    pub fn warn(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(name, Status::Warn, detail.into(), Some(fix.into()))
    }

    /// A failure with its fix.
    pub fn fail(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(name, Status::Fail, detail.into(), Some(fix.into()))
    }

    fn new(name: &str, status: Status, detail: String, fix: Option<String>) -> Self {
        Check {
            name: name.to_owned(),
            status,
            detail,
            fix,
        }
    }
}

/// What to check for.
#[derive(Clone, Debug)]
pub struct Options {
    /// The state root the runtime would use (`--root`, or the user's default).
    pub state_root: PathBuf,
    /// Whether the caller is unprivileged (see [`crate::rootless::unprivileged`]).
    pub unprivileged: bool,
}

impl Options {
    /// The calling process's view: [`crate::rootless::unprivileged`] decides.
    pub fn for_caller(state_root: PathBuf) -> Self {
        Options {
            state_root,
            unprivileged: crate::rootless::unprivileged(),
        }
    }
}

/// The whole report: `ok` is true when no check failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Whether containers can run (no FAIL).
    pub ok: bool,
    /// The checks, in order.
    pub checks: Vec<Check>,
}

impl Report {
    /// A report of `checks`.
    pub fn new(checks: Vec<Check>) -> Self {
        let ok = checks.iter().all(|c| c.status != Status::Fail);
        Report { ok, checks }
    }

    /// The JSON document (`{"ok": …, "checks": [{"name", "status", "detail", "fix"?}]}`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| {
            format!(r#"{{"ok":false,"checks":[],"error":"serializing the report: {e}"}}"#)
        })
    }

    /// Lines for people: `OK    name: detail`, and for WARN/FAIL an indented `fix:` line.
    pub fn to_text(&self) -> String {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for c in &self.checks {
            let status = c.status.to_string();
            out.push_str(&format!("{status:<5} {:<width$}  {}\n", c.name, c.detail));
            if let Some(fix) = &c.fix {
                out.push_str(&format!("      {:<width$}  fix: {fix}\n", ""));
            }
        }
        out
    }
}

/// Runs every check for `opts`.
pub fn run(opts: &Options) -> Report {
    let mut checks = cgroups::checks(opts.unprivileged);
    checks.extend(userns::checks(opts.unprivileged));
    checks.extend(seccomp::checks());
    checks.extend(syscalls::checks());
    checks.push(systemd::check(opts.unprivileged));
    checks.extend(state_root::checks(&opts.state_root, opts.unprivileged));
    Report::new(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_the_documented_shape() {
        let report = Report::new(vec![
            Check::ok("a", "fine"),
            Check::warn("b", "odd", "do this"),
        ]);
        let v: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(v["ok"], true);
        assert_eq!(v["checks"][0]["name"], "a");
        assert_eq!(v["checks"][0]["status"], "ok");
        assert_eq!(v["checks"][0]["detail"], "fine");
        assert!(v["checks"][0].get("fix").is_none(), "{v}");
        assert_eq!(v["checks"][1]["status"], "warn");
        assert_eq!(v["checks"][1]["fix"], "do this");
        assert_eq!(v.as_object().unwrap().len(), 2);
    }

    #[test]
    fn a_failure_makes_the_report_not_ok() {
        let report = Report::new(vec![Check::ok("a", "x"), Check::fail("b", "y", "z")]);
        assert!(!report.ok);
        let v: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["checks"][1]["status"], "fail");
        let text = report.to_text();
        assert!(text.starts_with("OK    a  x\n"), "{text}");
        assert!(text.contains("FAIL  b  y\n"), "{text}");
        assert!(text.contains("fix: z"), "{text}");
    }
}
