//! Regression tests for CVEs where symlinks in the image (static or swapped in while the
//! runtime works) led mounts or created files out of the rootfs, or put /proc where the runtime
//! did not expect it. Each fails on a runtime vulnerable to the CVE in its name (see cve.rs).

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use kiln_integration_tests::mountinfo::host_mounts_under;
use kiln_integration_tests::{Canary, Container, ScratchDir};

#[test]
fn cve_2021_30465_mount_destination_symlink_to_the_host_stays_in_the_rootfs() {
    let canary = Canary::new("evil").expect("canary");
    let payload = ScratchDir::new("payload").expect("payload");
    std::fs::write(payload.join("file"), "payload\n").expect("payload file");
    let file = payload.join("file").to_string_lossy().into_owned();
    let mut c = Container::new("symlink");
    symlink(canary.path(), c.rootfs().join("evil")).expect("symlink");
    // Mount points below the link: a runtime following it creates them on the host.
    c.config()
        .mount("/evil/sub", "tmpfs", "tmpfs", &["size=1m"])
        .bind(&file, "/evil/file", false, &["ro"])
        .sh("touch /evil/pwned");
    // Refusing the config is acceptable; following the link out of the rootfs is not.
    if c.create_with(&[]).success() {
        canary.assert_untouched();
        let pid = c.pid();
        c.start();
        Container::wait_pid(pid);
    }
    canary.assert_untouched();
}

/// A thread that swaps two directory entries (RENAME_EXCHANGE) until dropped.
struct Swapper {
    stop: Arc<AtomicBool>,
    swaps: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Swapper {
    fn start(a: PathBuf, b: PathBuf) -> Swapper {
        let stop = Arc::new(AtomicBool::new(false));
        let swaps = Arc::new(AtomicU64::new(0));
        let (s, n) = (stop.clone(), swaps.clone());
        let thread = std::thread::spawn(move || {
            use nix::fcntl::{renameat2, RenameFlags};
            while !s.load(Ordering::Relaxed) {
                renameat2(None, &a, None, &b, RenameFlags::RENAME_EXCHANGE).expect("swap");
                n.fetch_add(1, Ordering::Relaxed);
            }
        });
        Swapper {
            stop,
            swaps,
            thread: Some(thread),
        }
    }

    fn swaps(&self) -> u64 {
        self.swaps.load(Ordering::Relaxed)
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How many times `create` runs against the swapping destination.
const ROUNDS: usize = 40;

#[test]
fn cve_2021_30465_racing_mount_destination_swaps_never_reach_the_host() {
    // runc < 1.0.0-rc95 resolved a mount destination, then mounted on the path: a container
    // sharing a volume with the rootfs swapped a directory on the way for a symlink to the
    // host in between. Here a thread flips /race/dest between a directory and a symlink to a
    // host directory while `create` makes a directory, a file and two mounts below it.
    let canary = Canary::new("race").expect("canary");
    let payload = ScratchDir::new("payload").expect("payload");
    std::fs::write(payload.join("file"), "payload\n").expect("payload file");
    let mut c = Container::new("race");
    let race = c.rootfs().join("race");
    std::fs::create_dir_all(race.join("dest")).expect("mkdir race/dest");
    symlink(canary.path(), race.join("link")).expect("symlink race/link");
    let file = payload.join("file").to_string_lossy().into_owned();
    c.config()
        .mount("/race/dest/sub", "tmpfs", "tmpfs", &["size=1m"])
        .bind(&file, "/race/dest/file", false, &["ro"])
        .args(&["true"]);
    let bundle = c.bundle().path().to_path_buf();
    let swapper = Swapper::start(race.join("dest"), race.join("link"));
    let mut created = 0;
    for round in 0..ROUNDS {
        let out = c.create_with(&[]);
        canary.assert_untouched();
        for dir in [bundle.as_path(), payload.path()] {
            let mounted = host_mounts_under(dir).expect("mountinfo");
            assert!(mounted.is_empty(), "round {round}: host mounts {mounted:?}");
        }
        if out.success() {
            created += 1;
            c.delete(true).expect_success();
        }
        c.assert_nothing_left();
    }
    let swaps = swapper.swaps();
    drop(swapper);
    assert!(
        swaps > ROUNDS as u64,
        "the destination was swapped {swaps} times"
    );
    println!("{created} of {ROUNDS} creates succeeded while {swaps} swaps happened");
    canary.assert_untouched();
}

/// Replaces `<rootfs>/<name>` (an empty directory) with a symlink to `target`.
fn replace_with_symlink(rootfs: &Path, name: &str, target: &Path) {
    let path = rootfs.join(name);
    std::fs::remove_dir(&path).expect("rmdir");
    symlink(target, &path).expect("symlink");
}

#[test]
fn cve_2023_27561_proc_on_a_symlink_in_the_rootfs_is_refused() {
    // CVE-2019-19921, reintroduced in runc 1.0.0-rc93 as CVE-2023-27561: a /proc that is a
    // symlink (here to another directory of the image) got procfs mounted elsewhere, and the
    // runtime's later writes to /proc/self/attr (LSM labels) went to a plain directory.
    let mut c = Container::new("procsym");
    let rootfs = c.rootfs();
    std::fs::create_dir(rootfs.join("fakeproc")).expect("mkdir");
    replace_with_symlink(&rootfs, "proc", Path::new("fakeproc"));
    let out = c.create_with(&[]).expect_failure();
    assert!(
        out.stderr.contains("must be mounted on ordinary directory"),
        "{}",
        out.describe()
    );
    let left: Vec<_> = std::fs::read_dir(rootfs.join("fakeproc"))
        .expect("read fakeproc")
        .collect();
    assert!(left.is_empty(), "created in the symlink's target: {left:?}");
    c.assert_nothing_left();
}

#[test]
fn cve_2023_28642_proc_and_sys_on_symlinks_to_the_host_are_refused() {
    // runc < 1.1.5: /proc (and /sys) as a symlink to somewhere else, here a host directory,
    // bypassed the AppArmor/SELinux labels runc wrote through /proc.
    for name in ["proc", "sys"] {
        let canary = Canary::new("procsym").expect("canary");
        let mut c = Container::new("procsymhost");
        replace_with_symlink(&c.rootfs(), name, canary.path());
        let out = c.create_with(&[]).expect_failure();
        assert!(
            out.stderr.contains("must be mounted on ordinary directory"),
            "/{name}: {}",
            out.describe()
        );
        canary.assert_untouched();
        c.assert_nothing_left();
    }
}
