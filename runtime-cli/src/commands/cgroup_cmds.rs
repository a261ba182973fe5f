//! `kiln pause`, `resume`, `events`, `ps`: commands over the container's cgroup.

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use kiln_libcontainer::{Container, Error, Event, StateRoot};

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

/// `events`: statistics once (`--stats`) or the library's stream of stats and OOM events,
/// one JSON line each as runc prints them, until the container's init exits. The stream's
/// final `exit` event is not printed: runc has none.
pub fn events(root: &StateRoot, a: &EventsArgs) -> Result<(), Error> {
    let c = Container::load(root, &a.id)?;
    // As runc: no events of a stopped container (runc: "container with id X is not running").
    if c.status() == kiln_libcontainer::Status::Stopped {
        return Err(Error::WrongStatus {
            id: c.id().to_string(),
            status: kiln_libcontainer::Status::Stopped,
            action: "container with this id is not running: no events",
        });
    }
    let mut out = std::io::stdout().lock();
    if a.stats {
        let event = Event::Stats {
            id: c.id().to_string(),
            data: Box::new(c.stats()?),
        };
        return print_event(&mut out, &event);
    }
    for event in c.events(a.interval)? {
        match event? {
            Event::Exit { .. } => break,
            event => print_event(&mut out, &event)?,
        }
    }
    Ok(())
}

fn print_event(out: &mut impl Write, event: &Event) -> Result<(), Error> {
    let io = |e: std::io::Error| Error::Io {
        op: "write event to",
        path: "stdout".into(),
        source: e,
    };
    serde_json::to_writer(&mut *out, event).map_err(|e| io(e.into()))?;
    writeln!(out).and_then(|()| out.flush()).map_err(io)
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
