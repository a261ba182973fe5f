//! Bad input: each case fails with a message naming the problem and leaves nothing behind.

use kiln_integration_tests::checks::has_word;
use kiln_integration_tests::{unique_id, Bundle, Container, Output};
use serde_json::Value;

/// Asserts that `out` failed and its stderr contains every one of `words` (ignoring case).
#[track_caller]
fn assert_fails_naming(out: Output, words: &[&str]) {
    let out = out.expect_failure();
    eprintln!("stderr of `{}`: {}", out.args.join(" "), out.stderr.trim());
    let stderr = out.stderr.to_lowercase();
    for word in words {
        assert!(
            stderr.contains(&word.to_lowercase()),
            "stderr does not mention {word:?}: {}",
            out.describe()
        );
    }
}

/// `create` of `c`'s id with `c`'s bundle, without writing the config.
fn create_as_is(c: &Container) -> Output {
    c.rt()
        .create(c.id(), c.bundle().path(), &[])
        .expect("run the runtime")
}

#[test]
fn missing_bundle_dir() {
    let c = Container::new("nobundle");
    let missing = format!("/tmp/kit-missing-{}", c.id());
    let out = c
        .rt()
        .create(c.id(), std::path::Path::new(&missing), &[])
        .expect("run");
    assert_fails_naming(out, &[&missing]);
    c.assert_nothing_left();
}

#[test]
fn missing_config_json() {
    let c = Container::new("noconfig");
    assert_fails_naming(create_as_is(&c), &["config.json"]);
    c.assert_nothing_left();
}

#[test]
fn invalid_json() {
    let c = Container::new("badjson");
    std::fs::write(c.bundle().config_path(), "{\"ociVersion\": ").expect("write");
    let out = create_as_is(&c).expect_failure();
    c.assert_nothing_left();
    // runc differs: runc 1.1 only says "unexpected EOF", without naming the file.
    if kiln_integration_tests::skip_for_runc("the JSON error does not name config.json") {
        return;
    }
    assert_fails_naming(out, &["config.json"]);
}

#[test]
fn missing_rootfs() {
    let mut c = Container::new("norootfs");
    std::fs::remove_dir_all(c.rootfs()).expect("remove rootfs");
    assert_fails_naming(c.create_with(&[]), &["rootfs"]);
    c.assert_nothing_left();
}

#[test]
fn unknown_namespace_type() {
    let mut c = Container::new("nsfoo");
    c.config().namespace("foo", None);
    let out = c.create_with(&[]);
    assert_fails_naming(out.clone(), &["foo"]);
    c.assert_nothing_left();
    // runc differs: runc 1.1 says `namespace "foo" does not exist`, without naming the field.
    if kiln_integration_tests::skip_for_runc("the message does not mention `namespaces`") {
        return;
    }
    assert_fails_naming(out, &["namespaces", "foo"]);
}

#[test]
fn duplicate_id() {
    let mut c = Container::new("dup");
    c.config().args(&["true"]);
    c.create();
    let pid = c.pid();
    let other = Bundle::new("dup2").expect("bundle");
    other.write_config().expect("write");
    let out = c.rt().create(c.id(), other.path(), &[]).expect("run");
    assert_fails_naming(out.clone(), &["exists"]);
    assert!(
        out.stderr.contains(c.id()) || has_word(&out.stderr, "id"),
        "{}",
        out.describe()
    );
    let state = c.state();
    assert_eq!(
        (state["status"].as_str(), state["pid"].as_i64()),
        (Some("created"), Some(i64::from(pid)))
    );
    assert_eq!(c.rt().list(&["-q"]).expect("list").stdout.trim(), c.id());
    assert_eq!(c.rt().state_entries(), [c.id()]);
}

#[test]
fn invalid_ids() {
    let c = Container::new("badid");
    c.bundle().write_config().expect("write");
    for bad in ["a/b", "..", "../escape", ""] {
        let out = c.rt().create(bad, c.bundle().path(), &[]).expect("run");
        if out.success() {
            let _ = c.rt().delete(bad, true);
            panic!("id {bad:?} was accepted");
        }
        assert!(
            has_word(&out.stderr, "id"),
            "the message does not say the id is wrong: {}",
            out.describe()
        );
        c.assert_nothing_left();
    }
}

#[test]
fn start_of_a_running_container() {
    let mut c = Container::new("startrun");
    c.config().args(&["sleep", "1000"]);
    c.create();
    c.start();
    assert_fails_naming(c.try_start(), &["running"]);
    assert_eq!(c.status(), "running");
}

#[test]
fn start_of_a_stopped_container() {
    let mut c = Container::new("startstop");
    c.config().args(&["true"]);
    c.create();
    let pid = c.pid();
    c.start();
    Container::wait_pid(pid);
    assert_fails_naming(c.try_start(), &["stopped"]);
    assert_eq!(c.status(), "stopped");
}

#[test]
fn delete_of_a_running_container_needs_force() {
    let mut c = Container::new("delrun");
    c.config().args(&["sleep", "1000"]);
    c.create();
    c.start();
    let pid = c.pid();
    assert_fails_naming(c.delete(false), &["running"]);
    assert_eq!(c.status(), "running");
    assert!(kiln_integration_tests::sys::pid_alive(pid));
    c.delete(true).expect_success();
    Container::wait_pid(pid);
    c.assert_nothing_left();
}

#[test]
fn kill_of_a_stopped_container() {
    let mut c = Container::new("killstop");
    c.config().args(&["true"]);
    c.create();
    let pid = c.pid();
    c.start();
    Container::wait_pid(pid);
    c.kill("KILL").expect_failure();
    assert_eq!(c.status(), "stopped");
}

#[test]
fn nonexistent_container() {
    let c = Container::new("ghost");
    let ghost = unique_id("ghost");
    let rt = c.rt();
    for out in [
        rt.state(&ghost),
        rt.kill(&ghost, "KILL", false),
        rt.delete(&ghost, false),
    ] {
        let out = out.expect("run").expect_failure();
        assert!(
            out.stderr.contains(&ghost) || out.stderr.contains("not exist"),
            "the message names neither the id nor its absence: {}",
            out.describe()
        );
    }
    c.assert_nothing_left();
}

#[test]
fn errors_are_logged_as_json_lines() {
    let c = Container::new("jsonlog");
    c.rt()
        .state(&unique_id("ghost"))
        .expect("run")
        .expect_failure();
    let log = c.rt().log();
    assert!(!log.trim().is_empty(), "nothing logged");
    for line in log.lines() {
        let entry: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            entry["msg"].is_string() && entry["level"].is_string(),
            "{line}"
        );
    }
}

#[test]
fn lsm_label_on_a_host_without_that_lsm_is_a_clear_error() {
    let apparmor = std::path::Path::new("/sys/kernel/security/apparmor").exists();
    let selinux = std::path::Path::new("/sys/fs/selinux/enforce").exists();
    let (field, key, value) = if !apparmor {
        ("apparmorProfile", "apparmorProfile", "kiln-test-profile")
    } else if !selinux {
        (
            "selinuxLabel",
            "selinuxLabel",
            "system_u:system_r:container_t:s0",
        )
    } else {
        println!("SKIP: both AppArmor and SELinux are enabled on this host");
        return;
    };
    let mut c = Container::new("lsm");
    c.config().set(&["process", key], value.into());
    let out = c.create_with(&[]);
    assert!(!out.success(), "{}", out.describe());
    assert!(c.rt().state_entries().is_empty(), "state left behind");
    // runc differs: it fails late ("write /proc/self/attr/exec: invalid
    // argument") without naming the field.
    if !kiln_integration_tests::skip_for_runc("message does not name the field") {
        assert!(out.stderr.contains(field), "{}", out.describe());
    }
}

#[test]
fn unsupported_fields_are_refused_not_ignored() {
    // runc refuses intelRdt on a host without resctrl too; runc differs in that its message
    // does not name the field.
    if kiln_integration_tests::skip_for_runc("the message does not name linux.intelRdt") {
        return;
    }
    let mut c = Container::new("unsupported");
    c.config().set(
        &["linux", "intelRdt"],
        serde_json::json!({"closID": "kiln-it"}),
    );
    let out = c.create_with(&[]);
    assert!(
        !out.success() && out.stderr.contains("linux.intelRdt"),
        "{}",
        out.describe()
    );
    c.assert_nothing_left();
}

#[test]
fn no_mount_namespace_is_refused_and_nothing_is_mounted_on_the_host() {
    // runc differs: runc 1.1 runs such a container, making its mounts in the host's mount
    // namespace and leaving them there after delete. kiln refuses (a deliberate difference).
    let mut c = Container::new("nomntns");
    c.config().remove_namespace("mount").args(&["true"]);
    if kiln_integration_tests::skip_for_runc("runs without a mount namespace, leaking mounts") {
        return;
    }
    assert_fails_naming(c.create_with(&[]), &["linux.namespaces", "mount namespace"]);
    c.assert_nothing_left();
    let rootfs = c.bundle().path().join("rootfs");
    let after = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !after.contains(rootfs.to_string_lossy().as_ref()),
        "a mount under the rootfs was left on the host"
    );
}

/// `create` with the one sysctl `key` and without the namespaces `drop`: asserts it fails
/// naming the key and `words`, and leaves nothing behind.
fn assert_sysctl_refused(key: &str, drop: &[&str], words: &[&str]) {
    let mut c = Container::new("sysctl");
    c.config().sysctl(key, "1");
    for ns in drop {
        c.config().remove_namespace(ns);
        if *ns == "uts" {
            c.config().remove(&["hostname"]);
        }
    }
    let out = c.create_with(&[]);
    c.assert_nothing_left();
    let mut all = vec![key];
    all.extend_from_slice(words);
    assert_fails_naming(out.clone(), &all);
    // runc differs: runc 1.1 words it `sysctl "KEY" ...`, without the field's JSON path.
    if !kiln_integration_tests::skip_for_runc("the message does not name linux.sysctl") {
        assert_fails_naming(out, &[&format!("linux.sysctl[\"{key}\"]")]);
    }
}

#[test]
fn sysctls_outside_the_container_s_own_namespaces_are_refused() {
    assert_sysctl_refused(
        "kernel.hostname",
        &[],
        &["conflicts with the OCI \"hostname\" field"],
    );
    assert_sysctl_refused("net.ipv4.ip_forward", &["network"], &["network namespace"]);
    assert_sysctl_refused("kernel.shmmax", &["ipc"], &["ipc namespace"]);
    assert_sysctl_refused("fs.mqueue.msg_max", &["ipc"], &["ipc namespace"]);
    assert_sysctl_refused("kernel.domainname", &["uts"], &["namespace"]);
    assert_sysctl_refused("vm.swappiness", &[], &["separate kernel namespace"]);
}

#[test]
fn net_sysctl_in_a_joined_host_network_namespace_is_refused() {
    let mut c = Container::new("sysctlnet");
    c.config()
        .namespace("network", Some("/proc/self/ns/net"))
        .sysctl("net.ipv4.ip_forward", "1");
    let out = c.create_with(&[]);
    c.assert_nothing_left();
    assert_fails_naming(out, &["net.ipv4.ip_forward", "host", "network namespace"]);
}

#[test]
fn kernel_domainname_sysctl_conflicting_with_the_domainname_field_is_refused() {
    let mut c = Container::new("sysctldom");
    c.config()
        .domainname("field.example")
        .sysctl("kernel.domainname", "sysctl.example");
    let out = c.create_with(&[]);
    // runc differs: runc 1.1 accepts both, and the sysctl silently overrides the field.
    if kiln_integration_tests::skip_for_runc("kernel.domainname overrides the domainname field") {
        return;
    }
    c.assert_nothing_left();
    assert_fails_naming(
        out,
        &[
            "linux.sysctl[\"kernel.domainname\"]",
            "\"domainname\" field",
        ],
    );
}

#[test]
fn a_device_path_holding_another_file_is_refused() {
    // config-linux.md, Devices: a file already at `path` that does not match the requested
    // device MUST be an error. /dev/shm is a directory (a tmpfs mount) in the default config.
    // runc differs: runc 1.1 ignores EEXIST and runs the container.
    if kiln_integration_tests::skip_for_runc("an existing file at a device path is ignored") {
        return;
    }
    // The null device (1:3) at `path`.
    let null_at = |path: &str| kiln_integration_tests::Device {
        path: path.into(),
        kind: 'c',
        major: 1,
        minor: 3,
        file_mode: Some(0o666),
        uid: None,
        gid: None,
    };
    let mut c = Container::new("devexists");
    c.config().args(&["true"]).device(&null_at("/dev/shm"));
    assert_fails_naming(
        c.create_with(&[]),
        &["/dev/shm", "not the requested device"],
    );
    c.assert_nothing_left();
    // The same device listed twice (it is also a default one) is fine.
    let mut c = Container::new("devtwice");
    c.config()
        .sh("test -c /dev/null")
        .device(&null_at("/dev/null"));
    c.run_with(&[]).expect_success();
}

#[test]
fn a_program_that_cannot_be_executed_fails_with_one_runc_worded_line() {
    // The file exists and is executable (so `create` accepts it), but its interpreter does
    // not: execve fails only after `start`.
    let mut c = Container::new("execve");
    let script = c.rootfs().join("run.sh");
    std::fs::write(&script, "#!/mmnnttbb foo bar\nsh\n").expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    c.config().args(&["/run.sh"]);
    let out = c.run_with(&[]).expect_failure();
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.describe());
    assert!(
        lines[0].contains("exec /run.sh: no such file or directory"),
        "{}",
        out.describe()
    );
}

#[test]
fn proc_through_a_symlink_in_the_image_is_refused() {
    // CVE-2019-19921 / CVE-2023-27561: /proc (or /sys) replaced by a symlink in the image.
    // Even a link that stays inside the rootfs is refused, as runc refuses it.
    let mut c = Container::new("procsymlink");
    let rootfs = c.rootfs();
    std::fs::remove_dir_all(rootfs.join("proc")).ok();
    std::fs::create_dir_all(rootfs.join("bad-proc")).expect("mkdir");
    std::os::unix::fs::symlink("/bad-proc", rootfs.join("proc")).expect("symlink");
    c.config().args(&["true"]);
    assert_fails_naming(
        c.create_with(&[]),
        &["must be mounted on ordinary directory"],
    );
    c.assert_nothing_left();
}
