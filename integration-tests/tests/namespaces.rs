//! Namespaces: new ones for each configured type, joined ones by path.

use kiln_integration_tests::{skip_for_runc, sys, Container};

/// `readlink /proc/self/ns/<kind>` for each kind inside a container (one per line, in order).
fn inside_links(c: &mut Container, kinds: &[&str]) -> Vec<String> {
    let script: String = kinds
        .iter()
        .map(|k| format!("readlink /proc/self/ns/{k}; "))
        .collect();
    c.sh(&script).lines().map(str::to_string).collect()
}

#[track_caller]
fn assert_new(kinds: &[&str], inside: &[String]) {
    assert_eq!(inside.len(), kinds.len(), "{inside:?}");
    for (kind, link) in kinds.iter().zip(inside) {
        let host = sys::ns_link("self", kind).expect("host namespace");
        assert!(link.starts_with(&format!("{kind}:[")), "{kind}: {link}");
        assert_ne!(*link, host, "{kind} namespace is the host's");
    }
}

#[test]
fn default_namespaces_are_new() {
    let kinds = ["pid", "uts", "ipc", "net", "mnt"];
    let mut c = Container::new("ns");
    let inside = inside_links(&mut c, &kinds);
    assert_new(&kinds, &inside);
    // cgroup was not asked for: it stays the host's.
    let mut c = Container::new("nscg");
    assert_eq!(
        inside_links(&mut c, &["cgroup"]),
        [sys::ns_link("self", "cgroup").expect("host")]
    );
}

#[test]
fn pid_namespace_makes_the_process_init() {
    let mut c = Container::new("pidns");
    assert_eq!(c.sh("echo $$").trim(), "1");
}

#[test]
fn network_namespace_has_only_lo() {
    let mut c = Container::new("netns");
    let out = c.sh("cat /proc/net/dev");
    let interfaces: Vec<&str> = out
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(interfaces, ["lo"], "{out}");
}

#[test]
fn without_a_network_namespace_the_host_one_is_kept() {
    let mut c = Container::new("hostnet");
    c.config().remove_namespace("network");
    assert_eq!(
        inside_links(&mut c, &["net"]),
        [sys::ns_link("self", "net").expect("host")]
    );
}

#[test]
fn cgroup_namespace() {
    let mut c = Container::new("cgns");
    c.config().namespace("cgroup", None);
    let out = c.sh("readlink /proc/self/ns/cgroup; cat /proc/self/cgroup");
    let mut lines = out.lines().map(str::to_string);
    let link = lines.next().unwrap_or_default();
    assert_new(&["cgroup"], &[link]);
    for line in lines {
        assert!(
            line.ends_with(":/"),
            "cgroup path not the namespace root: {line}"
        );
    }
}

#[test]
fn user_namespace_with_mappings() {
    let mut c = Container::new("userns");
    c.config()
        .namespace("user", None)
        .uid_mapping(0, 100_000, 65_536)
        .gid_mapping(0, 100_000, 65_536);
    let out = c.sh("readlink /proc/self/ns/user; cat /proc/self/uid_map /proc/self/gid_map; id -u");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_new(&["user"], &[lines[0].to_string()]);
    for map in &lines[1..3] {
        assert_eq!(
            map.split_whitespace().collect::<Vec<_>>(),
            ["0", "100000", "65536"],
            "{out}"
        );
    }
    assert_eq!(lines[3], "0");
}

/// Seconds of `/proc/uptime` on the host.
fn host_uptime() -> f64 {
    let text = std::fs::read_to_string("/proc/uptime").expect("read /proc/uptime");
    text.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("uptime value")
}

#[test]
fn time_namespace_with_boottime_offset() {
    // runc differs: runc 1.1 does not know the time namespace (support came in runc 1.2).
    if skip_for_runc("no time namespace in runc 1.1") {
        return;
    }
    const OFFSET: f64 = 1_000_000.0;
    let mut c = Container::new("timens");
    c.config()
        .namespace("time", None)
        .time_offset("boottime", 1_000_000, 0);
    let before = host_uptime();
    let out = c.sh("readlink /proc/self/ns/time; cat /proc/uptime");
    let after = host_uptime();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_new(&["time"], &[lines[0].to_string()]);
    let inside: f64 = lines[1]
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("uptime");
    // /proc/uptime has two decimals: allow one hundredth of rounding either way.
    assert!(
        inside >= before + OFFSET - 0.01 && inside <= after + OFFSET + 0.01,
        "uptime inside {inside}, host {before}..{after}, offset {OFFSET}"
    );
}

#[test]
fn join_a_namespace_by_path() {
    let mut a = Container::new("nsa");
    a.config().args(&["sleep", "1000"]);
    a.create();
    let a_net = sys::ns_link(&a.pid().to_string(), "net").expect("A's netns");
    assert_ne!(a_net, sys::ns_link("self", "net").expect("host netns"));

    let mut b = Container::new("nsb");
    let path = format!("/proc/{}/ns/net", a.pid());
    b.config().namespace("network", Some(&path));
    assert_eq!(inside_links(&mut b, &["net", "uts"])[0], a_net);
}

/// IFF_UP in the text of `/sys/class/net/<dev>/flags` (e.g. `0x9`).
fn flags_up(text: &str) -> bool {
    let hex = text.trim().trim_start_matches("0x");
    let flags = u32::from_str_radix(hex, 16).unwrap_or_else(|e| panic!("flags {text:?}: {e}"));
    flags & 0x1 != 0
}

/// Listens on 127.0.0.1:5555 with busybox nc and sends a line to it (retrying until the
/// listener is up); prints `connected=yes|no got=<what the listener received>`. The listener's
/// stdin is held open (`sleep |`): on an empty stdin it half-closes at once, and under load the
/// client could see that EOF and leave before sending its line.
const LOOPBACK_ROUND_TRIP: &str = "sleep 30 | nc -l -p 5555 > /tmp/got 2>/dev/null & l=$!; ok=no; \
    for i in $(seq 50); do if echo hello-lo | nc -w 2 127.0.0.1 5555 2>/dev/null; \
    then ok=yes; break; fi; sleep 0.1; done; \
    for i in $(seq 50); do [ -s /tmp/got ] && break; sleep 0.1; done; kill $l 2>/dev/null; \
    echo connected=$ok got=$(cat /tmp/got)";

#[test]
fn a_new_network_namespace_has_lo_up_and_127_0_0_1_reachable() {
    let mut c = Container::new("loup");
    let out = c.sh(&format!(
        "cat /sys/class/net/lo/flags; {LOOPBACK_ROUND_TRIP}"
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(flags_up(lines[0]), "lo is down: flags {}", lines[0]);
    assert_eq!(lines[1], "connected=yes got=hello-lo", "{out}");
}

/// A process the test started in a network namespace of its own (its `lo` left down);
/// killed and reaped on drop.
struct NetnsHolder(std::process::Child);

impl NetnsHolder {
    fn start() -> NetnsHolder {
        let child = std::process::Command::new("unshare")
            .args(["--net", "sleep", "1000"])
            .spawn()
            .expect("start `unshare --net sleep`");
        let holder = NetnsHolder(child);
        let host = sys::ns_link("self", "net").expect("host netns");
        let pid = holder.0.id().to_string();
        sys::wait_until("unshare to enter its network namespace", || {
            sys::ns_link(&pid, "net").is_ok_and(|l| l != host)
        })
        .expect("unshare --net");
        holder
    }

    fn netns_path(&self) -> String {
        format!("/proc/{}/ns/net", self.0.id())
    }
}

impl Drop for NetnsHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_joined_network_namespace_is_left_as_it_is() {
    let holder = NetnsHolder::start();
    let mut c = Container::new("lojoin");
    c.config().namespace("network", Some(&holder.netns_path()));
    let flags = c.sh("cat /sys/class/net/lo/flags");
    assert!(
        !flags_up(&flags),
        "the joined namespace's lo was brought up: {flags}"
    );
}
