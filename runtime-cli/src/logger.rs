//! runc-compatible logging: `--log FILE`, `--log-format text|json`, `--debug`.
//!
//! Without `--log`, entries go to stderr in logrus' text shape
//! (`time="…" level=error msg="…"`), as runc's do. With `--log`, they go to
//! the file, and a fatal error is also printed plainly on stderr.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Format of log entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `time="…" level=… msg="…"`
    Text,
    /// `{"level":"…","msg":"…","time":"…"}`
    Json,
}

struct Logger {
    out: Mutex<Box<dyn Write + Send>>,
    format: LogFormat,
    level: LevelFilter,
}

fn level_name(l: Level) -> &'static str {
    match l {
        Level::Error => "error",
        Level::Warn => "warning",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    }
}

/// One log line in the chosen format (with a trailing newline).
pub fn format_entry(format: LogFormat, level: Level, msg: &str) -> String {
    let time = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    match format {
        LogFormat::Json => {
            let v = serde_json::json!({"level": level_name(level), "msg": msg, "time": time});
            format!("{v}\n")
        }
        LogFormat::Text => {
            let quoted = serde_json::to_string(msg).unwrap_or_default();
            format!("time=\"{time}\" level={} msg={quoted}\n", level_name(level))
        }
    }
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= self.level
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let msg = r.args().to_string();
        // In a cloned init/exec child: the runtime writes it (our fds are closed).
        if kiln_libcontainer::init_log::forward(r.level(), &msg) {
            return;
        }
        let line = format_entry(self.format, r.level(), &msg);
        if let Ok(mut out) = self.out.lock() {
            let _ = out.write_all(line.as_bytes());
        }
    }

    fn flush(&self) {
        if let Ok(mut out) = self.out.lock() {
            let _ = out.flush();
        }
    }
}

/// Installs the logger; returns whether entries go to a file.
pub fn init(path: Option<&Path>, format: LogFormat, debug: bool) -> std::io::Result<bool> {
    let out: Box<dyn Write + Send> = match path {
        Some(p) => Box::new(open_log(p)?),
        None => Box::new(std::io::stderr()),
    };
    let level = if debug {
        LevelFilter::Debug
    } else {
        LevelFilter::Warn
    };
    let logger = Logger {
        out: Mutex::new(out),
        format,
        level,
    };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(level);
    }
    Ok(path.is_some())
}

fn open_log(p: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(p)
}

/// Writes `line` (and a newline) in one write to the log file `path`, or to stderr. For the
/// `--timings` report: a line that cannot be written is said on stderr instead.
pub fn write_line(path: Option<&Path>, line: &str) {
    let text = format!("{line}\n");
    let written = match path {
        Some(p) => open_log(p).and_then(|mut f| f.write_all(text.as_bytes())),
        None => std::io::stderr().write_all(text.as_bytes()),
    };
    if let Err(e) = written {
        eprintln!("kiln: cannot write the timings to the log: {e}");
    }
}
