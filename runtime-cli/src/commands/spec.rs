//! `kiln spec`: write a default config.json, like `runc spec`.

use std::path::PathBuf;

use kiln_libcontainer::Error;
use serde_json::{json, Value};

/// Options of `spec`.
#[derive(Debug, clap::Args)]
pub struct SpecArgs {
    /// Directory to write config.json into.
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
}

fn mount(dest: &str, typ: &str, src: &str, opts: &[&str]) -> Value {
    json!({"destination": dest, "type": typ, "source": src, "options": opts})
}

/// The default configuration: a busybox-friendly `sh` with the usual
/// mounts, masked paths and three capabilities. Like runc, a cgroup namespace only on a pure
/// cgroup v2 host: on v1 or hybrid hosts the container sees the host's cgroup paths (a
/// cgroup namespace there hides the per-hierarchy paths tools and runc's suite look for).
pub fn default_spec(cgroup_ns: bool) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "network"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    if cgroup_ns {
        namespaces.push(json!({"type": "cgroup"}));
    }
    json!({
        "ociVersion": kiln_libcontainer::OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "kiln",
        "mounts": [
            mount("/proc", "proc", "proc", &[]),
            mount("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"]),
            mount("/dev/pts", "devpts", "devpts", &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
            mount("/dev/shm", "tmpfs", "shm", &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            mount("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
            mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", "ro"]),
            mount("/sys/fs/cgroup", "cgroup", "cgroup", &["nosuid", "noexec", "nodev", "relatime", "ro"]),
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": namespaces,
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// Turns the default into a rootless one: a user namespace mapping the
/// caller, the host's /sys bind-mounted, no network namespace, no resources (a cgroup
/// namespace stays if the default has one).
pub fn make_rootless(spec: &mut Value, uid: u32, gid: u32) {
    let linux = &mut spec["linux"];
    if let Some(obj) = linux.as_object_mut() {
        obj.remove("resources");
    }
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network");
        ns.push(json!({"type": "user"}));
    }
    if let Some(mounts) = spec["mounts"].as_array_mut() {
        for m in mounts.iter_mut() {
            match m["destination"].as_str() {
                Some("/sys") => {
                    *m = mount(
                        "/sys",
                        "none",
                        "/sys",
                        &["rbind", "nosuid", "noexec", "nodev", "ro"],
                    )
                }
                Some("/dev/pts") => {
                    if let Some(o) = m["options"].as_array_mut() {
                        o.retain(|x| x != "gid=5");
                    }
                }
                _ => {}
            }
        }
    }
}

/// Writes config.json; refuses to overwrite an existing one, as runc does.
/// `rootless` (the global `--rootless` flag, which `spec --rootless` sets)
/// makes a config for a rootless container.
pub fn run(a: &SpecArgs, rootless: bool) -> Result<(), Error> {
    let path = a.bundle.join("config.json");
    if path.exists() {
        return Err(Error::Bundle {
            path,
            reason: "config.json already exists".into(),
        });
    }
    // An undetectable layout is no reason to fail `spec`: then no cgroup namespace, as on v1.
    let v2 = matches!(kiln_cgroups::detect_layout(), Ok(kiln_cgroups::Layout::V2));
    let mut spec = default_spec(v2);
    if rootless {
        make_rootless(
            &mut spec,
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
    }
    let text = serde_json::to_string_pretty(&spec).unwrap_or_default();
    std::fs::write(&path, text + "\n").map_err(|e| Error::Io {
        op: "write",
        path,
        source: e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_loads_and_validates() {
        for cgroup_ns in [false, true] {
            let text = default_spec(cgroup_ns).to_string();
            let spec = kiln_libcontainer::bundle::parse_config(text.as_bytes()).unwrap();
            kiln_libcontainer::validate::spec(&spec).unwrap();
            let mut rl = default_spec(cgroup_ns);
            make_rootless(&mut rl, 1000, 1000);
            let spec = kiln_libcontainer::bundle::parse_config(rl.to_string().as_bytes()).unwrap();
            kiln_libcontainer::validate::spec(&spec).unwrap();
        }
    }
}
