//! The library embedded by an unprivileged program: this test binary re-run as
//! `nobody`, creating a rootless container from a tokio task. Its helper runs
//! from a sealed memfd copy (the mount API is refused without privilege).

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;

use kiln_libcontainer::{ContainerBuilder, ExitStatus, Stdio};

use crate::common;

/// The unprivileged account the child runs as.
const NOBODY: u32 = 65534;

/// As root: runs this binary as `nobody` with `KILN_EMBED_TEST_ROOTLESS` set.
pub fn rootless_program() -> Result<(), String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    let bundle = work.path().join("bundle");
    common::busybox_bundle(
        &bundle,
        &["sh", "-c", "echo rootless $(id -u) in $(hostname)"],
        "",
    )
    .map_err(|e| e.to_string())?;
    make_rootless(&bundle.join("config.json"))?;
    let state = work.path().join("state");
    std::fs::create_dir(&state).map_err(|e| e.to_string())?;
    nix::unistd::chown(&state, Some(NOBODY.into()), Some(NOBODY.into()))
        .map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::process::Command::new(exe)
        .env("KILN_EMBED_TEST_ROOTLESS", &bundle)
        .env("KILN_EMBED_TEST_STATE", &state)
        .env_remove("XDG_RUNTIME_DIR")
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() && stdout == "rootless 0 in kiln-example\n" {
        Ok(())
    } else {
        Err(format!(
            "as nobody: {} stdout {stdout:?} stderr {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The default bundle made rootless as `runc spec --rootless` does: a user namespace
/// mapping only the caller, no cgroup, the host's /sys bound, no devpts gid.
fn make_rootless(config: &std::path::Path) -> Result<(), String> {
    let text = std::fs::read(config).map_err(|e| e.to_string())?;
    let mut spec: serde_json::Value = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
    let linux = &mut spec["linux"];
    if let Some(l) = linux.as_object_mut() {
        l.remove("resources");
        l.remove("cgroupsPath");
    }
    linux["namespaces"]
        .as_array_mut()
        .ok_or("no namespaces")?
        .push(serde_json::json!({"type": "user"}));
    let map = serde_json::json!([{"containerID": 0, "hostID": NOBODY, "size": 1}]);
    linux["uidMappings"] = map.clone();
    linux["gidMappings"] = map;
    let mounts = spec["mounts"].as_array_mut().ok_or("no mounts")?;
    mounts.retain(|m| m["type"] != "cgroup");
    for m in mounts.iter_mut() {
        if m["destination"] == "/sys" {
            *m = serde_json::json!({"destination": "/sys", "type": "none", "source": "/sys",
                                    "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
        }
        if let Some(opts) = m["options"].as_array_mut() {
            opts.retain(|o| o != "gid=5");
        }
    }
    std::fs::write(config, spec.to_string()).map_err(|e| e.to_string())
}

/// As `nobody` (in the re-run binary): create, start, wait and delete from a tokio task,
/// printing the container's output. 0 on success.
pub fn as_nobody(bundle: &str, state: &str) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio: {e}");
            return 1;
        }
    };
    match rt.block_on(run_rootless(bundle, state)) {
        Ok(out) => {
            print!("{out}");
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

async fn run_rootless(bundle: &str, state: &str) -> Result<String, String> {
    let (mut reader, writer) = std::io::pipe().map_err(|e| e.to_string())?;
    let mut c = ContainerBuilder::new("rl", bundle)
        .root(state)
        .stdio(Stdio::default().stdout(writer))
        .create_async()
        .await
        .map_err(|e| format!("create: {e}"))?;
    c.start().map_err(|e| format!("start: {e}"))?;
    let status = c.wait_async().await.map_err(|e| format!("wait: {e}"))?;
    c.delete(false).map_err(|e| format!("delete: {e}"))?;
    let mut out = String::new();
    reader.read_to_string(&mut out).map_err(|e| e.to_string())?;
    if status != ExitStatus::Code(0) {
        return Err(format!("exit {status:?}, output {out:?}"));
    }
    Ok(out)
}
