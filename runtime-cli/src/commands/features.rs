//! `kiln features`: what this build supports, as runtime-spec features.md describes.

use serde_json::{json, Value};

/// Every mount option the rootfs code understands.
const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "rbind",
    "rdev",
    "rexec",
    "relatime",
    "remount",
    "ro",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnosuid",
    "rnosymfollow",
    "rprivate",
    "rro",
    "rrelatime",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "unbindable",
];

/// The features document.
pub fn document() -> Value {
    let caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    let seccomp = serde_json::to_value(kiln_seccomp::features()).unwrap_or_default();
    let mut annotations = json!({
        "org.opencontainers.runc.checkpoint.enabled": "false",
        "io.github.kiln.version": env!("CARGO_PKG_VERSION"),
    });
    if let Some(v) = kiln_seccomp::libseccomp_version() {
        annotations["io.github.seccomp.libseccomp.version"] = v.into();
    }
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": kiln_libcontainer::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": true, "rdma": true},
            "seccomp": seccomp,
            "apparmor": {"enabled": std::path::Path::new("/sys/kernel/security/apparmor").exists()},
            "selinux": {"enabled": std::path::Path::new("/sys/fs/selinux/enforce").exists()},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": annotations
    })
}

/// Prints the features document.
pub fn run() {
    println!(
        "{}",
        serde_json::to_string_pretty(&document()).unwrap_or_default()
    );
}
