//! `kiln exec`: run a new process in a running container.

use std::path::PathBuf;

use kiln_libcontainer::{exe_guard, Container, Error, ExecOptions, StateRoot};
use oci_spec::runtime::Process;
use serde_json::Value;

/// Options of `exec` (runc's flags).
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// Unix socket to send the pty master to (with --tty).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Working directory inside the container.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Environment variable KEY=VALUE to set (repeatable).
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Allocate a pseudo-terminal.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// User to run as: uid[:gid].
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional group ids (repeatable).
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// process.json with the whole process to run.
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// Do not wait for the process to exit.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// File to write the process' pid to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// SELinux label of the process.
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// AppArmor profile of the process.
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Set no_new_privs for the process.
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Add a capability to the bounding, effective and permitted sets (repeatable).
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    /// Pass N extra fds (3..3+N) to the process.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Exec even when the container is paused (the process runs once it is resumed).
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// Container id.
    pub id: String,
    /// Command and arguments (unless --process is given).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

fn bad(field: &str, reason: impl Into<String>) -> Error {
    Error::Config {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Parses `--user uid[:gid]` (gid 0 if left out).
pub fn parse_user(u: &str) -> Result<(u32, u32), Error> {
    let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
    let id = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| bad("--user", format!("{u:?} is not uid[:gid]")))
    };
    Ok((id(uid)?, id(gid)?))
}

/// The process to run: --process as given, or the container's process with
/// the command line's changes.
fn build_process(c: &Container, a: &ExecArgs) -> Result<Process, Error> {
    if let Some(path) = &a.process {
        let text = std::fs::read(path).map_err(|e| Error::Io {
            op: "read",
            path: path.clone(),
            source: e,
        })?;
        return kiln_libcontainer::bundle::parse_process(&text[..], "--process");
    }
    if a.command.is_empty() {
        return Err(bad("command", "exec needs a command to run (or --process)"));
    }
    let base = c.spec().process().clone().unwrap_or_default();
    let mut p = serde_json::to_value(base).unwrap_or_default();
    p["args"] = a.command.clone().into();
    p["terminal"] = a.tty.into();
    let mut env: Vec<String> = p["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    for kv in &a.env {
        let key = kv.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p["env"] = env.into();
    if let Some(cwd) = &a.cwd {
        p["cwd"] = cwd.to_string_lossy().into_owned().into();
    }
    if let Some(u) = &a.user {
        let (uid, gid) = parse_user(u)?;
        p["user"] = serde_json::json!({"uid": uid, "gid": gid});
    }
    if !a.additional_gids.is_empty() {
        p["user"]["additionalGids"] = a.additional_gids.clone().into();
    }
    if a.no_new_privs {
        p["noNewPrivileges"] = true.into();
    }
    if let Some(l) = &a.process_label {
        p["selinuxLabel"] = l.clone().into();
    }
    if let Some(ap) = &a.apparmor {
        p["apparmorProfile"] = ap.clone().into();
    }
    // As runc: ambient too when the spec has an inheritable set (ambient
    // capabilities must be inheritable; --cap does not add to inheritable).
    let mut sets = vec!["bounding", "effective", "permitted"];
    if p["capabilities"]["inheritable"].is_array() {
        sets.push("ambient");
    }
    for cap in &a.cap {
        for set in sets.iter().copied() {
            let list = p["capabilities"][set].as_array_mut();
            match list {
                Some(l) => l.push(Value::from(cap.clone())),
                None => p["capabilities"][set] = serde_json::json!([cap]),
            }
        }
    }
    kiln_libcontainer::json::from_value(&p)
        .map_err(|e| bad(&format!("process.{}", e.path), e.reason()))
}

/// Runs the exec; in the foreground returns the process' exit status.
pub fn run(root: &StateRoot, a: &ExecArgs) -> Result<u8, Error> {
    exe_guard::reexec_for_container(root, &a.id)?;
    let c = Container::load(root, &a.id)?;
    let process = build_process(&c, a)?;
    if !a.detach {
        // The process is forked by a helper that exits: adopt it.
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
    let opts = ExecOptions {
        pid_file: a.pid_file.clone(),
        preserve_fds: a.preserve_fds,
        console_socket: a.console_socket.clone(),
        terminal_proxy: !a.detach,
        ignore_paused: a.ignore_paused,
        ..Default::default()
    };
    let mut proc_ = c.exec(&process, &opts)?;
    if a.detach {
        return Ok(0);
    }
    Ok(proc_
        .wait_forwarding_signals()?
        .as_exit_code()
        .clamp(0, 255) as u8)
}
