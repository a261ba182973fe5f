//! `kiln pause`, `resume`, `events`, `ps`: commands over the container's cgroup.

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use kiln_libcontainer::{Container, Error, StateRoot};

/// Options of `events`.
#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// Print the statistics once and exit.
    #[arg(long)]
    pub stats: bool,
    /// Interval between statistics in the stream (e.g. 5s, 500ms).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Container id.
    pub id: String,
}

/// Options of `ps`.
#[derive(Debug, clap::Args)]
pub struct PsArgs {
    /// Output format.
    #[arg(short = 'f', long, value_parser = ["table", "json"], default_value = "table")]
    pub format: String,
    /// Container id.
    pub id: String,
    /// Arguments for ps(1) (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// One `events` line: `{"type":"stats"|"oom","id":…,"data":…}`, keys in runc's order.
#[derive(serde::Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<serde_json::Value>,
}

fn event(kind: &str, id: &str, data: Option<serde_json::Value>) -> String {
    serde_json::to_string(&Event { kind, id, data }).unwrap_or_default()
}

/// `events`: statistics once (`--stats`) or a stream of stats and OOM events
/// until the container stops.
pub fn events(root: &StateRoot, a: &EventsArgs) -> Result<(), Error> {
    let c = Container::load(root, &a.id)?;
    let stats_line = |c: &Container| -> Result<String, Error> {
        let stats = serde_json::to_value(c.stats()?).unwrap_or_default();
        Ok(event("stats", c.id(), Some(stats)))
    };
    if a.stats {
        println!("{}", stats_line(&c)?);
        return Ok(());
    }
    let mut ooms = c.oom_kill_count().unwrap_or(0);
    let mut out = std::io::stdout();
    loop {
        if c.status() == kiln_libcontainer::Status::Stopped {
            return Ok(());
        }
        let now = c.oom_kill_count().unwrap_or(ooms);
        if now > ooms {
            ooms = now;
            let _ = writeln!(out, "{}", event("oom", c.id(), None));
        }
        match stats_line(&c) {
            Ok(line) => {
                let _ = writeln!(out, "{line}");
            }
            Err(_) if c.status() == kiln_libcontainer::Status::Stopped => return Ok(()),
            Err(e) => return Err(e),
        }
        let _ = out.flush();
        std::thread::sleep(a.interval);
    }
}

/// `ps`: the container's processes, as `ps` lines (filtered by pid) or JSON pids.
pub fn ps(root: &StateRoot, a: &PsArgs) -> Result<(), Error> {
    let c = Container::load(root, &a.id)?;
    let pids = c.processes()?;
    if a.format == "json" {
        println!("{}", serde_json::to_string(&pids).unwrap_or_default());
        return Ok(());
    }
    let args = if a.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        a.ps_args.clone()
    };
    let out = Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| Error::Io {
            op: "run",
            path: "ps".into(),
            source: e,
        })?;
    if !out.status.success() {
        return Err(Error::Config {
            field: "ps arguments".into(),
            reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| Error::Config {
            field: "ps arguments".into(),
            reason: "ps output has no PID column".into(),
        })?;
    println!("{header}");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            println!("{line}");
        }
    }
    Ok(())
}
