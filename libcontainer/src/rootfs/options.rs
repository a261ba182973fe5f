//! Parsing of `mounts[].options` (fstab-style words) into what the kernel
//! wants: `MS_*` flags for `mount(2)`, propagation changes, recursive
//! `mount_setattr(2)` attributes, and the filesystem-specific data string.

use nix::mount::MsFlags;

use super::sys::MountAttr;

/// What one `mounts[]` entry's options ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountOptions {
    /// Flags turned on (`ro`, `nosuid`, `noatime`, `remount`, ...).
    pub(crate) flags: MsFlags,
    /// Flags explicitly turned off (`rw`, `suid`, `dev`, `atime`, ...).
    pub(crate) cleared: MsFlags,
    /// `Some(recursive)` for `bind` / `rbind`.
    pub(crate) bind: Option<bool>,
    /// Propagation changes (`shared`, `rslave`, ...) in config order.
    pub(crate) propagation: Vec<Propagation>,
    /// Attributes applied to the whole mount tree (`rro`, `rnosuid`, ...).
    pub(crate) recursive: MountAttr,
    /// `Some(recursive)` for `idmap` / `ridmap`.
    pub(crate) idmap: Option<bool>,
    /// `tmpcopyup` (a runc extension) was given.
    pub(crate) tmpcopyup: bool,
    /// Filesystem-specific options, passed to the filesystem as `mount(2)` data.
    pub(crate) data: Vec<String>,
}

impl Default for MountOptions {
    fn default() -> Self {
        Self {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            bind: None,
            propagation: Vec::new(),
            recursive: MountAttr::default(),
            idmap: None,
            tmpcopyup: false,
            data: Vec::new(),
        }
    }
}

/// A change of mount propagation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Propagation {
    /// `MS_SHARED`, `MS_SLAVE`, `MS_PRIVATE` or `MS_UNBINDABLE`.
    pub(crate) kind: MsFlags,
    /// Whether it applies to the whole mount tree (`r*`).
    pub(crate) recursive: bool,
}

impl Propagation {
    /// The flags for `mount(NULL, target, NULL, flags, NULL)`.
    pub(crate) fn mount_flags(self) -> MsFlags {
        if self.recursive {
            self.kind | MsFlags::MS_REC
        } else {
            self.kind
        }
    }
}

/// The `mount(2)` flag an option word turns on (`true`) or off (`false`).
fn flag_option(word: &str) -> Option<(bool, MsFlags)> {
    let nosymfollow = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);
    Some(match word {
        "defaults" => (true, MsFlags::empty()),
        "ro" => (true, MsFlags::MS_RDONLY),
        "rw" => (false, MsFlags::MS_RDONLY),
        "nosuid" => (true, MsFlags::MS_NOSUID),
        "suid" => (false, MsFlags::MS_NOSUID),
        "nodev" => (true, MsFlags::MS_NODEV),
        "dev" => (false, MsFlags::MS_NODEV),
        "noexec" => (true, MsFlags::MS_NOEXEC),
        "exec" => (false, MsFlags::MS_NOEXEC),
        "sync" => (true, MsFlags::MS_SYNCHRONOUS),
        "async" => (false, MsFlags::MS_SYNCHRONOUS),
        "dirsync" => (true, MsFlags::MS_DIRSYNC),
        "remount" => (true, MsFlags::MS_REMOUNT),
        "mand" => (true, MsFlags::MS_MANDLOCK),
        "nomand" => (false, MsFlags::MS_MANDLOCK),
        "noatime" => (true, MsFlags::MS_NOATIME),
        "atime" => (false, MsFlags::MS_NOATIME),
        "nodiratime" => (true, MsFlags::MS_NODIRATIME),
        "diratime" => (false, MsFlags::MS_NODIRATIME),
        "relatime" => (true, MsFlags::MS_RELATIME),
        "norelatime" => (false, MsFlags::MS_RELATIME),
        "strictatime" => (true, MsFlags::MS_STRICTATIME),
        "nostrictatime" => (false, MsFlags::MS_STRICTATIME),
        "lazytime" => (true, MsFlags::MS_LAZYTIME),
        "nolazytime" => (false, MsFlags::MS_LAZYTIME),
        "iversion" => (true, MsFlags::MS_I_VERSION),
        "noiversion" => (false, MsFlags::MS_I_VERSION),
        "silent" => (true, MsFlags::MS_SILENT),
        "loud" => (false, MsFlags::MS_SILENT),
        "nosymfollow" => (true, nosymfollow),
        "symfollow" => (false, nosymfollow),
        _ => return None,
    })
}

/// The propagation an option word (or `linux.rootfsPropagation`) names.
pub(crate) fn propagation_option(word: &str) -> Option<Propagation> {
    let (kind, recursive) = match word {
        "private" => (MsFlags::MS_PRIVATE, false),
        "rprivate" => (MsFlags::MS_PRIVATE, true),
        "shared" => (MsFlags::MS_SHARED, false),
        "rshared" => (MsFlags::MS_SHARED, true),
        "slave" => (MsFlags::MS_SLAVE, false),
        "rslave" => (MsFlags::MS_SLAVE, true),
        "unbindable" => (MsFlags::MS_UNBINDABLE, false),
        "runbindable" => (MsFlags::MS_UNBINDABLE, true),
        _ => return None,
    };
    Some(Propagation { kind, recursive })
}

/// The recursive attribute change (`attr_set`, `attr_clr`) an `r*` word asks for.
///
/// The atime mode is a 2-bit field that `mount_setattr` only replaces as a
/// whole, so every atime word clears the whole field; the "not that mode"
/// words (`ratime`, `rnorelatime`, `rnostrictatime`) leave the default,
/// relatime.
fn recursive_option(word: &str) -> Option<(u64, u64)> {
    let atime = libc::MOUNT_ATTR__ATIME;
    Some(match word {
        "rro" => (libc::MOUNT_ATTR_RDONLY, 0),
        "rrw" => (0, libc::MOUNT_ATTR_RDONLY),
        "rnosuid" => (libc::MOUNT_ATTR_NOSUID, 0),
        "rsuid" => (0, libc::MOUNT_ATTR_NOSUID),
        "rnodev" => (libc::MOUNT_ATTR_NODEV, 0),
        "rdev" => (0, libc::MOUNT_ATTR_NODEV),
        "rnoexec" => (libc::MOUNT_ATTR_NOEXEC, 0),
        "rexec" => (0, libc::MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (libc::MOUNT_ATTR_NODIRATIME, 0),
        "rdiratime" => (0, libc::MOUNT_ATTR_NODIRATIME),
        "rnosymfollow" => (libc::MOUNT_ATTR_NOSYMFOLLOW, 0),
        "rsymfollow" => (0, libc::MOUNT_ATTR_NOSYMFOLLOW),
        "rnoatime" => (libc::MOUNT_ATTR_NOATIME, atime),
        "rstrictatime" => (libc::MOUNT_ATTR_STRICTATIME, atime),
        "rrelatime" | "ratime" | "rnorelatime" | "rnostrictatime" => {
            (libc::MOUNT_ATTR_RELATIME, atime)
        }
        _ => return None,
    })
}

/// Parses a `mounts[].options` list. Never fails: words that are not
/// filesystem-independent options are filesystem data (`mode=755`, `size=64m`).
pub(crate) fn parse(words: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    for word in words.iter().map(|w| w.trim()).filter(|w| !w.is_empty()) {
        if let Some((on, flag)) = flag_option(word) {
            if on {
                o.flags |= flag;
                o.cleared &= !flag;
            } else {
                o.flags &= !flag;
                o.cleared |= flag;
            }
        } else if let Some(p) = propagation_option(word) {
            o.propagation.push(p);
        } else if let Some((set, clr)) = recursive_option(word) {
            let r = &mut o.recursive;
            if clr & libc::MOUNT_ATTR__ATIME != 0 {
                r.attr_set &= !libc::MOUNT_ATTR__ATIME;
            }
            r.attr_set = (r.attr_set & !clr) | set;
            r.attr_clr = (r.attr_clr & !set) | clr;
        } else {
            match word {
                "bind" => o.bind = Some(o.bind.unwrap_or(false)),
                "rbind" => o.bind = Some(true),
                "idmap" => o.idmap = Some(o.idmap.unwrap_or(false)),
                "ridmap" => o.idmap = Some(true),
                "tmpcopyup" => o.tmpcopyup = true,
                _ => o.data.push(word.to_string()),
            }
        }
    }
    o
}

impl MountOptions {
    /// The filesystem data string (`mode=755,size=65536k`), if any.
    pub(crate) fn data_string(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }

    /// The per-mount (non-recursive) attribute change these options ask of a
    /// bind mount: only what the options mention is touched, so flags the
    /// bind inherited from its source (e.g. `nosuid`) stay unless cleared.
    pub(crate) fn bind_attr(&self) -> MountAttr {
        let pairs = [
            (MsFlags::MS_RDONLY, libc::MOUNT_ATTR_RDONLY),
            (MsFlags::MS_NOSUID, libc::MOUNT_ATTR_NOSUID),
            (MsFlags::MS_NODEV, libc::MOUNT_ATTR_NODEV),
            (MsFlags::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
            (
                MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW),
                libc::MOUNT_ATTR_NOSYMFOLLOW,
            ),
        ];
        let mut attr = MountAttr::default();
        for (flag, bit) in pairs {
            if self.flags.contains(flag) {
                attr.attr_set |= bit;
            } else if self.cleared.contains(flag) {
                attr.attr_clr |= bit;
            }
        }
        // Atime: only words that set something (`noatime`, `relatime`,
        // `strictatime`, `nodiratime`) change it, as with runc; clearing words
        // (`atime`, `norelatime`, `diratime`) alone keep the source's setting.
        // Precedence as mount(2): strictatime beats noatime beats relatime.
        let atime_words = MsFlags::MS_STRICTATIME
            | MsFlags::MS_NOATIME
            | MsFlags::MS_RELATIME
            | MsFlags::MS_NODIRATIME;
        if self.flags.intersects(atime_words) {
            let mode = if self.flags.contains(MsFlags::MS_STRICTATIME) {
                libc::MOUNT_ATTR_STRICTATIME
            } else if self.flags.contains(MsFlags::MS_NOATIME) {
                libc::MOUNT_ATTR_NOATIME
            } else {
                libc::MOUNT_ATTR_RELATIME
            };
            attr.attr_set |= mode;
            attr.attr_clr |= libc::MOUNT_ATTR__ATIME;
            if self.flags.contains(MsFlags::MS_NODIRATIME) {
                attr.attr_set |= libc::MOUNT_ATTR_NODIRATIME;
            } else {
                attr.attr_clr |= libc::MOUNT_ATTR_NODIRATIME;
            }
        }
        attr
    }
}

/// Per-mount flags that a bind mount given any flag option resets when the
/// options do not ask for them (runc's semantics: `bind,dev` on a `ro,noexec`
/// source gives a `rw,exec` mount). Atime flags are only touched when asked for.
const RESET_ATTRS: u64 = libc::MOUNT_ATTR_RDONLY
    | libc::MOUNT_ATTR_NOSUID
    | libc::MOUNT_ATTR_NODEV
    | libc::MOUNT_ATTR_NOEXEC
    | libc::MOUNT_ATTR_NOSYMFOLLOW;

/// The flags of the bind source that a user namespace cannot clear (the
/// kernel locks them on mounts it copies into a less privileged namespace),
/// as mount attributes, from the source's `statvfs` flags.
pub(crate) fn lockable_attrs(source: nix::sys::statvfs::FsFlags) -> u64 {
    use nix::sys::statvfs::FsFlags;
    [
        (FsFlags::ST_RDONLY, libc::MOUNT_ATTR_RDONLY),
        (FsFlags::ST_NOSUID, libc::MOUNT_ATTR_NOSUID),
        (FsFlags::ST_NODEV, libc::MOUNT_ATTR_NODEV),
        (FsFlags::ST_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
    ]
    .into_iter()
    .filter(|(f, _)| source.contains(*f))
    .fold(0, |acc, (_, a)| acc | a)
}

impl MountOptions {
    /// The attribute change of a bind mount: with no flag option at all the
    /// bind keeps its source's flags (like mount(8)); with any, the per-mount
    /// flags not asked for are cleared, except `locked` ones (see
    /// [`lockable_attrs`]) that the options do not clear explicitly: those are
    /// kept in a user namespace, and clearing them explicitly fails (EPERM).
    pub(crate) fn bind_attr_replacing(&self, locked: u64) -> MountAttr {
        let mut attr = self.bind_attr();
        let words = MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC
            | MsFlags::MS_NOATIME
            | MsFlags::MS_NODIRATIME
            | MsFlags::MS_RELATIME
            | MsFlags::MS_STRICTATIME
            | MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);
        if !(self.flags | self.cleared).intersects(words) {
            return attr;
        }
        let keep = locked & !attr.attr_clr;
        attr.attr_clr |= RESET_ATTRS & !attr.attr_set & !keep;
        attr
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bind_flags_replace_unless_none_given_or_locked() {
        let ro_noexec = libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOEXEC;
        // `bind` alone keeps everything.
        let o = parse(&words(&["bind"]));
        assert!(o.bind_attr_replacing(ro_noexec).is_noop());
        // `bind,dev`: everything else not asked for is cleared...
        let o = parse(&words(&["bind", "dev"]));
        let a = o.bind_attr_replacing(0);
        assert_eq!(a.attr_clr, RESET_ATTRS);
        assert_eq!(a.attr_set, 0);
        // ...but in a user namespace the source's locked ro/noexec stay.
        let a = o.bind_attr_replacing(ro_noexec);
        assert_eq!(a.attr_clr & ro_noexec, 0);
        assert_ne!(a.attr_clr & libc::MOUNT_ATTR_NOSYMFOLLOW, 0);
        // An explicit `rw` still asks to clear a locked ro (the kernel refuses).
        let o = parse(&words(&["bind", "rw"]));
        assert_ne!(
            o.bind_attr_replacing(ro_noexec).attr_clr & libc::MOUNT_ATTR_RDONLY,
            0
        );
        // `ro` sets ro and clears the rest.
        let o = parse(&words(&["bind", "ro"]));
        let a = o.bind_attr_replacing(0);
        assert_eq!(
            a.attr_set & libc::MOUNT_ATTR_RDONLY,
            libc::MOUNT_ATTR_RDONLY
        );
        assert_eq!(a.attr_clr & libc::MOUNT_ATTR_RDONLY, 0);
    }

    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_and_data_are_separated() {
        let o = parse(&words(&[
            "nosuid",
            "strictatime",
            "mode=755",
            "size=65536k",
        ]));
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data_string().as_deref(), Some("mode=755,size=65536k"));
        assert_eq!(o.bind, None);
        assert!(o.propagation.is_empty());
    }

    #[test]
    fn later_words_override_earlier_ones() {
        let o = parse(&words(&["ro", "rw", "nodev", "dev", "exec", "noexec"]));
        assert_eq!(o.flags, MsFlags::MS_NOEXEC);
        assert_eq!(o.cleared, MsFlags::MS_RDONLY | MsFlags::MS_NODEV);
    }

    #[test]
    fn every_flag_word_is_known() {
        let all = [
            "defaults",
            "ro",
            "rw",
            "nosuid",
            "suid",
            "nodev",
            "dev",
            "noexec",
            "exec",
            "sync",
            "async",
            "dirsync",
            "remount",
            "mand",
            "nomand",
            "noatime",
            "atime",
            "nodiratime",
            "diratime",
            "relatime",
            "norelatime",
            "strictatime",
            "nostrictatime",
            "lazytime",
            "nolazytime",
            "iversion",
            "noiversion",
            "silent",
            "loud",
            "nosymfollow",
            "symfollow",
        ];
        let o = parse(&words(&all));
        assert!(o.data.is_empty(), "{:?}", o.data);
        assert!(parse(&words(&["nosymfollow"]))
            .flags
            .contains(MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW)));
    }

    #[test]
    fn bind_and_rbind() {
        assert_eq!(parse(&words(&["bind"])).bind, Some(false));
        assert_eq!(parse(&words(&["rbind"])).bind, Some(true));
        assert_eq!(parse(&words(&["rbind", "bind"])).bind, Some(true));
        assert_eq!(parse(&words(&["idmap"])).idmap, Some(false));
        assert_eq!(parse(&words(&["ridmap"])).idmap, Some(true));
    }

    #[test]
    fn propagation_in_order() {
        let o = parse(&words(&["rprivate", "shared", "runbindable", "slave"]));
        let got: Vec<_> = o.propagation.iter().map(|p| p.mount_flags()).collect();
        assert_eq!(
            got,
            vec![
                MsFlags::MS_PRIVATE | MsFlags::MS_REC,
                MsFlags::MS_SHARED,
                MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
                MsFlags::MS_SLAVE,
            ]
        );
        assert!(propagation_option("bogus").is_none());
    }

    #[test]
    fn recursive_attributes() {
        let o = parse(&words(&["rro", "rnosuid", "rnoexec", "rnoatime"]));
        let want_set = libc::MOUNT_ATTR_RDONLY
            | libc::MOUNT_ATTR_NOSUID
            | libc::MOUNT_ATTR_NOEXEC
            | libc::MOUNT_ATTR_NOATIME;
        assert_eq!(o.recursive.attr_set, want_set);
        assert_eq!(o.recursive.attr_clr, libc::MOUNT_ATTR__ATIME);

        let o = parse(&words(&[
            "rro",
            "rrw",
            "rnodev",
            "rdev",
            "rstrictatime",
            "ratime",
        ]));
        assert_eq!(o.recursive.attr_set, libc::MOUNT_ATTR_RELATIME);
        assert_eq!(
            o.recursive.attr_clr,
            libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR__ATIME
        );
        assert!(parse(&words(&["rw"])).recursive.is_noop());
    }

    #[test]
    fn bind_attr_touches_only_what_is_named() {
        let o = parse(&words(&["rbind", "ro", "suid", "noatime"]));
        let a = o.bind_attr();
        assert_eq!(
            a.attr_set,
            libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOATIME
        );
        assert_eq!(
            a.attr_clr,
            libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR__ATIME | libc::MOUNT_ATTR_NODIRATIME
        );

        assert!(parse(&words(&["rbind"])).bind_attr().is_noop());
        let a = parse(&words(&["bind", "relatime", "strictatime"])).bind_attr();
        assert_eq!(a.attr_set, libc::MOUNT_ATTR_STRICTATIME);
        // Clearing words alone keep the source's atime (runc's semantics).
        assert!(parse(&words(&["bind", "atime"])).bind_attr().is_noop());
        assert!(parse(&words(&["bind", "norelatime"])).bind_attr().is_noop());
        // nodiratime alone means relatime + nodiratime.
        let a = parse(&words(&["bind", "nodiratime"])).bind_attr();
        assert_eq!(
            a.attr_set,
            libc::MOUNT_ATTR_RELATIME | libc::MOUNT_ATTR_NODIRATIME
        );
    }

    #[test]
    fn odd_input_is_harmless() {
        let o = parse(&words(&["", "  ", "ro ", "x-gvfs-show", "a=b=c"]));
        assert_eq!(o.flags, MsFlags::MS_RDONLY);
        assert_eq!(o.data, vec!["x-gvfs-show", "a=b=c"]);
        assert!(parse(&words(&["tmpcopyup"])).tmpcopyup);
    }
}
