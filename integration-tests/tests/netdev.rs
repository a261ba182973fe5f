//! `linux.netDevices`: a host network device moved into the container's network namespace,
//! renamed, with its MTU, MAC and global-scope addresses (runc's behaviour and suite).

use std::process::Command;

use kiln_integration_tests::{skip_for_runc, Container};

/// A veth pair on the host (`<tag>a`/`<tag>b`); both ends removed on drop, wherever they are.
struct Veth(String);

impl Veth {
    fn new(tag: &str) -> Veth {
        let name = format!("{tag}{}", std::process::id() % 100_000);
        let ok = Command::new("ip")
            .args([
                "link",
                "add",
                &format!("{name}a"),
                "type",
                "veth",
                "peer",
                "name",
            ])
            .arg(format!("{name}b"))
            .status()
            .expect("run ip")
            .success();
        assert!(ok, "ip link add {name}a type veth");
        Veth(name)
    }

    fn a(&self) -> String {
        format!("{}a", self.0)
    }

    fn ip(&self, args: &[&str]) {
        let ok = Command::new("ip")
            .args(args)
            .status()
            .expect("run ip")
            .success();
        assert!(ok, "ip {args:?}");
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        // Deleting one end deletes the pair; the moved end went with the container's netns.
        for end in ["a", "b"] {
            Command::new("ip")
                .args(["link", "del", &format!("{}{end}", self.0)])
                .stderr(std::process::Stdio::null())
                .status()
                .ok();
        }
    }
}

#[test]
fn a_device_moves_in_renamed_with_its_mtu_mac_and_global_addresses() {
    // runc differs: runc 1.1 does not know linux.netDevices and ignores it.
    if skip_for_runc("no linux.netDevices") {
        return;
    }
    let veth = Veth::new("kitnd");
    let dev = veth.a();
    veth.ip(&["link", "set", "mtu", "1789", "dev", &dev]);
    veth.ip(&["link", "set", "address", "00:11:22:33:44:55", "dev", &dev]);
    veth.ip(&["address", "add", "169.254.169.77/32", "dev", &dev]);
    veth.ip(&["address", "add", "127.0.0.33", "dev", &dev]);
    let mut c = Container::new("netdev");
    c.config()
        .set(
            &["linux", "netDevices"],
            serde_json::json!({ &dev: {"name": "ctr7"} }),
        )
        .args(&["ip", "address", "show", "dev", "ctr7"]);
    let out = c.run_ok();
    for want in [
        "mtu 1789 ",
        "ether 00:11:22:33:44:55 ",
        " 169.254.169.77/32 ",
    ] {
        assert!(out.contains(want), "{want:?} missing: {out}");
    }
    assert!(
        !out.contains("127.0.0.33"),
        "a host-scope address moved along: {out}"
    );
    // The device was moved, not copied.
    let on_host = Command::new("ip")
        .args(["link", "show", &dev])
        .stderr(std::process::Stdio::null())
        .output()
        .expect("ip link show");
    assert!(!on_host.status.success(), "{dev} is still on the host");
}

#[test]
fn bad_net_devices_are_refused_naming_the_field() {
    if skip_for_runc("no linux.netDevices") {
        return;
    }
    let mut c = Container::new("netdevnone");
    c.config()
        .set(
            &["linux", "netDevices"],
            serde_json::json!({"kitnosuch0": {}}),
        )
        .args(&["true"]);
    let out = c.run_with(&[]).expect_failure();
    assert!(
        out.stderr.contains(r#"linux.netDevices["kitnosuch0"]"#),
        "{}",
        out.describe()
    );
    c.assert_nothing_left();

    let mut c = Container::new("netdevhost");
    c.config()
        .remove_namespace("network")
        .set(&["linux", "netDevices"], serde_json::json!({"lo": {}}))
        .args(&["true"]);
    let out = c.run_with(&[]).expect_failure();
    assert!(
        out.stderr.contains("linux.netDevices"),
        "{}",
        out.describe()
    );
    c.assert_nothing_left();

    let mut c = Container::new("netdevname");
    c.config()
        .set(
            &["linux", "netDevices"],
            serde_json::json!({"lo": {"name": "a/b"}}),
        )
        .args(&["true"]);
    let out = c.run_with(&[]).expect_failure();
    assert!(
        out.stderr.contains(r#"linux.netDevices["lo"].name"#),
        "{}",
        out.describe()
    );
}
