//! The project's parser for `/proc/<pid>/mountinfo` (see proc(5)): kiln-cgroups finds the
//! cgroup hierarchies with it, kiln-libcontainer the host mounts it needs.

use std::io;
use std::path::{Path, PathBuf};

/// One line of `/proc/<pid>/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// Mount ID.
    pub id: u32,
    /// Parent mount ID.
    pub parent: u32,
    /// The directory of the filesystem that forms this mount's root.
    pub root: PathBuf,
    /// Where it is mounted (relative to the reader's root).
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,nosuid,relatime`).
    pub mount_options: String,
    /// Optional fields (`shared:5`, `master:1`).
    pub optional: Vec<String>,
    /// Filesystem type.
    pub fstype: String,
    /// Mount source.
    pub source: String,
    /// Per-superblock options.
    pub super_options: String,
}

impl MountInfo {
    /// Whether the per-mount options contain `opt` (e.g. `ro`).
    pub fn has_option(&self, opt: &str) -> bool {
        self.mount_options.split(',').any(|o| o == opt)
    }

    /// Whether the per-superblock options contain `opt` (e.g. `cpu`).
    pub fn has_super_option(&self, opt: &str) -> bool {
        self.super_options.split(',').any(|o| o == opt)
    }
}

/// Undoes the octal escaping (`\040` for a space) that the kernel applies to paths.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if let Some(d) = octal {
            let value = d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
            out.push(u8::try_from(value).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses one mountinfo line; `None` if it is malformed.
pub fn parse_line(line: &str) -> Option<MountInfo> {
    let (before, after) = line.split_once(" - ")?;
    let mut f = before.split(' ');
    let id = f.next()?.parse().ok()?;
    let parent = f.next()?.parse().ok()?;
    let _dev = f.next()?;
    let root = PathBuf::from(unescape(f.next()?));
    let mount_point = PathBuf::from(unescape(f.next()?));
    let mount_options = f.next()?.to_string();
    let optional = f.filter(|s| !s.is_empty()).map(str::to_string).collect();
    let mut a = after.split(' ');
    let fstype = a.next()?.to_string();
    let source = unescape(a.next()?);
    let super_options = a.next().unwrap_or("").to_string();
    Some(MountInfo {
        id,
        parent,
        root,
        mount_point,
        mount_options,
        optional,
        fstype,
        source,
        super_options,
    })
}

/// Parses mountinfo text (malformed lines are skipped).
pub fn parse(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_line).collect()
}

/// The mountinfo of the calling process.
pub const SELF: &str = "/proc/self/mountinfo";

/// Reads and parses a mountinfo file (malformed lines are skipped).
pub fn read(path: &Path) -> io::Result<Vec<MountInfo>> {
    Ok(parse(&std::fs::read_to_string(path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_line_with_optional_fields_and_escapes() {
        let line = "36 35 98:0 /mnt1 /mnt/my\\040dir rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue";
        let m = parse_line(line).expect("valid line");
        assert_eq!((m.id, m.parent), (36, 35));
        assert_eq!(m.root, PathBuf::from("/mnt1"));
        assert_eq!(m.mount_point, PathBuf::from("/mnt/my dir"));
        assert!(m.has_option("noatime") && !m.has_option("ro"));
        assert_eq!(m.optional, vec!["master:1", "shared:7"]);
        assert_eq!(
            (m.fstype.as_str(), m.source.as_str()),
            ("ext3", "/dev/root")
        );
        assert!(m.has_super_option("errors=continue"));
    }

    #[test]
    fn parses_cgroup_lines_and_rejects_garbage() {
        let line =
            "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd";
        let m = parse_line(line).expect("valid line");
        assert!(m.optional.is_empty());
        assert!(m.has_super_option("name=systemd"));
        assert!(parse_line("").is_none());
        assert!(parse_line("x y z - a").is_none());
        assert!(parse_line("1 2 0:1 / / rw").is_none());
        assert_eq!(unescape("a\\134b\\"), "a\\b\\");
    }
}
