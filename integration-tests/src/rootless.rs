//! An unprivileged account for rootless tests, and the rootless config runc's `spec --rootless`
//! makes.
//!
//! [`TestUser::acquire`] makes the account `kiln-it-rl` (no home, no login shell) the first
//! time a test of this process needs it, and removes it again when the last user of it is
//! dropped (also when the test failed); [`TestUser::subids`] likewise grants it a subordinate
//! id range in /etc/subuid and /etc/subgid. An account left by a killed test run is reused
//! and then removed.

use std::process::Command;
use std::sync::Mutex;

use serde_json::json;

use crate::config::Config;

/// Name of the test account.
pub const NAME: &str = "kiln-it-rl";
/// First id of its subordinate range (and its length): clear of the ranges `useradd` hands
/// out (100000 + 65536·k) and of runc's rootless suite (100000).
pub const SUBID_START: u32 = 1_900_000;
/// Length of the subordinate range.
pub const SUBID_COUNT: u32 = 65536;

static USERS: Mutex<usize> = Mutex::new(0);

/// The unprivileged test account, held while a test uses it.
#[derive(Debug)]
pub struct TestUser {
    /// Its uid.
    pub uid: u32,
    /// Its primary gid.
    pub gid: u32,
}

impl TestUser {
    /// The account, made if this is its first holder. Where accounts cannot be made (the
    /// cgroup v2 VM has no `useradd`), a bare uid/gid without account or subordinate ids:
    /// enough for a single-id mapping.
    #[track_caller]
    pub fn acquire() -> TestUser {
        let mut users = USERS.lock().unwrap_or_else(|e| e.into_inner());
        if !has_useradd() {
            *users += 1;
            return TestUser {
                uid: BARE_ID,
                gid: BARE_ID,
            };
        }
        if *users == 0 {
            setup().unwrap_or_else(|e| panic!("setting up user {NAME}: {e}"));
        }
        *users += 1;
        let (uid, gid) = ids().unwrap_or_else(|| panic!("user {NAME} has no passwd entry"));
        TestUser { uid, gid }
    }

    /// `hostID` of its subordinate range.
    pub fn subid_start(&self) -> u32 {
        SUBID_START
    }

    /// Grants the account its subordinate range ([`SUBID_START`], [`SUBID_COUNT`]) in
    /// /etc/subuid and /etc/subgid while the returned guard lives.
    /// Holds [`ROOTLESS_LOCK`] meanwhile: runc's rootless suite edits those files and moves
    /// newuidmap away while it runs.
    #[track_caller]
    pub fn subids(&self) -> SubIds {
        let mut holders = SUBIDS.lock().unwrap_or_else(|e| e.into_inner());
        if holders.0 == 0 {
            let file = std::fs::File::create(ROOTLESS_LOCK)
                .unwrap_or_else(|e| panic!("{ROOTLESS_LOCK}: {e}"));
            let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
                .unwrap_or_else(|(_, e)| panic!("flock {ROOTLESS_LOCK}: {e}"));
            set_subids(true).unwrap_or_else(|e| panic!("subordinate ids of {NAME}: {e}"));
            holders.1 = Some(lock);
        }
        holders.0 += 1;
        SubIds(())
    }
}

/// The lock every user of /etc/subuid, /etc/subgid and newuidmap on this machine takes (the
/// Makefile's rootless suite run holds it too).
pub const ROOTLESS_LOCK: &str = "/tmp/kiln-rootless.lock";

static SUBIDS: Mutex<(usize, Option<nix::fcntl::Flock<std::fs::File>>)> = Mutex::new((0, None));

/// The account's lines in /etc/subuid and /etc/subgid, removed when the last guard is dropped.
#[derive(Debug)]
pub struct SubIds(());

impl Drop for SubIds {
    fn drop(&mut self) {
        let mut holders = SUBIDS.lock().unwrap_or_else(|e| e.into_inner());
        holders.0 = holders.0.saturating_sub(1);
        if holders.0 == 0 {
            if let Err(e) = set_subids(false) {
                eprintln!("removing the subordinate ids of {NAME}: {e}");
            }
            holders.1 = None;
        }
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let mut users = USERS.lock().unwrap_or_else(|e| e.into_inner());
        *users = users.saturating_sub(1);
        if *users == 0 && has_useradd() {
            if let Err(e) = teardown() {
                eprintln!("removing user {NAME}: {e}");
            }
        }
    }
}

/// The uid/gid used where no account can be made.
const BARE_ID: u32 = 2990;

fn has_useradd() -> bool {
    ["/usr/sbin/useradd", "/sbin/useradd"]
        .iter()
        .any(|p| std::path::Path::new(p).exists())
}

fn ids() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&NAME))
            .then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))?
    })
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn subid_line() -> String {
    format!("{NAME}:{SUBID_START}:{SUBID_COUNT}")
}

fn setup() -> Result<(), String> {
    if ids().is_none() {
        // A system account: useradd gives it no subordinate ids of its own.
        run(Command::new("useradd").args([
            "--system",
            "--no-create-home",
            "--user-group",
            "--shell",
            "/usr/sbin/nologin",
            NAME,
        ]))?;
    }
    Ok(())
}

/// Adds (`true`) or removes the account's lines in /etc/subuid and /etc/subgid.
fn set_subids(present: bool) -> Result<(), String> {
    for file in ["/etc/subuid", "/etc/subgid"] {
        edit(file, |lines| {
            lines.retain(|l| !l.starts_with(&format!("{NAME}:")));
            if present {
                lines.push(subid_line());
            }
        })?;
    }
    Ok(())
}

fn teardown() -> Result<(), String> {
    if ids().is_some() {
        run(Command::new("userdel").arg(NAME))?;
    }
    Ok(())
}

/// Rewrites `file` line by line (a missing file is empty); keeps its mode.
fn edit(file: &str, f: impl FnOnce(&mut Vec<String>)) -> Result<(), String> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("read {file}: {e}")),
    };
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    f(&mut lines);
    let mut out = lines.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    std::fs::write(file, out).map_err(|e| format!("write {file}: {e}"))
}

/// runc's `spec --rootless` changes to a config, for `uid`/`gid`: a user namespace mapping
/// them to 0, no network namespace, /sys bound from the host read-only, no `gid=` option on
/// /dev/pts, no resources.
pub fn make_rootless(config: &mut Config, uid: u32, gid: u32) {
    let v = config.value_mut();
    if let Some(linux) = v["linux"].as_object_mut() {
        linux.remove("resources");
        linux.remove("cgroupsPath");
        linux.insert(
            "uidMappings".into(),
            json!([{"containerID": 0, "hostID": uid, "size": 1}]),
        );
        linux.insert(
            "gidMappings".into(),
            json!([{"containerID": 0, "hostID": gid, "size": 1}]),
        );
    }
    if let Some(ns) = v["linux"]["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network" && n["type"] != "user");
        ns.push(json!({"type": "user"}));
    }
    if let Some(mounts) = v["mounts"].as_array_mut() {
        for m in mounts.iter_mut() {
            if m["destination"] == "/sys" {
                *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
            }
            if let Some(opts) = m["options"].as_array_mut() {
                opts.retain(|o| !o.as_str().is_some_and(|s| s.starts_with("gid=")));
            }
        }
    }
}

/// A cgroup v2 subtree delegated to a user, as systemd's `Delegate=yes` or runc's rootless
/// test set-up makes one: `/sys/fs/cgroup/<name>` whose directory, `cgroup.procs`,
/// `cgroup.subtree_control` and `cgroup.threads` the user owns, the memory and pids controllers
/// available, and a `launcher` leaf the user's processes start in (a cgroup with processes
/// cannot pass controllers on). Removed on drop, with anything still running in it killed.
#[derive(Debug)]
pub struct DelegatedV2 {
    name: String,
    dir: std::path::PathBuf,
}

impl DelegatedV2 {
    /// Makes it for `user`.
    #[track_caller]
    pub fn new(user: &TestUser) -> DelegatedV2 {
        let name = crate::unique_id("kiln-it-deleg");
        let root = std::path::Path::new("/sys/fs/cgroup");
        let dir = root.join(&name);
        let d = DelegatedV2 { name, dir };
        let enable = |dir: &std::path::Path| {
            for c in ["+memory", "+pids"] {
                std::fs::write(dir.join("cgroup.subtree_control"), c)
                    .unwrap_or_else(|e| panic!("{c} in {}: {e}", dir.display()));
            }
        };
        enable(root);
        std::fs::create_dir(&d.dir).unwrap_or_else(|e| panic!("{}: {e}", d.dir.display()));
        let launcher = d.launcher();
        std::fs::create_dir(&launcher).unwrap_or_else(|e| panic!("{}: {e}", launcher.display()));
        for dir in [&d.dir, &launcher] {
            for f in [
                "",
                "cgroup.procs",
                "cgroup.subtree_control",
                "cgroup.threads",
            ] {
                let p = dir.join(f);
                std::os::unix::fs::chown(&p, Some(user.uid), Some(user.gid))
                    .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
            }
        }
        d
    }

    /// Its path below the cgroup root, for `linux.cgroupsPath` (`/<name>`).
    pub fn cgroups_path(&self) -> String {
        format!("/{}", self.name)
    }

    /// Its directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The leaf the user's processes start in.
    pub fn launcher(&self) -> std::path::PathBuf {
        self.dir.join("launcher")
    }
}

impl Drop for DelegatedV2 {
    fn drop(&mut self) {
        // Depth first: kill what is left in each cgroup (cgroup.kill), then remove it.
        fn remove(dir: &std::path::Path) {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        remove(&e.path());
                    }
                }
            }
            // cgroup.kill exists since Linux 5.14; an empty cgroup needs nothing.
            if std::fs::write(dir.join("cgroup.kill"), "1").is_ok() {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            for _ in 0..100 {
                match std::fs::remove_dir(dir) {
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                        std::thread::sleep(std::time::Duration::from_millis(20))
                    }
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        eprintln!("warning: rmdir {}: {e}", dir.display());
                        return;
                    }
                    _ => return,
                }
            }
        }
        remove(&self.dir);
    }
}
