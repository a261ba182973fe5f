//! Runs a rootfs scenario in a child process with its own mount namespace.
//!
//! The test binary re-executes itself (`child_entry` below) in a new mount
//! namespace (plus, on request, a user namespace mapping root to root and a
//! cgroup namespace), created by `unshare` in `pre_exec` where the forked
//! child is still single-threaded. The child performs the rootfs steps and
//! checks the result from inside; its mounts die with it. The parent then
//! checks that nothing leaked into its own mount namespace.

use std::ffi::CString;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::sched::CloneFlags;
use oci_spec::runtime::Spec;

use crate::rootfs::{self, RootfsError, RootfsOptions};

const ENV_SCENARIO: &str = "KILN_ROOTFS_TEST_SCENARIO";
const ENV_BUNDLE: &str = "KILN_ROOTFS_TEST_BUNDLE";
const ENV_FLAGS: &str = "KILN_ROOTFS_TEST_FLAGS";

/// How the child is isolated and what it tells the rootfs code.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ns {
    /// New user namespace (root mapped to root); `in_user_ns` is set.
    pub(crate) user: bool,
    /// New cgroup namespace; `new_cgroup_ns` is set.
    pub(crate) cgroup: bool,
    /// Use `--no-pivot`.
    pub(crate) no_pivot: bool,
}

impl Ns {
    fn encode(self) -> String {
        format!(
            "{}{}{}",
            u8::from(self.user),
            u8::from(self.cgroup),
            u8::from(self.no_pivot)
        )
    }

    fn decode(s: &str) -> Self {
        let b = s.as_bytes();
        Ns {
            user: b.first() == Some(&b'1'),
            cgroup: b.get(1) == Some(&b'1'),
            no_pivot: b.get(2) == Some(&b'1'),
        }
    }
}

/// A busybox bundle (made by `/work/shared/tools/mkbundle`) in a temp dir.
pub(crate) struct Bundle {
    dir: tempfile::TempDir,
    /// The config; edit it, then [`run`] saves it.
    pub(crate) spec: Spec,
}

impl Bundle {
    /// Replaces the config's mounts below /dev by one recursive bind of `source` on /dev.
    pub(crate) fn bind_dev_from(&mut self, source: &str) {
        let mut mounts: Vec<_> = self
            .spec
            .mounts()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|m| !m.destination().starts_with("/dev"))
            .collect();
        mounts.push(
            oci_spec::runtime::MountBuilder::default()
                .destination("/dev")
                .source(source)
                .options(vec!["rbind".to_string()])
                .build()
                .expect("mount"),
        );
        self.spec.set_mounts(Some(mounts));
    }

    /// A fresh bundle with the default (runc spec) config.
    pub(crate) fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("kiln-rootfs-test")
            .tempdir()
            .expect("temp dir");
        let status = Command::new("/work/shared/tools/mkbundle")
            .arg(dir.path())
            .status()
            .expect("run mkbundle");
        assert!(status.success(), "mkbundle failed");
        let text = std::fs::read_to_string(dir.path().join("config.json")).expect("config.json");
        let spec = serde_json::from_str(&text).expect("valid config.json");
        Bundle { dir, spec }
    }

    /// The bundle directory (canonical).
    pub(crate) fn path(&self) -> PathBuf {
        self.dir
            .path()
            .canonicalize()
            .expect("canonical bundle path")
    }

    /// The rootfs directory (canonical).
    pub(crate) fn rootfs(&self) -> PathBuf {
        self.path().join("rootfs")
    }

    fn save(&self) {
        let text = serde_json::to_string_pretty(&self.spec).expect("serialize spec");
        std::fs::write(self.dir.path().join("config.json"), text).expect("write config.json");
    }
}

/// Whether root tests can run here.
pub(crate) fn is_root() -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        eprintln!("skipping: rootfs tests need root");
    }
    root
}

/// Writes `data` to `path` with raw syscalls (usable between fork and exec).
fn write_file(path: &CString, data: &[u8]) -> io::Result<()> {
    // SAFETY: `path` is a valid NUL-terminated string; open has no other preconditions.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `data` is a valid buffer of `data.len()` bytes; `fd` is ours.
    let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    let err = io::Error::last_os_error();
    // SAFETY: `fd` was opened above and is closed exactly once.
    unsafe { libc::close(fd) };
    if usize::try_from(n).ok() == Some(data.len()) {
        Ok(())
    } else {
        Err(err)
    }
}

/// Runs scenario `name` (see `SCENARIOS` in `tests/mod.rs`) in a child with
/// its own namespaces; panics with the child's output if it fails, and checks
/// that no mount of the bundle leaked into this process's namespace.
pub(crate) fn run(name: &str, bundle: &Bundle, ns: Ns) {
    bundle.save();
    let exe = std::env::current_exe().expect("current exe");
    let module = module_path!();
    let test_path = module.split_once("::").map_or(module, |(_, rest)| rest);
    let mut cmd = Command::new(exe);
    cmd.args([
        &format!("{test_path}::child_entry"),
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(ENV_SCENARIO, name)
    .env(ENV_BUNDLE, bundle.path())
    .env(ENV_FLAGS, ns.encode());
    let mut flags = CloneFlags::CLONE_NEWNS;
    if ns.user {
        flags |= CloneFlags::CLONE_NEWUSER;
    }
    if ns.cgroup {
        flags |= CloneFlags::CLONE_NEWCGROUP;
    }
    let files = [
        (CString::from(c"/proc/self/setgroups"), b"deny".as_slice()),
        (CString::from(c"/proc/self/uid_map"), b"0 0 1".as_slice()),
        (CString::from(c"/proc/self/gid_map"), b"0 0 1".as_slice()),
    ];
    let user = ns.user;
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls (unshare, open, write, close) on data
    // allocated before the fork.
    unsafe {
        cmd.pre_exec(move || {
            nix::sched::unshare(flags).map_err(io::Error::from)?;
            if user {
                for (path, data) in &files {
                    write_file(path, data)?;
                }
            }
            Ok(())
        });
    }
    let out = cmd.output().expect("spawn child test process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "scenario {name} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    let leaked: Vec<_> = crate::rootfs::mountinfo::read_self("test")
        .expect("mountinfo")
        .into_iter()
        .filter(|m| m.mount_point.starts_with(bundle.path()))
        .collect();
    assert!(
        leaked.is_empty(),
        "mounts leaked into the host namespace: {leaked:?}"
    );
}

/// What a scenario gets in the child.
pub(crate) struct Child {
    /// The bundle's config.
    pub(crate) spec: Spec,
    /// The bundle directory.
    pub(crate) bundle: PathBuf,
    /// The rootfs (canonical host path).
    pub(crate) rootfs: PathBuf,
    /// The namespaces the child is in.
    pub(crate) ns: Ns,
}

impl Child {
    /// The options for the rootfs steps.
    pub(crate) fn opts(&self) -> RootfsOptions<'_> {
        RootfsOptions {
            spec: &self.spec,
            rootfs: &self.rootfs,
            bundle: &self.bundle,
            in_user_ns: self.ns.user,
            new_cgroup_ns: self.ns.cgroup,
            no_pivot: self.ns.no_pivot,
            sources: None,
        }
    }

    /// Runs all four steps.
    pub(crate) fn run_all(&self) -> Result<(), RootfsError> {
        let o = self.opts();
        let mut p = rootfs::mount_all(&o)?;
        rootfs::pivot_root(&o, &mut p)?;
        rootfs::create_devices(&o, &mut p)?;
        rootfs::finalize(&o, p)
    }
}

/// The entry point of the child process; does nothing in a normal test run.
#[test]
fn child_entry() {
    let Ok(name) = std::env::var(ENV_SCENARIO) else {
        return;
    };
    let bundle = PathBuf::from(std::env::var(ENV_BUNDLE).expect("bundle env"));
    let ns = Ns::decode(&std::env::var(ENV_FLAGS).unwrap_or_default());
    let text = std::fs::read_to_string(bundle.join("config.json")).expect("config.json");
    let child = Child {
        spec: serde_json::from_str(&text).expect("valid config.json"),
        rootfs: bundle.join("rootfs"),
        bundle,
        ns,
    };
    let scenario = super::SCENARIOS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("unknown scenario {name}"));
    (scenario.1)(&child);
}

/// The mount table as the child now sees it.
pub(crate) fn mounts() -> Vec<crate::rootfs::mountinfo::MountInfo> {
    crate::rootfs::mountinfo::read_self("test").expect("read mountinfo")
}

/// The topmost mount at `path`.
pub(crate) fn mount_at(path: &str) -> crate::rootfs::mountinfo::MountInfo {
    mounts()
        .into_iter()
        .rev()
        .find(|m| m.mount_point == Path::new(path))
        .unwrap_or_else(|| panic!("nothing is mounted at {path}: {:#?}", mounts()))
}

/// Whether something is mounted at `path`.
pub(crate) fn is_mounted(path: &Path) -> bool {
    mounts().iter().any(|m| m.mount_point == path)
}

/// The errno of opening `path` with `flags` (`None` if it opened).
pub(crate) fn open_errno(path: &str, flags: libc::c_int) -> Option<nix::errno::Errno> {
    nix::fcntl::open(
        path,
        nix::fcntl::OFlag::from_bits_retain(flags),
        nix::sys::stat::Mode::empty(),
    )
    .map(|fd| {
        let _ = nix::unistd::close(fd);
    })
    .err()
}
