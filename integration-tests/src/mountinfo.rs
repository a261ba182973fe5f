//! Parsing of `/proc/<pid>/mountinfo` and clean-up of host mounts.

use std::path::{Path, PathBuf};

use crate::error::{io_err, Error, Result};

/// One line of a mountinfo file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Where it is mounted (octal escapes decoded).
    pub mount_point: String,
    /// The root of the mount within its filesystem.
    pub root: String,
    /// Per-mount options (`rw`, `ro`, `nosuid`, ...).
    pub mount_options: Vec<String>,
    /// Filesystem type.
    pub fs_type: String,
    /// Mount source.
    pub source: String,
    /// Per-superblock options (`size=...`, `mode=...`).
    pub super_options: Vec<String>,
    /// `major:minor` of the filesystem.
    pub dev: String,
}

impl MountEntry {
    /// Whether the mount or its superblock carries `option`.
    pub fn has_option(&self, option: &str) -> bool {
        self.mount_options
            .iter()
            .chain(&self.super_options)
            .any(|o| o == option)
    }
}

/// Decodes the `\040`-style octal escapes of mountinfo fields.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let code = bytes[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            out.push(u8::try_from(code).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses mountinfo text; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<MountEntry> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountEntry> {
    let (front, back) = line.split_once(" - ")?;
    let front: Vec<&str> = front.split(' ').collect();
    let back: Vec<&str> = back.split(' ').collect();
    if front.len() < 6 || back.len() < 3 {
        return None;
    }
    let split = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
    Some(MountEntry {
        dev: front[2].to_string(),
        root: unescape(front[3]),
        mount_point: unescape(front[4]),
        mount_options: split(front[5]),
        fs_type: back[0].to_string(),
        source: unescape(back[1]),
        super_options: split(back[2]),
    })
}

/// The mounts of this (the test) process.
pub fn host_mounts() -> Result<Vec<MountEntry>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(io_err("read", "/proc/self/mountinfo"))?;
    Ok(parse(&text))
}

/// Host mount points at or below `dir`, deepest first.
pub fn host_mounts_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = host_mounts()?
        .into_iter()
        .map(|m| PathBuf::from(m.mount_point))
        .filter(|p| p.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    Ok(found)
}

/// Lazily unmounts `path` (`umount2(MNT_DETACH)`).
pub fn detach(path: &Path) -> Result<()> {
    nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH).map_err(|source| Error::Sys {
        call: "umount2",
        context: path.display().to_string(),
        source,
    })
}

/// A tmpfs this test mounted on the host; unmounted on drop.
#[derive(Debug)]
pub struct HostTmpfs {
    path: PathBuf,
}

impl HostTmpfs {
    /// Mounts a small tmpfs at `path` (which must exist and belong to the test).
    pub fn mount(path: &Path) -> Result<HostTmpfs> {
        use nix::mount::{mount, MsFlags};
        mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            MsFlags::empty(),
            Some("size=1m"),
        )
        .map_err(|source| Error::Sys {
            call: "mount tmpfs",
            context: path.display().to_string(),
            source,
        })?;
        Ok(HostTmpfs {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for HostTmpfs {
    fn drop(&mut self) {
        if let Err(err) = detach(&self.path) {
            eprintln!("warning: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_line_with_optional_fields_and_escapes() {
        let line =
            "36 35 98:0 /mnt1 /mnt\\040x rw,noatime master:1 - ext3 /dev/root rw,errors=continue";
        let m = parse(line);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].mount_point, "/mnt x");
        assert_eq!(m[0].fs_type, "ext3");
        assert!(m[0].has_option("noatime") && m[0].has_option("errors=continue"));
    }

    #[test]
    fn host_has_a_root_mount() {
        assert!(host_mounts()
            .expect("mountinfo")
            .iter()
            .any(|m| m.mount_point == "/"));
    }
}
