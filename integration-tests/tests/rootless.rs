//! Rootless: the runtime run by an unprivileged user (the test account `kiln-it-rl`), with the
//! config runc's `spec --rootless` makes. Runs against runc too (`KILN_BIN=/usr/sbin/runc`).

use std::os::unix::fs::MetadataExt;

use kiln_integration_tests::cgroup::v2_host;
use kiln_integration_tests::console::{read_all, receive_fd};
use kiln_integration_tests::rootless::{DelegatedV2, TestUser, SUBID_COUNT};
use kiln_integration_tests::{is_runc, skip_for_runc, Container, Runtime, ScratchDir};
use serde_json::json;

fn status_ids(pid: i32, key: &str) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|rest| {
            rest.split_whitespace()
                .map(|v| v.parse().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn rootless_run_maps_the_callers_uid_to_root() {
    let user = TestUser::acquire();
    let mut c = Container::rootless("rl-run", &user);
    c.config().hostname("rl-host");
    let out = c.sh("id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; \
                    cat /proc/self/setgroups; hostname; touch /tmp/x && echo wrote");
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines[0], "0", "{out}");
    assert_eq!(lines[1], "0", "{out}");
    let uid_map: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(uid_map, ["0", &user.uid.to_string(), "1"], "{out}");
    let gid_map: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(gid_map, ["0", &user.gid.to_string(), "1"], "{out}");
    assert_eq!(lines[4], "deny", "{out}");
    assert_eq!(lines[5], "rl-host", "{out}");
    c.delete(false);
    c.assert_nothing_left();
}

#[test]
fn rootless_container_lives_exec_kill_delete() {
    let user = TestUser::acquire();
    let mut c = Container::rootless("rl-life", &user);
    c.config().args(&["sleep", "300"]);
    c.run_with(&["-d"]).expect_success();
    assert_eq!(c.status(), "running");
    let pid = c.pid();
    // On the host the init is the user, not root.
    assert_eq!(status_ids(pid, "Uid:")[0], user.uid);
    let out = c
        .rt()
        .exec(&["exec", c.id(), "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    let out = out.unwrap().expect_success();
    assert!(out.stdout.starts_with("0\n"), "{}", out.describe());
    assert!(
        out.stdout.contains(&user.uid.to_string()),
        "{}",
        out.describe()
    );
    c.kill("KILL").expect_success();
    Container::wait_pid(pid);
    assert_eq!(c.status(), "stopped");
    c.delete(false).expect_success();
    c.assert_nothing_left();
}

#[test]
fn rootless_init_runs_from_a_sealed_copy_of_a_runtime_the_user_owns() {
    // CVE-2019-5736 without privilege: a kiln the user owns is writable by the container's
    // root (the user's uid is mapped), so it re-executes; open_tree is refused, so from a sealed
    // memfd. The created init must not be the runtime's binary on disk.
    let user = TestUser::acquire();
    let rt = Runtime::unprivileged(user.uid, user.gid).expect("runtime root");
    let own = rt.root().with_file_name("kiln-of-the-user");
    std::fs::copy(rt.bin(), &own).expect("copy the runtime");
    std::os::unix::fs::chown(&own, Some(user.uid), Some(user.gid)).expect("chown the copy");
    let mut c = Container::rootless_with("rl-exe", &user, rt.with_bin(own));
    c.config().args(&["true"]);
    c.create();
    let pid = c.pid();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(
        exe.to_string_lossy().starts_with("/memfd:"),
        "the created init runs {}",
        exe.display()
    );
    let opened = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{pid}/exe"));
    assert!(
        opened.is_err(),
        "the init's binary can be opened for writing"
    );
    c.delete(true).expect_success();
    c.assert_nothing_left();
}

#[test]
fn rootless_init_of_a_root_owned_runtime_needs_no_copy() {
    // runc differs: runc 1.1 runs every init from a memfd copy.
    if skip_for_runc("init is always a memfd copy") {
        return;
    }
    // The user's container maps only the user's uid: a root-owned kiln, writable by root only,
    // is out of its reach, so kiln runs the init from the binary itself (no re-exec, no copy).
    let user = TestUser::acquire();
    let mut c = Container::rootless("rl-noexe", &user);
    let meta = std::fs::metadata(c.rt().bin()).expect("stat kiln");
    assert!(
        meta.uid() == 0 && meta.mode() & 0o022 == 0,
        "kiln must be root's, 0755-like"
    );
    c.config().args(&["true"]);
    c.create();
    let pid = c.pid();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert_eq!(exe, c.rt().bin(), "the created init runs {}", exe.display());
    c.delete(true).expect_success();
    c.assert_nothing_left();
}

#[test]
fn rootless_limits_without_a_cgroups_path_are_refused() {
    let user = TestUser::acquire();
    let mut c = Container::rootless("rl-limit", &user);
    c.config().resources(&["pids"], json!({"limit": 10}));
    let out = c.run_with(&["-d"]).expect_failure();
    assert!(
        out.stderr.contains("cannot set pids limit")
            || out.stderr.contains("rootless needs no limits"),
        "{}",
        out.describe()
    );
    c.assert_nothing_left();
}

#[test]
fn rootless_cgroups_path_the_user_cannot_write_is_refused() {
    let user = TestUser::acquire();
    let mut c = Container::rootless("rl-cgdeny", &user);
    let path = kiln_integration_tests::cgroup::cgroups_path(c.id());
    c.config().cgroups_path(&path);
    let out = c.run_with(&["-d"]).expect_failure();
    assert!(
        out.stderr.contains("unable to apply cgroup configuration")
            && out.stderr.contains("permission denied"),
        "{}",
        out.describe()
    );
    c.assert_nothing_left();
}

#[test]
fn rootless_mapping_outside_subuid_is_refused() {
    let user = TestUser::acquire();
    let mut c = Container::rootless("rl-badmap", &user);
    // Not the user's own uid, and not in its /etc/subuid range.
    let outside = user.subid_start() + SUBID_COUNT + 1000;
    let maps = json!([{"containerID": 0, "hostID": user.uid, "size": 1},
                      {"containerID": 1, "hostID": outside, "size": 10}]);
    c.config().set(&["linux", "uidMappings"], maps);
    let out = c.run_with(&["-d"]).expect_failure();
    if !is_runc() {
        assert!(
            out.stderr.contains("linux.uidMappings") && out.stderr.contains("/etc/subuid"),
            "{}",
            out.describe()
        );
    }
    c.assert_nothing_left();
}

#[test]
fn rootless_subuid_ranges_are_mapped_through_newuidmap() {
    let user = TestUser::acquire();
    let _subids = user.subids();
    let mut c = Container::rootless("rl-range", &user);
    let start = user.subid_start();
    for (key, own) in [("uidMappings", user.uid), ("gidMappings", user.gid)] {
        let maps = json!([{"containerID": 0, "hostID": own, "size": 1},
                          {"containerID": 1, "hostID": start, "size": SUBID_COUNT}]);
        c.config().set(&["linux", key], maps);
    }
    c.config().user(1000, 1000, &[]);
    c.config().args(&["sleep", "300"]);
    c.run_with(&["-d"]).expect_success();
    let pid = c.pid();
    // Container uid 1000 is host uid start + 999.
    assert_eq!(status_ids(pid, "Uid:")[0], start + 999);
    assert_eq!(status_ids(pid, "Gid:")[0], start + 999);
    let out = c.rt().exec(&["exec", c.id(), "cat", "/proc/self/uid_map"]);
    let out = out.unwrap().expect_success();
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.describe());
    c.delete(true).expect_success();
    c.assert_nothing_left();
}

#[test]
fn rootless_bind_of_a_file_the_user_cannot_read_is_refused() {
    let user = TestUser::acquire();
    let secret = ScratchDir::new("rl-secret").unwrap();
    let file = secret.join("secret");
    std::fs::write(&file, "host secret\n").unwrap();
    std::fs::set_permissions(
        secret.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let mut c = Container::rootless("rl-bind", &user);
    c.config()
        .bind(file.to_str().unwrap(), "/secret", false, &["ro"]);
    c.config().args(&["cat", "/secret"]);
    let out = c.run_with(&[]);
    assert!(!out.success(), "{}", out.describe());
    assert!(!out.stdout.contains("host secret"), "{}", out.describe());
    if !is_runc() {
        assert!(out.stderr.contains("/secret"), "{}", out.describe());
    }
    c.assert_nothing_left();
    assert_eq!(std::fs::metadata(&file).unwrap().uid(), 0);
}

#[test]
fn rootless_state_root_defaults_to_xdg_runtime_dir() {
    let user = TestUser::acquire();
    let c = Container::rootless("rl-xdg", &user);
    c.write_config();
    let xdg = user_dir("rl-xdg-run", &user);
    let bundle = c.bundle().path().to_str().unwrap().to_string();
    let id = c.id().to_string();
    let (created, _, err) = run_as_user(&user, &xdg, &[], &["create", "--bundle", &bundle, &id], 1);
    let state_dir = xdg.join(if is_runc() { "runc" } else { "kiln" });
    let meta = std::fs::metadata(&state_dir);
    let (deleted, _, del_err) = run_as_user(&user, &xdg, &[], &["delete", "--force", &id], 2);
    assert!(created.success(), "create: {err}");
    assert!(deleted.success(), "delete: {del_err}");
    let meta = meta.unwrap_or_else(|e| panic!("{}: {e}", state_dir.display()));
    assert_eq!(meta.uid(), user.uid);
    assert_eq!(meta.mode() & 0o777, 0o700);
    assert!(std::fs::read_dir(&state_dir).unwrap().next().is_none());
}

/// The value of `key` in a flat-keyed cgroup file (`memory.events`, `cgroup.events`).
fn keyed(path: &std::path::Path, key: &str) -> u64 {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {}: {text}", path.display()))
}

#[test]
fn rootless_v2_delegated_cgroup_gets_limits_and_reports_oom() {
    if !v2_host() {
        return;
    }
    let user = TestUser::acquire();
    let deleg = DelegatedV2::new(&user);
    let mut c = Container::rootless_in("rl-v2", &user, &deleg);
    c.config()
        .cgroups_path(&format!("{}/ctr", deleg.cgroups_path()));
    c.config()
        .resources(&["memory"], json!({"limit": 33554432, "swap": 33554432}));
    c.config().resources(&["pids"], json!({"limit": 20}));
    c.config().args(&["sleep", "1000"]);
    c.run_with(&["-d"]).expect_success();
    let dir = deleg.dir().join("ctr");
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(read("memory.max"), "33554432");
    assert_eq!(read("pids.max"), "20");
    let pid = c.pid();
    assert!(read("cgroup.procs").lines().any(|l| l == pid.to_string()));
    c.rt().exec(&["pause", c.id()]).unwrap().expect_success();
    assert_eq!(c.status(), "paused");
    assert_eq!(keyed(&dir.join("cgroup.events"), "frozen "), 1);
    c.rt().exec(&["resume", c.id()]).unwrap().expect_success();
    // 64 MiB in one line: tail holds it all, over the 32 MiB limit (no swap).
    let out = c
        .rt()
        .exec(&[
            "exec",
            c.id(),
            "sh",
            "-c",
            "head -c 67108864 /dev/zero | tail -n 1 >/dev/null",
        ])
        .unwrap();
    assert_ne!(out.code, 0, "{}", out.describe());
    assert!(keyed(&dir.join("memory.events"), "oom_kill ") >= 1);
    c.delete(true).expect_success();
    assert!(!dir.exists(), "{} left", dir.display());
    c.assert_nothing_left();
}

#[test]
fn rootless_console_socket_hooks_seccomp_and_capabilities() {
    use std::os::unix::net::UnixListener;
    let user = TestUser::acquire();
    let dir = ScratchDir::new("rl-tty").unwrap();
    std::os::unix::fs::chown(dir.path(), Some(user.uid), Some(user.gid)).unwrap();
    let sock = dir.join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    std::os::unix::fs::chown(&sock, Some(user.uid), Some(user.gid)).unwrap();
    let mut c = Container::rootless("rl-tty", &user);
    c.config().set(&["process", "terminal"], true.into());
    // A createRuntime hook runs in the runtime's namespace, as the user.
    let mark = dir.join("hook-ran");
    c.config().hook(
        kiln_integration_tests::HookKind::CreateRuntime,
        "/bin/sh",
        &["sh", "-c", &format!("id -u > {}", mark.display())],
        &[],
        None,
    );
    c.config().set(
        &["linux", "seccomp"],
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}),
    );
    c.config()
        .sh("tty; grep CapEff /proc/self/status; mkdir /tmp/d 2>&1 || echo mkdir-refused");
    let server = std::thread::spawn(move || receive_fd(&listener));
    c.create_with(&["--console-socket", sock.to_str().unwrap()])
        .expect_success();
    let (_, master) = server.join().unwrap();
    c.start();
    let out = read_all(master);
    assert!(out.contains("/dev/pts/0"), "{out}");
    // spec's three capabilities: AUDIT_WRITE, KILL, NET_BIND_SERVICE.
    assert!(out.contains("CapEff:\t0000000020000420"), "{out}");
    assert!(out.contains("mkdir-refused"), "{out}");
    let hook_uid = std::fs::read_to_string(&mark).unwrap();
    assert_eq!(hook_uid.trim(), user.uid.to_string());
}

#[test]
fn rootless_flag_values_have_runcs_meaning() {
    // --rootless true as root: cgroups as for an unprivileged user (none without a path).
    // runc differs: its rootless rule only tolerates permission errors, so root still gets a
    // cgroup (below its own); kiln does not guess a path (it may be another user's).
    if skip_for_runc("--rootless true as root still makes a cgroup") {
        return;
    }
    let mut c = Container::new("rl-flag");
    c.config().remove(&["linux", "cgroupsPath"]);
    c.config().remove(&["linux", "resources"]);
    c.config().args(&["sleep", "300"]);
    c.write_config();
    let bundle = c.bundle().path().to_str().unwrap().to_string();
    let out = c.rt().exec(&[
        "--rootless",
        "true",
        "run",
        "-d",
        "--bundle",
        &bundle,
        c.id(),
    ]);
    out.unwrap().expect_success();
    let pid = c.pid();
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let mine = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    assert_eq!(own, mine, "the container got a cgroup of its own");
    c.delete(true).expect_success();
    // Anything but true/false/auto is refused, naming the flag.
    let out = c.rt().exec(&[
        "--rootless",
        "yes",
        "run",
        "-d",
        "--bundle",
        &bundle,
        c.id(),
    ]);
    let out = out.unwrap().expect_failure();
    if !is_runc() {
        assert!(out.stderr.contains("--rootless"), "{}", out.describe());
    }
    c.assert_nothing_left();
}

#[test]
fn rootless_false_makes_an_unprivileged_user_fail_on_cgroups() {
    let user = TestUser::acquire();
    let mut c = Container::rootless("rl-false", &user);
    c.config().args(&["true"]);
    c.write_config();
    let bundle = c.bundle().path().to_str().unwrap().to_string();
    let out = c
        .rt()
        .exec(&["--rootless", "false", "run", "--bundle", &bundle, c.id()]);
    let out = out.unwrap().expect_failure();
    assert!(
        out.stderr.to_lowercase().contains("permission denied"),
        "{}",
        out.describe()
    );
    c.assert_nothing_left();
}

/// Runs `prefix… <runtime> args…` as `user` in `dir` with `XDG_RUNTIME_DIR=dir` and no `USER`
/// (rootless podman's environment for the runtime); stdout and stderr go to files in `dir`
/// (named by `n`): a created init keeps them, so pipes would never reach EOF.
fn run_as_user(
    user: &TestUser,
    dir: &ScratchDir,
    prefix: &[&str],
    args: &[&str],
    n: u32,
) -> (std::process::ExitStatus, String, String) {
    use std::os::unix::process::CommandExt;
    let out_path = dir.join(format!("{n}.out"));
    let err_path = dir.join(format!("{n}.err"));
    let out = std::fs::File::create(&out_path).unwrap();
    let err = std::fs::File::create(&err_path).unwrap();
    let bin = kiln_integration_tests::runtime_bin();
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut cmd = std::process::Command::new(first);
            cmd.args(rest).arg(&bin);
            cmd
        }
        None => std::process::Command::new(&bin),
    };
    let status = cmd
        .args(args)
        .uid(user.uid)
        .gid(user.gid)
        .current_dir(dir.path())
        .env("XDG_RUNTIME_DIR", dir.path())
        .env_remove("USER")
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .unwrap();
    let text = |p: std::path::PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    (status, text(out_path), text(err_path))
}

/// `unshare` into a new user namespace whose uid 0 is the caller (as rootless podman does).
const AS_ROOT_OF_A_USER_NAMESPACE: [&str; 4] = ["unshare", "--user", "--map-root-user", "--"];

/// A directory of the test user for [`run_as_user`].
fn user_dir(tag: &str, user: &TestUser) -> ScratchDir {
    let dir = ScratchDir::new(tag).unwrap();
    std::os::unix::fs::chown(dir.path(), Some(user.uid), Some(user.gid)).unwrap();
    dir
}

#[test]
fn uid0_in_a_user_namespace_without_user_finds_state_in_xdg_runtime_dir() {
    // Rootless podman runs conmon, and so the runtime, as uid 0 of its user namespace with
    // XDG_RUNTIME_DIR set but no USER: runc then keeps state in $XDG_RUNTIME_DIR/runc.
    let user = TestUser::acquire();
    let c = Container::rootless("rl-userns-xdg", &user);
    c.write_config();
    let xdg = user_dir("rl-userns-xdg-run", &user);
    let bundle = c.bundle().path().to_str().unwrap().to_string();
    let id = c.id().to_string();
    let created = run_as_user(&user, &xdg, &[], &["create", "--bundle", &bundle, &id], 1);
    let state = run_as_user(
        &user,
        &xdg,
        &AS_ROOT_OF_A_USER_NAMESPACE,
        &["state", &id],
        2,
    );
    let deleted = run_as_user(&user, &xdg, &[], &["delete", "--force", &id], 3);
    assert!(created.0.success(), "create: {}", created.2);
    assert!(deleted.0.success(), "delete: {}", deleted.2);
    assert!(
        state.0.success(),
        "state in the user namespace: {}",
        state.2
    );
    let state: serde_json::Value = serde_json::from_str(&state.1).unwrap();
    assert_eq!(state["id"], json!(id), "{state}");
    assert_eq!(state["status"], json!("created"), "{state}");
}

#[test]
fn runtime_in_a_user_namespace_runs_a_container_that_asks_for_none() {
    // Rootless podman's configs ask for no user namespace: the container shares the one the
    // runtime runs in (uid 0 of it is the user; setgroups denied, as `unshare` leaves it).
    // There mknod is refused, so devices must be bound from the host, and supplementary
    // groups must not be set.
    let user = TestUser::acquire();
    let mut c = Container::rootless("rl-in-userns", &user);
    c.config()
        .remove(&["linux", "uidMappings"])
        .remove(&["linux", "gidMappings"])
        .remove_namespace("user")
        .sh(
            "id -u; cat /proc/self/uid_map; stat -c '%F %t:%T' /dev/null /dev/zero; \
             echo x >/dev/null && echo null-writable",
        );
    c.write_config();
    let dir = user_dir("rl-in-userns-run", &user);
    let root = dir.join("state");
    let (root, bundle) = (root.to_str().unwrap(), c.bundle().path().to_str().unwrap());
    let id = c.id().to_string();
    let args = ["--root", root, "run", "--bundle", bundle, &id];
    let (status, out, err) = run_as_user(&user, &dir, &AS_ROOT_OF_A_USER_NAMESPACE, &args, 1);
    let _ = run_as_user(
        &user,
        &dir,
        &[],
        &["--root", root, "delete", "--force", &id],
        2,
    );
    assert!(status.success(), "run: {status}\n{out}\n{err}");
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines[0], "0", "{out}");
    let uid_map: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(uid_map, ["0", &user.uid.to_string(), "1"], "{out}");
    assert_eq!(
        &lines[2..],
        [
            "character special file 1:3",
            "character special file 1:5",
            "null-writable"
        ],
        "{out}"
    );
}
