//! Step "devices": the default devices, `linux.devices`, and the `/dev` symlinks.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{LinuxDeviceType, Spec};

use super::error::{Context, RootfsError, SysError};
use super::inroot::{shown, InRoot};
use super::mounts::{clean, clone_tree, FILE_MODE};
use super::{sys, PreparedRootfs, RootfsOptions};

/// A device node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Device {
    /// The config entry, for error messages.
    ctx: String,
    /// Path inside the container (also the host path bound in a user namespace).
    path: PathBuf,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
}

/// The devices every container gets (config-linux.md "Default Devices").
const DEFAULTS: &[(&str, u64, u64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// Symlinks created in `/dev` (name, target).
const LINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// The kernel's limits for device numbers (12-bit major, 20-bit minor).
const MAX_MAJOR: i64 = (1 << 12) - 1;
const MAX_MINOR: i64 = (1 << 20) - 1;

/// `linux.devices` validated, followed by the default devices the config does not override.
fn device_list(spec: &Spec) -> Result<Vec<Device>, RootfsError> {
    let configured = spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_deref())
        .unwrap_or(&[]);
    let mut out = Vec::new();
    for (i, d) in configured.iter().enumerate() {
        let ctx = format!("linux.devices[{i}] ({})", d.path().display());
        if d.path().as_os_str().is_empty() {
            return Err(RootfsError::invalid(ctx, "the device path is empty"));
        }
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(RootfsError::invalid(
                    ctx,
                    "type \"a\" is not a device node type (want c, b, u or p)",
                ))
            }
        };
        let (major, minor) = (d.major(), d.minor());
        if !(0..=MAX_MAJOR).contains(&major) || !(0..=MAX_MINOR).contains(&minor) {
            return Err(RootfsError::invalid(
                ctx,
                format!("device number {major}:{minor} is out of range (major 0-{MAX_MAJOR}, minor 0-{MAX_MINOR})"),
            ));
        }
        out.push(Device {
            ctx,
            path: clean(d.path()),
            kind,
            major: major.unsigned_abs(),
            minor: minor.unsigned_abs(),
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    for &(path, major, minor) in DEFAULTS {
        if out.iter().any(|d| d.path == Path::new(path)) {
            continue;
        }
        out.push(Device {
            ctx: format!("default device {path}"),
            path: PathBuf::from(path),
            kind: SFlag::S_IFCHR,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        });
    }
    Ok(out)
}

/// In a user namespace, `mknod` is not allowed: clone the host's device nodes
/// now (before `pivot_root` hides the host) so they can be bound in later.
pub(super) fn clone_host_devices(
    spec: &Spec,
    has_devpts: bool,
) -> Result<Vec<(PathBuf, OwnedFd)>, RootfsError> {
    device_list(spec)?
        .into_iter()
        .filter(|d| !(has_devpts && is_ptmx(d)))
        .map(|d| {
            let tree = clone_tree(&d.path, false).ctx(|| &d.ctx)?;
            Ok((d.path, tree))
        })
        .collect()
}

/// `/dev/ptmx`, which becomes a link to the devpts' own `ptmx` when there is one (below).
fn is_ptmx(d: &Device) -> bool {
    d.path == Path::new("/dev/ptmx")
}

/// Restores the umask when dropped.
struct UmaskGuard(Mode);

impl Drop for UmaskGuard {
    fn drop(&mut self) {
        nix::sys::stat::umask(self.0);
    }
}

pub(super) fn create_devices(
    o: &RootfsOptions<'_>,
    p: &mut PreparedRootfs,
) -> Result<(), RootfsError> {
    if !p.setup_dev {
        return Ok(());
    }
    let _umask = UmaskGuard(nix::sys::stat::umask(Mode::empty()));
    let root = InRoot::open(Path::new("/")).ctx(|| "devices")?;
    let devices = device_list(o.spec)?;
    if o.in_user_ns {
        for (path, tree) in p.host_devices.drain(..) {
            let target = root
                .ensure_file(&path, FILE_MODE)
                .ctx(|| format!("device {}", path.display()))?;
            sys::move_mount(tree.as_fd(), target.as_fd())
                .map_err(|e| SysError::new("move_mount (bind host device)", &path, e))
                .ctx(|| format!("device {}", path.display()))?;
        }
    } else {
        for d in devices.iter().filter(|d| !(p.has_devpts && is_ptmx(d))) {
            mknod(&root, d).ctx(|| &d.ctx)?;
        }
    }
    let dev = root
        .mkdir_all(Path::new("/dev"), Mode::from_bits_truncate(0o755))
        .ctx(|| "devices")?;
    let mut links: Vec<(&str, &str)> = LINKS.to_vec();
    if root.open_path(Path::new("/proc/kcore")).is_ok() {
        links.push(("core", "/proc/kcore"));
    }
    for (name, target) in links {
        symlink(&dev, name, target)?;
    }
    // As runc: with a devpts, /dev/ptmx is its `ptmx` even when linux.devices lists a ptmx
    // node (a host ptmx node would open the host's devpts instance, or nothing at all when
    // bound into a user namespace).
    if p.has_devpts {
        match nix::unistd::unlinkat(
            Some(dev.as_raw_fd()),
            "ptmx",
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        ) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(SysError::new("unlinkat", "/dev/ptmx", e).within("devices")),
        }
        symlink(&dev, "ptmx", "pts/ptmx")?;
    }
    Ok(())
}

/// `mknod` + `chown` of one device. An existing node is left alone when it is
/// the same device (a default device also listed in the config); anything else
/// at the path is an error (config-linux.md, Devices: MUST).
fn mknod(root: &InRoot, d: &Device) -> Result<(), SysError> {
    let (parent, name) = root.mkdir_parent(&d.path)?;
    let dev = libc::makedev(d.major as libc::c_uint, d.minor as libc::c_uint);
    let mode = Mode::from_bits_truncate(d.mode);
    match nix::sys::stat::mknodat(Some(parent.as_raw_fd()), name, d.kind, mode, dev) {
        Ok(()) => {}
        Err(Errno::EEXIST) => {
            let st = nix::sys::stat::fstatat(
                Some(parent.as_raw_fd()),
                name,
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| SysError::new("fstatat", shown(&d.path), e))?;
            let same_kind = st.st_mode & libc::S_IFMT == d.kind.bits();
            let same_dev = d.kind == SFlag::S_IFIFO || st.st_rdev == dev;
            return if same_kind && same_dev {
                Ok(())
            } else {
                // EEXIST: a different file is already there.
                Err(SysError::new(
                    "exists and is not the requested device",
                    shown(&d.path),
                    Errno::EEXIST,
                ))
            };
        }
        Err(e) => return Err(SysError::new("mknodat", shown(&d.path), e)),
    }
    nix::unistd::fchownat(
        Some(parent.as_raw_fd()),
        name,
        Some(Uid::from_raw(d.uid)),
        Some(Gid::from_raw(d.gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|e| SysError::new("fchownat", shown(&d.path), e))
}

fn symlink(dev: &OwnedFd, name: &str, target: &str) -> Result<(), RootfsError> {
    match nix::unistd::symlinkat(target, Some(dev.as_raw_fd()), name) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(e) => {
            Err(SysError::new("symlinkat", Path::new("/dev").join(name), e).within("devices"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with_devices(json: &str) -> Spec {
        let text = format!(r#"{{"ociVersion":"1.0.2","linux":{{"devices":{json}}}}}"#);
        serde_json::from_str(&text).expect("valid spec")
    }

    #[test]
    fn defaults_are_added_unless_overridden() {
        let spec = spec_with_devices(
            r#"[{"path":"/dev/null","type":"c","major":1,"minor":3,"fileMode":384,"uid":5},
               {"path":"/dev/./fuse/../fuse","type":"c","major":10,"minor":229}]"#,
        );
        let list = device_list(&spec).expect("valid devices");
        assert_eq!(list.len(), 2 + DEFAULTS.len() - 1);
        assert_eq!((list[0].mode, list[0].uid), (0o600, 5));
        assert_eq!(list[1].path, PathBuf::from("/dev/fuse"));
        assert_eq!(list[1].mode, 0o666);
        assert!(
            list.iter()
                .filter(|d| d.path == Path::new("/dev/null"))
                .count()
                == 1
        );
        assert!(list
            .iter()
            .any(|d| d.path == Path::new("/dev/tty") && d.major == 5));
    }

    #[test]
    fn bad_devices_are_rejected_with_their_index() {
        for bad in [
            r#"[{"path":"/dev/x","type":"a"}]"#,
            r#"[{"path":"/dev/x","type":"c","major":-1,"minor":0}]"#,
            r#"[{"path":"/dev/x","type":"b","major":4096,"minor":0}]"#,
            r#"[{"path":"","type":"c","major":1,"minor":3}]"#,
        ] {
            let err = device_list(&spec_with_devices(bad)).expect_err(bad);
            assert!(err.to_string().starts_with("linux.devices[0]"), "{err}");
        }
    }
}
