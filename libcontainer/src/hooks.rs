//! Running lifecycle hooks (runtime-spec config.md "POSIX-platform Hooks").

use std::io::{Read, Seek, Write};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::Duration;

use oci_spec::runtime::Hook;

use crate::error::{Error, Result};
use crate::process::pidfd;

/// The C library's description of signal `sig`, lower-case as Go prints it
/// (`bad system call` for SIGSYS).
fn signal_text(sig: i32) -> String {
    // SAFETY: strsignal returns a pointer to a NUL-terminated string that stays
    // valid until the next strsignal call on this thread; it is copied at once.
    let text = unsafe { std::ffi::CStr::from_ptr(libc::strsignal(sig)) };
    text.to_string_lossy().to_lowercase()
}

/// The hook points, named as in config.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    /// Deprecated; runs with createRuntime.
    Prestart,
    /// In the runtime namespace, after namespaces exist, before pivot_root.
    CreateRuntime,
    /// In the container namespace, before pivot_root.
    CreateContainer,
    /// In the container, before the user program.
    StartContainer,
    /// In the runtime namespace after the user program started.
    Poststart,
    /// In the runtime namespace after the container is deleted.
    Poststop,
}

impl HookKind {
    /// The config.json name of this hook point.
    pub fn name(self) -> &'static str {
        match self {
            HookKind::Prestart => "prestart",
            HookKind::CreateRuntime => "createRuntime",
            HookKind::CreateContainer => "createContainer",
            HookKind::StartContainer => "startContainer",
            HookKind::Poststart => "poststart",
            HookKind::Poststop => "poststop",
        }
    }

    /// The hooks of this kind listed in `hooks`.
    pub fn select(self, hooks: &oci_spec::runtime::Hooks) -> &[Hook] {
        let list = match self {
            #[allow(deprecated)]
            HookKind::Prestart => hooks.prestart(),
            HookKind::CreateRuntime => hooks.create_runtime(),
            HookKind::CreateContainer => hooks.create_container(),
            HookKind::StartContainer => hooks.start_container(),
            HookKind::Poststart => hooks.poststart(),
            HookKind::Poststop => hooks.poststop(),
        };
        list.as_deref().unwrap_or(&[])
    }
}

/// The environment of a hook that has no `env` of its own (with `env`, even
/// an empty one, a hook gets exactly that). The same as runc's.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DefaultEnv<'a> {
    /// The runtime's own environment: hooks in the runtime namespace.
    Runtime,
    /// The container process' `process.env`: hooks run in the container.
    Container(&'a [String]),
}

/// The state the container's own hooks (createContainer, startContainer)
/// get: the state `create` sent on the sync channel (`HooksDone`) with the
/// pid as the container sees it (runtime.md, State: `pid`).
pub(crate) fn container_state(state: &crate::State, pid: u32) -> serde_json::Value {
    let mut value = state.to_spec_json();
    value["pid"] = pid.into();
    value
}

/// Runs every hook of `kind` in order with `state` on stdin; stops at the
/// first failure.
pub(crate) fn run_all(
    kind: HookKind,
    hooks: Option<&oci_spec::runtime::Hooks>,
    state: &serde_json::Value,
    env: DefaultEnv<'_>,
) -> Result<()> {
    let Some(hooks) = hooks else { return Ok(()) };
    let list = kind.select(hooks);
    if list.is_empty() {
        return Ok(());
    }
    let input = serde_json::to_vec(state).unwrap_or_default();
    for (index, hook) in list.iter().enumerate() {
        run_one(kind, index, hook, &input, env)?;
    }
    Ok(())
}

/// Runs every hook of `kind`, logging failures instead of stopping
/// (poststart and poststop: the spec says warn and continue).
pub(crate) fn run_all_warn(
    kind: HookKind,
    hooks: Option<&oci_spec::runtime::Hooks>,
    state: &serde_json::Value,
) {
    let Some(hooks) = hooks else { return };
    let input = serde_json::to_vec(state).unwrap_or_default();
    for (index, hook) in kind.select(hooks).iter().enumerate() {
        if let Err(e) = run_one(kind, index, hook, &input, DefaultEnv::Runtime) {
            log::warn!("{e}");
        }
    }
}

fn run_one(
    kind: HookKind,
    index: usize,
    hook: &Hook,
    input: &[u8],
    env: DefaultEnv<'_>,
) -> Result<()> {
    let fail = |reason: String| Error::Hook {
        kind: kind.name(),
        index,
        path: hook.path().clone(),
        reason,
    };
    let timeout = match hook.timeout() {
        Some(t) if t <= 0 => {
            return Err(fail(format!("timeout must be greater than zero, got {t}")))
        }
        Some(t) => Some(Duration::from_secs(t as u64)),
        None => None,
    };
    let mut cmd = Command::new(hook.path());
    if let Some(args) = hook.args() {
        if let Some((first, rest)) = args.split_first() {
            cmd.arg0(first).args(rest);
        }
    }
    let vars = match (hook.env().as_deref(), env) {
        (Some(own), _) | (None, DefaultEnv::Container(own)) => Some(own),
        (None, DefaultEnv::Runtime) => None,
    };
    if let Some(vars) = vars {
        cmd.env_clear();
        for kv in vars {
            if let Some((k, v)) = kv.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    // Output goes to an anonymous file, read back for the error message.
    let mut out = output_file().map_err(|e| fail(format!("cannot create output file: {e}")))?;
    let out2 = out.try_clone().map_err(|e| fail(e.to_string()))?;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::from(
            out2.try_clone().map_err(|e| fail(e.to_string()))?,
        ))
        .stderr(Stdio::from(out2));
    let mut child = cmd
        .spawn()
        .map_err(|e| fail(format!("cannot start: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook may exit without reading its input: EPIPE is not an error.
        let _ = stdin.write_all(input);
    }
    let pidfd = pidfd::open(child.id() as i32)?;
    if !pidfd::wait_exit(pidfd.as_fd(), timeout)? {
        let _ = child.kill();
        let _ = child.wait();
        return Err(fail(format!(
            "timed out after {}s and was killed",
            timeout.unwrap_or_default().as_secs()
        )));
    }
    let status = child.wait().map_err(|e| fail(format!("wait: {e}")))?;
    if status.success() {
        return Ok(());
    }
    let mut text = String::new();
    let _ = out.rewind();
    let _ = Read::by_ref(&mut out).take(4096).read_to_string(&mut text);
    let how = match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (_, Some(s)) => format!("killed by signal {s} ({})", signal_text(s)),
        _ => "failed".into(),
    };
    let text = text.trim();
    Err(fail(if text.is_empty() {
        how
    } else {
        format!("{how}: {text}")
    }))
}

/// An unnamed in-memory file for a hook's stdout and stderr.
fn output_file() -> std::io::Result<std::fs::File> {
    let fd =
        nix::sys::memfd::memfd_create(c"kiln-hook", nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC)?;
    Ok(std::fs::File::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_state_is_the_spec_state_with_the_containers_pid() {
        let state: crate::State = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.2.0", "id": "x", "pid": 4321, "status": "creating",
            "bundle": "/b", "rootfs": "/b/rootfs", "created": "now", "owner": "root",
            "annotations": {"a": "b"}}))
        .unwrap();
        let want = serde_json::json!({"ociVersion": "1.2.0", "id": "x", "status": "creating",
            "pid": 1, "bundle": "/b", "annotations": {"a": "b"}});
        assert_eq!(container_state(&state, 1), want);
    }

    fn hook(json: &str) -> Hook {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn passes_state_args_env() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let h = hook(&format!(
            r#"{{"path":"/bin/sh","args":["sh","-c","cat > {0}; echo \" $0 $1 $FOO\" >> {0}","a0","a1"],"env":["FOO=bar"]}}"#,
            out.display()
        ));
        run_one(
            HookKind::Prestart,
            0,
            &h,
            br#"{"id":"x"}"#,
            DefaultEnv::Runtime,
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "{\"id\":\"x\"} a0 a1 bar\n"
        );
    }

    #[test]
    fn without_env_the_default_applies() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!("echo \"$KILN_T|${{HOME+set}}\" >> {}", out.display());
        let h =
            hook(&serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", script]}).to_string());
        let container = ["KILN_T=c".to_string()];
        run_one(
            HookKind::StartContainer,
            0,
            &h,
            b"{}",
            DefaultEnv::Container(&container),
        )
        .unwrap();
        run_one(HookKind::Prestart, 0, &h, b"{}", DefaultEnv::Runtime).unwrap();
        let with_env =
            serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", script], "env": []});
        run_one(
            HookKind::StartContainer,
            0,
            &hook(&with_env.to_string()),
            b"{}",
            DefaultEnv::Container(&container),
        )
        .unwrap();
        let runtime_home = if std::env::var_os("HOME").is_some() {
            "set"
        } else {
            ""
        };
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            format!("c|\n|{runtime_home}\n|\n")
        );
    }

    #[test]
    fn failure_reports_output() {
        let h = hook(r#"{"path":"/bin/sh","args":["sh","-c","echo oops >&2; exit 3"]}"#);
        let e = run_one(HookKind::CreateRuntime, 0, &h, b"{}", DefaultEnv::Runtime)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("createRuntime") && e.contains("exit status 3") && e.contains("oops"),
            "{e}"
        );
    }

    #[test]
    fn timeout_kills() {
        let h = hook(r#"{"path":"/bin/sleep","args":["sleep","30"],"timeout":1}"#);
        let e = run_one(HookKind::Poststop, 0, &h, b"{}", DefaultEnv::Runtime)
            .unwrap_err()
            .to_string();
        assert!(e.contains("timed out"), "{e}");
    }
}
