//! `events` as a stream: statistics every `--interval` with the real memory usage, an `oom`
//! line when the kernel's OOM killer fires in the container's cgroup, and the end of the
//! stream when the container's init exits. (`events --stats` is in operations.rs.)

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use kiln_integration_tests::{is_runc, runtime_bin, Container, SharedDir};
use serde_json::{json, Value};

const MIB: u64 = 1 << 20;

/// `<runtime> --root R events --interval I <id>` running in the background; its stdout lines
/// arrive through a channel. Killed (by pid) and reaped on drop.
struct EventsProcess {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<Value>,
    /// The lines as printed.
    raw: Vec<String>,
}

impl EventsProcess {
    fn spawn(c: &Container, interval: &str) -> EventsProcess {
        let mut child = Command::new(runtime_bin())
            .arg("--root")
            .arg(c.rt().root())
            .args(["events", "--interval", interval, c.id()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the runtime's events");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        EventsProcess {
            child,
            lines,
            seen: Vec::new(),
            raw: Vec::new(),
        }
    }

    /// Waits up to `limit` for an event matching `want`; every line is kept in `seen`.
    fn wait_for(&mut self, limit: Duration, want: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let v: Value = serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("events line is not JSON ({e}): {line}"));
                    self.seen.push(v.clone());
                    self.raw.push(line);
                    if want(&v) {
                        return Some(v);
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Waits up to `limit` for the process to exit (draining its lines); its exit code.
    fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            self.wait_for(Duration::from_millis(100), |_| false);
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Whatever it printed before exiting.
                self.wait_for(Duration::from_millis(500), |_| false);
                return Some(status.code().unwrap_or(-1));
            }
        }
        None
    }

    fn kinds(&self) -> Vec<&str> {
        self.seen
            .iter()
            .map(|v| v["type"].as_str().unwrap_or("?"))
            .collect()
    }
}

impl Drop for EventsProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn memory_usage(ev: &Value) -> u64 {
    ev["data"]["memory"]["usage"]["usage"].as_u64().unwrap_or(0)
}

#[test]
fn events_streams_stats_and_oom_and_ends_when_the_container_exits() {
    let mut c = Container::new("evoom");
    let shared = SharedDir::mount(c.config()).expect("shared dir");
    // 12 MiB in /dev/shm (charged to the cgroup), then, once released, the init itself
    // becomes a process that eats memory until the OOM killer kills it: the container exits.
    c.config()
        .resources(&["memory"], json!({ "limit": 48 * MIB, "swap": 48 * MIB }))
        .sh(&format!(
            "dd if=/dev/zero of=/dev/shm/fill bs=1M count=12 2>/dev/null; echo filled; {}; \
             exec tail /dev/zero",
            shared.wait_command()
        ));
    c.run_with(&["-d"]).expect_success();
    c.wait_output("filled");
    let mut events = EventsProcess::spawn(&c, "200ms");

    let stats = events
        .wait_for(Duration::from_secs(10), |v| v["type"] == "stats")
        .unwrap_or_else(|| panic!("no stats line; got {:?}", events.seen));
    assert_eq!(stats["id"], c.id(), "{stats}");
    assert!(
        memory_usage(&stats) >= 12 * MIB,
        "usage below the 12 MiB in /dev/shm: {stats}"
    );
    assert!(
        memory_usage(&stats) <= 48 * MIB,
        "usage above the limit: {stats}"
    );
    // Keys in runc's order, also inside `data` (Go's struct order, not sorted).
    let want = format!(
        r#"{{"type":"stats","id":"{}","data":{{"cpu":{{"usage":"#,
        c.id()
    );
    let line = &events.raw[events.raw.len() - 1];
    assert!(line.starts_with(&want), "{line}");
    // A stream: more statistics follow at the interval.
    let started = Instant::now();
    for _ in 0..2 {
        events
            .wait_for(Duration::from_secs(5), |v| v["type"] == "stats")
            .unwrap_or_else(|| panic!("statistics stopped; got {:?}", events.seen));
    }
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );

    shared.release().expect("release the gate");
    let oom = events
        .wait_for(Duration::from_secs(20), |v| v["type"] == "oom")
        .unwrap_or_else(|| panic!("no oom line; got {:?}", events.kinds()));
    // runc's shape: no data.
    assert_eq!(oom, json!({ "type": "oom", "id": c.id() }));

    let pid_gone = || c.status() == "stopped";
    kiln_integration_tests::sys::wait_until("the container to stop", pid_gone)
        .expect("the OOM kill ends the container");
    let code = events.wait_exit(Duration::from_secs(5));
    for v in &events.seen {
        let kind = v["type"].as_str().unwrap_or_default();
        assert!(
            ["stats", "oom"].contains(&kind),
            "runc prints no {kind:?} line: {v}"
        );
        assert_eq!(v["id"], c.id(), "{v}");
    }
    if is_runc() && code.is_none() {
        // runc keeps streaming until the cgroup is removed (runc delete).
        println!("runc differs: events still runs after the container exited");
        c.delete(false).expect_success();
        let code = events.wait_exit(Duration::from_secs(10));
        println!(
            "runc events after delete: exit code {code:?}; lines {:?}",
            events.kinds()
        );
        return;
    }
    assert_eq!(
        code,
        Some(0),
        "events must end with the container; lines {:?}",
        events.kinds()
    );
}

#[test]
fn events_of_a_stopped_container_are_refused_and_so_is_zero_interval() {
    let mut c = Container::new("evstop");
    c.config().args(&["true"]);
    c.create();
    let pid = c.pid();
    c.start();
    Container::wait_pid(pid);
    let out = c
        .rt()
        .exec_within(
            &["events", "--interval", "100ms", c.id()],
            Duration::from_secs(10),
        )
        .expect("events of a stopped container must not hang");
    // runc 1.1.5: "container with id X is not running", exit 1.
    assert!(!out.success(), "{}", out.describe());
    assert_eq!(out.stdout, "", "{}", out.describe());
    assert!(out.stderr.contains("not running"), "{}", out.describe());
    let c2 = {
        let mut c2 = Container::new("evzero");
        c2.config().args(&["sleep", "100"]);
        c2.run_with(&["-d"]).expect_success();
        c2
    };
    let out = c2
        .rt()
        .exec_within(
            &["events", "--interval", "0s", c2.id()],
            Duration::from_secs(10),
        )
        .expect("events --interval 0s must not hang");
    assert!(!out.success(), "{}", out.describe());
    assert!(
        out.stderr.contains("interval must be greater than 0"),
        "{}",
        out.describe()
    );
}
