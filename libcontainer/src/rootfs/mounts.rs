//! Step "mounts": the rootfs bind mount and every `mounts[]` entry, in config order.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{Mode, SFlag};
use oci_spec::runtime::{Mount, Spec};

use super::error::{Context, RootfsError, SysError, SysResult};
use super::inroot::{shown, InRoot};
use super::options::{self, MountOptions, Propagation};
use super::procdest::check_proc_destination;
use super::sys::{self, MountAttr};
use super::{cgroup, devices, idmap, tmpfs, PreparedRootfs, RootfsOptions};

/// Mode of directories created for mount points.
pub(super) const DIR_MODE: Mode = Mode::from_bits_truncate(0o755);
/// Mode of empty files created as mount points of bind-mounted files.
pub(super) const FILE_MODE: Mode = Mode::from_bits_truncate(0o644);

/// Mounts made read-only only in `finalize` (config entry, fd of the mount's root).
pub(super) type Deferred = Vec<(String, OwnedFd)>;

/// One `mounts[]` entry being performed.
pub(super) struct Entry<'a> {
    /// Index in `mounts`.
    pub(super) index: usize,
    /// `mounts[i] (destination)`, for error messages.
    pub(super) ctx: String,
    /// The entry itself.
    pub(super) mount: &'a Mount,
    /// Its destination, as written in the config.
    pub(super) dest: &'a Path,
    /// Its type (empty if none was given).
    pub(super) typ: &'a str,
    /// Its parsed options.
    pub(super) opts: MountOptions,
}

impl<'a> Entry<'a> {
    /// `rootfs`: a destination given as a host path inside the rootfs is
    /// taken relative to it (runc's legacy behaviour, which its suite uses).
    pub(super) fn new(index: usize, mount: &'a Mount, rootfs: &Path) -> Self {
        let dest = mount.destination();
        Entry {
            index,
            ctx: format!("mounts[{index}] ({})", dest.display()),
            mount,
            dest: dest.strip_prefix(rootfs).unwrap_or(dest),
            typ: mount.typ().as_deref().unwrap_or(""),
            opts: options::parse(mount.options().as_deref().unwrap_or(&[])),
        }
    }

    pub(super) fn is_bind(&self) -> bool {
        self.opts.bind.is_some() || self.typ == "bind"
    }

    pub(super) fn is_remount(&self) -> bool {
        self.opts.flags.contains(MsFlags::MS_REMOUNT)
    }

    /// `ro` on tmpfs and `/dev` is applied in `finalize`, after mount points
    /// and device nodes have been created inside them (as runc does).
    fn ro_is_deferred(&self) -> bool {
        self.opts.flags.contains(MsFlags::MS_RDONLY)
            && (self.typ == "tmpfs" || clean(self.dest) == Path::new("/dev"))
    }

    /// Attaches this entry's context to a failed syscall.
    pub(super) fn err(&self, syscall: impl Into<String>, errno: Errno) -> RootfsError {
        SysError::new(syscall, shown(self.dest), errno).within(&self.ctx)
    }
}

/// `path` normalised lexically (`..` cannot climb above `/`), as an absolute path.
pub(super) fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// `linux.rootfsPropagation`, if set.
pub(super) fn root_propagation(spec: &Spec) -> Result<Option<Propagation>, RootfsError> {
    let value = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
        .unwrap_or("");
    if value.is_empty() {
        return Ok(None);
    }
    options::propagation_option(value).map(Some).ok_or_else(|| {
        RootfsError::invalid(
            "linux.rootfsPropagation",
            format!("unknown propagation {value:?} (want shared, slave, private, unbindable or their r* forms)"),
        )
    })
}

pub(super) fn mount_all(o: &RootfsOptions<'_>) -> Result<PreparedRootfs, RootfsError> {
    if !o.rootfs.is_absolute() {
        return Err(RootfsError::invalid(
            "root.path",
            format!("{} is not an absolute path", o.rootfs.display()),
        ));
    }
    let propagation = root_propagation(o.spec)?;
    refuse_shared_namespace(Path::new("/proc/self/ns/mnt"), Path::new("/proc/1/ns/mnt"))?;
    prepare_root(o.rootfs, propagation).ctx(|| "rootfs")?;
    let root = InRoot::open(o.rootfs).ctx(|| "rootfs")?;

    let mounts = o.spec.mounts().as_deref().unwrap_or(&[]);
    let entries: Vec<Entry<'_>> = mounts
        .iter()
        .enumerate()
        .map(|(i, m)| Entry::new(i, m, o.rootfs))
        .collect();
    let mut deferred = Deferred::new();
    for e in &entries {
        mount_entry(o, &root, e, &mut deferred)?;
    }
    create_cwd(o.spec, &root)?;

    let setup_dev = !entries
        .iter()
        .any(|e| e.is_bind() && clean(e.dest) == Path::new("/dev"));
    let has_devpts = entries
        .iter()
        .any(|e| e.typ == "devpts" && clean(e.dest) == Path::new("/dev/pts"));
    let host_devices = if o.in_user_ns && setup_dev {
        devices::clone_host_devices(o.spec, has_devpts)?
    } else {
        Vec::new()
    };
    Ok(PreparedRootfs {
        root: root.into_fd(),
        deferred_ro: deferred,
        host_devices,
        setup_dev,
        has_devpts,
    })
}

/// Refuses to touch mounts when `ours` and `init`'s mount namespace are the
/// same (the host's init's: the propagation change alone would affect the
/// whole system). Unreadable links (no permission) are not an error.
pub(super) fn refuse_shared_namespace(ours: &Path, init: &Path) -> Result<(), RootfsError> {
    match (std::fs::read_link(ours), std::fs::read_link(init)) {
        (Ok(a), Ok(b)) if a == b => Err(RootfsError::invalid(
            "rootfs",
            format!(
                "refusing to set up the rootfs in the host's mount namespace ({})",
                a.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// Sets the propagation of `/`, makes the rootfs's parent mount private (so
/// nothing we do propagates out and `pivot_root` accepts it) and bind-mounts
/// the rootfs onto itself so that it is a mount point.
fn prepare_root(rootfs: &Path, propagation: Option<Propagation>) -> SysResult<()> {
    let flags = propagation.map_or(
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        Propagation::mount_flags,
    );
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
        .map_err(|e| SysError::new("mount (set propagation)", "/", e))?;
    make_parent_private(rootfs)?;
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| SysError::new("mount (bind rootfs onto itself)", rootfs, e))
}

/// Makes the mount containing `path` private: EINVAL means "not a mount
/// point", so walk up until a mount point is found.
fn make_parent_private(path: &Path) -> SysResult<()> {
    let mut cur = path;
    loop {
        match mount(
            None::<&str>,
            cur,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        ) {
            Ok(()) => return Ok(()),
            Err(Errno::EINVAL) if cur.parent().is_some() => cur = cur.parent().unwrap_or(cur),
            Err(e) => return Err(SysError::new("mount (make private)", cur, e)),
        }
    }
}

fn mount_entry(
    o: &RootfsOptions<'_>,
    root: &InRoot,
    e: &Entry<'_>,
    deferred: &mut Deferred,
) -> Result<(), RootfsError> {
    if e.dest.as_os_str().is_empty() {
        return Err(RootfsError::invalid(&e.ctx, "the destination is empty"));
    }
    if e.opts.tmpcopyup && e.typ != "tmpfs" {
        return Err(unsupported(e, "tmpcopyup on a mount that is not tmpfs"));
    }
    if idmap_request(e)?.is_some() && !e.is_bind() {
        return Err(unsupported(
            e,
            "id-mapped mounts of anything but bind mounts",
        ));
    }
    if e.is_remount() {
        return remount(root, e);
    }
    if e.is_bind() {
        return bind(o, root, e, deferred);
    }
    match e.typ {
        "" => Err(RootfsError::invalid(
            &e.ctx,
            "a mount needs a type unless its options contain bind or rbind",
        )),
        "cgroup" => cgroup::mount_cgroup(o, root, e, deferred),
        _ => typed(o, root, e, deferred),
    }
}

/// `Some(recursive)` if the entry asks for an id-mapped mount: `idmap`/`ridmap`,
/// or mappings without either option (then not recursive).
fn idmap_request(e: &Entry<'_>) -> Result<Option<bool>, RootfsError> {
    let uid = e.mount.uid_mappings().as_deref().filter(|m| !m.is_empty());
    let gid = e.mount.gid_mappings().as_deref().filter(|m| !m.is_empty());
    let given = e.mount.uid_mappings().is_some() || e.mount.gid_mappings().is_some();
    if (e.opts.idmap.is_some() || given) && (uid.is_none() || gid.is_none()) {
        return Err(RootfsError::invalid(
            &e.ctx,
            "an id-mapped mount needs non-empty uidMappings and gidMappings",
        ));
    }
    Ok(if given {
        Some(e.opts.idmap.unwrap_or(false))
    } else {
        None
    })
}

fn unsupported(e: &Entry<'_>, feature: &str) -> RootfsError {
    RootfsError::Unsupported {
        context: e.ctx.clone(),
        feature: feature.to_string(),
    }
}

/// A fresh filesystem of type `e.typ` (proc, sysfs, tmpfs, devpts, mqueue, anything).
fn typed(
    o: &RootfsOptions<'_>,
    root: &InRoot,
    e: &Entry<'_>,
    deferred: &mut Deferred,
) -> Result<(), RootfsError> {
    let defer_ro = e.ro_is_deferred();
    let mut flags = e.opts.flags;
    if defer_ro {
        flags.remove(MsFlags::MS_RDONLY);
    }
    let data = if e.typ == "tmpfs" {
        tmpfs::data_with_mode(root, e)?
    } else {
        e.opts.data_string()
    };
    super::procdest::check_ordinary_directory(root, e)?;
    let target = root.mkdir_all(e.dest, DIR_MODE).ctx(|| &e.ctx)?;
    check_proc_destination(o, e, target.as_fd(), false)?;
    let source = e
        .mount
        .source()
        .as_deref()
        .map_or(OsStr::new(e.typ), Path::as_os_str);
    let target_path = sys::proc_fd_path(target.as_fd());
    // tmpcopyup: keep a handle on what the tmpfs is about to hide.
    let lower = if e.opts.tmpcopyup {
        Some(
            root.open_with(e.dest, libc::O_RDONLY | libc::O_DIRECTORY)
                .ctx(|| &e.ctx)?,
        )
    } else {
        None
    };
    match mount(
        Some(source),
        &target_path,
        Some(e.typ),
        flags,
        data.as_deref(),
    ) {
        Ok(()) => {}
        Err(Errno::EPERM) if o.in_user_ns && matches!(e.typ, "sysfs" | "mqueue") => {
            // A user namespace may not get a fresh instance (sysfs needs its own
            // network namespace): bind the host's, as runc does.
            let host = if e.typ == "sysfs" {
                "/sys"
            } else {
                "/dev/mqueue"
            };
            let tree = clone_tree(Path::new(host), true).ctx(|| &e.ctx)?;
            attach(tree, &e.opts.bind_attr(), target.as_fd(), e.dest).ctx(|| &e.ctx)?;
        }
        Err(errno) => return Err(e.err(format!("mount {}", e.typ), errno)),
    }
    if let Some(lower) = lower {
        let upper = root
            .open_with(e.dest, libc::O_RDONLY | libc::O_DIRECTORY)
            .ctx(|| &e.ctx)?;
        super::copyup::copy_tree(lower.as_fd(), upper.as_fd(), e.dest).ctx(|| &e.ctx)?;
    }
    finish(root, e, defer_ro, deferred)
}

/// A bind mount of a host path (relative sources are relative to the bundle).
fn bind(
    o: &RootfsOptions<'_>,
    root: &InRoot,
    e: &Entry<'_>,
    deferred: &mut Deferred,
) -> Result<(), RootfsError> {
    let Some(source) = e
        .mount
        .source()
        .as_deref()
        .filter(|s| !s.as_os_str().is_empty())
    else {
        return Err(RootfsError::invalid(&e.ctx, "a bind mount needs a source"));
    };
    let source = o.bundle.join(source);
    let tree = match o.sources.and_then(|s| s.get(e.index)) {
        // Cloned by `create` with the host's credentials (see `sources`).
        Some(cloned) => cloned.map_err(|errno| e.err("dup (cloned bind source)", errno))?,
        None => clone_tree(&source, e.opts.bind == Some(true)).ctx(|| &e.ctx)?,
    };
    if let Some(recursive) = idmap_request(e)? {
        let none: &[_] = &[];
        let uid = e.mount.uid_mappings().as_deref().unwrap_or(none);
        let gid = e.mount.gid_mappings().as_deref().unwrap_or(none);
        let userns = idmap::userns_fd(uid, gid).ctx(|| &e.ctx)?;
        idmap::apply(&tree, recursive, &userns)
            .map_err(|errno| e.err("mount_setattr (idmap)", errno))?;
    }
    let stat = nix::sys::stat::fstat(std::os::fd::AsRawFd::as_raw_fd(&tree))
        .map_err(|errno| SysError::new("fstat", &source, errno))
        .ctx(|| &e.ctx)?;
    let is_dir = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
    let target = if is_dir {
        root.mkdir_all(e.dest, DIR_MODE)
    } else {
        root.ensure_file(e.dest, FILE_MODE)
    }
    .ctx(|| &e.ctx)?;
    let is_procfs = nix::sys::statfs::fstatfs(&tree)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC);
    check_proc_destination(o, e, target.as_fd(), is_procfs)?;

    let defer_ro = e.ro_is_deferred();
    let locked = if o.in_user_ns {
        let st = nix::sys::statvfs::fstatvfs(&tree)
            .map_err(|errno| SysError::new("fstatvfs", &source, errno))
            .ctx(|| &e.ctx)?;
        super::options::lockable_attrs(st.flags())
    } else {
        0
    };
    let mut attr = e.opts.bind_attr_replacing(locked);
    if defer_ro {
        attr.attr_set &= !libc::MOUNT_ATTR_RDONLY;
    }
    attach(tree, &attr, target.as_fd(), e.dest).ctx(|| &e.ctx)?;
    finish(root, e, defer_ro, deferred)
}

/// `remount` in the options: change an existing mount at the destination.
fn remount(root: &InRoot, e: &Entry<'_>) -> Result<(), RootfsError> {
    let target = root.open_path(e.dest).ctx(|| &e.ctx)?;
    let mut flags = e.opts.flags;
    if e.is_bind() {
        flags |= MsFlags::MS_BIND;
    }
    let typ = (!e.typ.is_empty()).then_some(e.typ);
    let data = e.opts.data_string();
    mount(
        e.mount.source().as_deref(),
        &sys::proc_fd_path(target.as_fd()),
        typ,
        flags,
        data.as_deref(),
    )
    .map_err(|errno| e.err("mount (remount)", errno))
}

/// A detached copy of the mount (tree) at host path `source`.
pub(super) fn clone_tree(source: &Path, recursive: bool) -> SysResult<OwnedFd> {
    let mut flags = libc::OPEN_TREE_CLONE;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    sys::open_tree(None, source, flags).map_err(|e| SysError::new("open_tree", source, e))
}

/// Applies `attr` to the detached mount `tree` and attaches it onto `target`.
pub(super) fn attach(
    tree: OwnedFd,
    attr: &MountAttr,
    target: BorrowedFd<'_>,
    dest: &Path,
) -> SysResult<()> {
    if !attr.is_noop() {
        sys::mount_setattr(tree.as_fd(), false, attr)
            .map_err(|e| SysError::new("mount_setattr", shown(dest), e))?;
    }
    sys::move_mount(tree.as_fd(), target).map_err(|e| SysError::new("move_mount", shown(dest), e))
}

/// After the mount: propagation changes, recursive attributes, deferred `ro`.
pub(super) fn finish(
    root: &InRoot,
    e: &Entry<'_>,
    defer_ro: bool,
    deferred: &mut Deferred,
) -> Result<(), RootfsError> {
    let mounted = root.open_path(e.dest).ctx(|| &e.ctx)?;
    for p in &e.opts.propagation {
        let attr = MountAttr {
            propagation: p.kind.bits(),
            ..MountAttr::default()
        };
        sys::mount_setattr(mounted.as_fd(), p.recursive, &attr)
            .map_err(|errno| e.err("mount_setattr (propagation)", errno))?;
    }
    if !e.opts.recursive.is_noop() {
        sys::mount_setattr(mounted.as_fd(), true, &e.opts.recursive)
            .map_err(|errno| e.err("mount_setattr (recursive options)", errno))?;
    }
    if defer_ro {
        deferred.push((e.ctx.clone(), mounted));
    }
    Ok(())
}

/// Creates `process.cwd` inside the rootfs if it is missing.
fn create_cwd(spec: &Spec, root: &InRoot) -> Result<(), RootfsError> {
    let Some(cwd) = spec.process().as_ref().map(|p| p.cwd()) else {
        return Ok(());
    };
    if cwd.as_os_str().is_empty() {
        return Ok(());
    }
    root.mkdir_all(cwd, DIR_MODE)
        .map(drop)
        .ctx(|| format!("process.cwd ({})", cwd.display()))
}
