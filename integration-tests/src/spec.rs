//! The default OCI configuration, as `runc spec` writes it.

use serde_json::{json, Value};

/// The configuration `runc spec` writes (OCI 1.0.2-dev), unchanged.
///
/// [`default_config`] derives the test default from it.
pub fn runc_spec_config() -> Value {
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": true,
            "user": { "uid": 0, "gid": 0 },
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
            "noNewPrivileges": true
        },
        "root": { "path": "rootfs", "readonly": true },
        "hostname": "runc",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            {
                "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]
            },
            {
                "destination": "/dev/pts", "type": "devpts", "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
            },
            {
                "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]
            },
            {
                "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                "options": ["nosuid", "noexec", "nodev"]
            },
            {
                "destination": "/sys", "type": "sysfs", "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"]
            },
            {
                "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]
            }
        ],
        "linux": {
            "resources": { "devices": [{ "allow": false, "access": "rwm" }] },
            "namespaces": [
                { "type": "pid" },
                { "type": "network" },
                { "type": "ipc" },
                { "type": "uts" },
                { "type": "mount" }
            ],
            "maskedPaths": [
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger"
            ]
        }
    })
}

/// The tests' default: [`runc_spec_config`] with `terminal: false` and a writable root.
pub fn default_config() -> Value {
    let mut config = runc_spec_config();
    config["process"]["terminal"] = Value::Bool(false);
    config["root"]["readonly"] = Value::Bool(false);
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_runc_spec_with_terminal_off_and_writable_root() {
        let config = default_config();
        assert_eq!(config["process"]["terminal"], false);
        assert_eq!(config["root"]["readonly"], false);
        assert_eq!(config["mounts"].as_array().map(Vec::len), Some(7));
        assert_eq!(runc_spec_config()["root"]["readonly"], true);
    }

    #[test]
    fn equals_what_runc_spec_writes() {
        let Some(runc) = ["/usr/sbin/runc", "/usr/bin/runc"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
        else {
            println!("SKIP: runc is not installed");
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let status = std::process::Command::new(runc)
            .args(["spec", "--bundle"])
            .arg(dir.path())
            .status()
            .expect("run runc spec");
        assert!(status.success());
        let text =
            std::fs::read_to_string(dir.path().join("config.json")).expect("read config.json");
        let written: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(written, runc_spec_config());
    }
}
