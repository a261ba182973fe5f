//! Detecting the host's cgroup layout from `/proc/self/mountinfo`.

use crate::CgroupError;

/// The standard mount point of the cgroup filesystems.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Host cgroup layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Only cgroup v1 hierarchies under `/sys/fs/cgroup/<controller>`.
    V1,
    /// A single cgroup2 hierarchy mounted at `/sys/fs/cgroup`.
    V2,
    /// v1 controller hierarchies plus cgroup2 at `/sys/fs/cgroup/unified` (systemd's "hybrid" mode).
    Hybrid,
}

/// Detects the layout of the calling process's mount namespace from `/proc/self/mountinfo`.
pub fn detect_layout() -> Result<Layout, CgroupError> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| CgroupError::Layout(format!("reading /proc/self/mountinfo: {e}")))?;
    layout_from_mountinfo(&text)
}

/// Decodes the octal escapes (`\040` for a space…) the kernel uses in mountinfo paths.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(v) = u8::try_from(v) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One relevant mountinfo entry: (mount point, filesystem type).
fn parse_line(line: &str) -> Option<(String, String)> {
    let (pre, post) = line.split_once(" - ")?;
    let mount_point = unescape(pre.split(' ').nth(4)?);
    let fstype = post.split(' ').next()?.to_string();
    Some((mount_point, fstype))
}

/// Classifies a mountinfo text (pure; unit tested).
///
/// Later mounts shadow earlier ones on the same mount point, so the last entry for
/// `/sys/fs/cgroup` wins.
pub(crate) fn layout_from_mountinfo(text: &str) -> Result<Layout, CgroupError> {
    let mut root_fs: Option<String> = None;
    let mut unified_is_v2 = false;
    let mut has_v1 = false;
    let prefix = format!("{CGROUP_ROOT}/");
    for (mount_point, fstype) in text.lines().filter_map(parse_line) {
        if mount_point == CGROUP_ROOT {
            root_fs = Some(fstype);
            // A new mount on the root hides everything mounted below it before.
            has_v1 = false;
            unified_is_v2 = false;
        } else if let Some(rest) = mount_point.strip_prefix(&prefix) {
            if rest.contains('/') {
                continue;
            }
            // The last mount on a mount point is the visible one: a tmpfs
            // mounted over `unified` hides the cgroup2 below it.
            if rest == "unified" {
                unified_is_v2 = fstype == "cgroup2";
            } else if fstype == "cgroup" {
                has_v1 = true;
            }
        }
    }
    match (root_fs.as_deref(), has_v1, unified_is_v2) {
        (Some("cgroup2"), _, _) => Ok(Layout::V2),
        (_, true, true) => Ok(Layout::Hybrid),
        (_, true, false) => Ok(Layout::V1),
        _ => Err(CgroupError::Layout(format!(
            "no cgroup v1 or v2 filesystem is mounted at {CGROUP_ROOT}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn detects_hybrid() {
        assert_eq!(layout_from_mountinfo(HYBRID).unwrap(), Layout::Hybrid);
    }

    #[test]
    fn unified_hidden_by_a_later_mount_is_v1() {
        let hidden = format!("{HYBRID}50 41 0:60 / /sys/fs/cgroup/unified rw - tmpfs tmpfs rw\n");
        assert_eq!(layout_from_mountinfo(&hidden).unwrap(), Layout::V1);
    }

    #[test]
    fn detects_v1_without_unified() {
        let text: String = HYBRID.lines().take(3).map(|l| format!("{l}\n")).collect();
        assert_eq!(layout_from_mountinfo(&text).unwrap(), Layout::V1);
    }

    #[test]
    fn detects_v2() {
        let text =
            "29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(layout_from_mountinfo(text).unwrap(), Layout::V2);
    }

    #[test]
    fn later_root_mount_shadows_earlier() {
        let text = format!("{HYBRID}50 23 0:40 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        assert_eq!(layout_from_mountinfo(&text).unwrap(), Layout::V2);
    }

    #[test]
    fn no_cgroups_is_an_error() {
        let text = "22 1 0:21 / /proc rw - proc proc rw\n";
        assert!(layout_from_mountinfo(text).is_err());
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/end\\"), "/end\\");
    }
}
