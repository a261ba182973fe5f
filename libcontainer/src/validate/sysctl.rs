//! Which `linux.sysctl` keys a container may set: only those of namespaces it
//! owns (runc's rules), and never one that duplicates a dedicated OCI field.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::init::sysctl::dotted;

/// The ipc namespace's sysctls besides `fs.mqueue.*`.
const IPC: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Why `key` may not be set in this container, or `None` if it may.
pub(super) fn refusal(spec: &Spec, key: &str, ns: &HashSet<LinuxNamespaceType>) -> Option<String> {
    let key = dotted(key);
    if IPC.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
        return (!ns.contains(&LinuxNamespaceType::Ipc)).then(|| {
            "not allowed in the host's ipc namespace (the container has no ipc namespace of its own)"
                .into()
        });
    }
    if key.starts_with("net.") {
        return net_refusal(spec, ns);
    }
    let uts = ns.contains(&LinuxNamespaceType::Uts);
    let domainname = spec.domainname().as_deref().is_some_and(|d| !d.is_empty());
    match key.as_str() {
        "kernel.hostname" if uts => {
            Some("not allowed as it conflicts with the OCI \"hostname\" field".into())
        }
        "kernel.domainname" if uts && domainname => Some(
            "not allowed as it conflicts with the OCI \"domainname\" field (set only one of them)"
                .into(),
        ),
        "kernel.domainname" if uts => None,
        "kernel.hostname" | "kernel.domainname" => Some(
            "not allowed in the host's uts namespace (the container has no uts namespace of its own)"
                .into(),
        ),
        _ => Some("not in a separate kernel namespace: setting it would change the host".into()),
    }
}

/// `net.*` needs a network namespace that is not the runtime's own.
fn net_refusal(spec: &Spec, ns: &HashSet<LinuxNamespaceType>) -> Option<String> {
    if !ns.contains(&LinuxNamespaceType::Network) {
        return Some(
            "not allowed in the host network namespace (the container has no network namespace)"
                .into(),
        );
    }
    let path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .find(|n| n.typ() == LinuxNamespaceType::Network)
        .and_then(|n| n.path().clone())?;
    is_runtime_netns(&path).then(|| {
        format!(
            "not allowed in the host network namespace ({} is the runtime's own)",
            path.display()
        )
    })
}

/// Whether `path` is the network namespace kiln itself runs in. An unreadable
/// path is not: opening the namespace reports it, naming the field.
fn is_runtime_netns(path: &Path) -> bool {
    match (
        std::fs::metadata("/proc/self/ns/net"),
        std::fs::metadata(path),
    ) {
        (Ok(ours), Ok(theirs)) => ours.dev() == theirs.dev() && ours.ino() == theirs.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: &str) -> Spec {
        crate::bundle::parse_config(
            format!(r#"{{"ociVersion":"1.0.2","root":{{"path":"r"}}{extra}}}"#).as_bytes(),
        )
        .unwrap()
    }

    fn set(types: &[LinuxNamespaceType]) -> HashSet<LinuxNamespaceType> {
        types.iter().copied().collect()
    }

    #[test]
    fn rules() {
        use LinuxNamespaceType::{Ipc, Network, Uts};
        let s = spec("");
        let all = set(&[Ipc, Network, Uts]);
        for ok in [
            "kernel.shmmax",
            "fs.mqueue.msg_max",
            "net.ipv4.ip_forward",
            "kernel.domainname",
            "net/ipv4/conf/eth0.100/rp_filter",
        ] {
            assert_eq!(refusal(&s, ok, &all), None, "{ok}");
        }
        let hostname = refusal(&s, "kernel.hostname", &all).unwrap();
        assert!(hostname.contains("\"hostname\" field"), "{hostname}");
        assert!(refusal(&s, "kernel.shmmax", &set(&[Network]))
            .unwrap()
            .contains("ipc"));
        assert!(refusal(&s, "net.core.somaxconn", &set(&[Ipc]))
            .unwrap()
            .contains("network"));
        assert!(refusal(&s, "kernel.domainname", &set(&[Ipc]))
            .unwrap()
            .contains("uts"));
        assert!(refusal(&s, "vm.swappiness", &all)
            .unwrap()
            .contains("separate kernel namespace"));
        let dom = spec(r#","domainname":"d.example""#);
        assert!(refusal(&dom, "kernel.domainname", &all)
            .unwrap()
            .contains("\"domainname\" field"));
    }

    #[test]
    fn joined_runtime_netns_refused() {
        let s = spec(r#","linux":{"namespaces":[{"type":"network","path":"/proc/self/ns/net"}]}"#);
        let net = set(&[LinuxNamespaceType::Network]);
        assert!(refusal(&s, "net.ipv4.ip_forward", &net)
            .unwrap()
            .contains("runtime's own"));
    }
}
