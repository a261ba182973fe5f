//! `uidMappings`/`gidMappings` (of `linux` and of id-mapped mounts): the
//! kernel's rules for a uid_map/gid_map (user_namespaces(7)), checked before
//! anything is written so that a bad mapping is named by its field rather
//! than reported as `EINVAL` from a write to /proc; and the text written.

use std::fmt::Write as _;

use oci_spec::runtime::LinuxIdMapping;

use crate::error::{Error, Result};

/// The most lines a uid_map/gid_map takes (Linux ≥ 4.15).
pub(crate) const MAX_MAPPINGS: usize = 340;

/// Checks `maps` (the list at `field`): at most [`MAX_MAPPINGS`] entries,
/// each of a non-zero size whose container and host ranges end at or below
/// 2³²−1, and no two container ranges nor two host ranges overlapping.
pub(crate) fn check(field: &str, maps: &[LinuxIdMapping]) -> Result<()> {
    if maps.len() > MAX_MAPPINGS {
        return Err(Error::config(
            field,
            format!(
                "{} mappings; the kernel takes at most {MAX_MAPPINGS}",
                maps.len()
            ),
        ));
    }
    for (i, m) in maps.iter().enumerate() {
        let at = || format!("{field}[{i}]");
        if m.size() == 0 {
            return Err(Error::config(at(), "size must be greater than zero"));
        }
        for (name, start) in [("containerID", m.container_id()), ("hostID", m.host_id())] {
            if u64::from(start) + u64::from(m.size()) > u64::from(u32::MAX) {
                return Err(Error::config(
                    at(),
                    format!(
                        "{name} {start} + size {} ends past the last id {}",
                        m.size(),
                        u32::MAX - 1
                    ),
                ));
            }
        }
        for (j, earlier) in maps[..i].iter().enumerate() {
            let ranges = [
                ("containerID", m.container_id(), earlier.container_id()),
                ("hostID", m.host_id(), earlier.host_id()),
            ];
            for (name, a, b) in ranges {
                if overlap(a, m.size(), b, earlier.size()) {
                    return Err(Error::config(
                        at(),
                        format!("its {name} range overlaps that of {field}[{j}]"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Whether `[a, a + a_len)` and `[b, b + b_len)` share an id.
fn overlap(a: u32, a_len: u32, b: u32, b_len: u32) -> bool {
    let (a, a_end) = (u64::from(a), u64::from(a) + u64::from(a_len));
    let (b, b_end) = (u64::from(b), u64::from(b) + u64::from(b_len));
    a < b_end && b < a_end
}

/// The uid_map/gid_map text of `maps`: `containerID hostID size` lines.
pub(crate) fn text(maps: &[LinuxIdMapping]) -> String {
    maps.iter().fold(String::new(), |mut s, m| {
        let _ = writeln!(s, "{} {} {}", m.container_id(), m.host_id(), m.size());
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(container_id: u32, host_id: u32, size: u32) -> LinuxIdMapping {
        oci_spec::runtime::LinuxIdMappingBuilder::default()
            .container_id(container_id)
            .host_id(host_id)
            .size(size)
            .build()
            .unwrap()
    }

    fn reason(maps: &[LinuxIdMapping]) -> String {
        check("linux.uidMappings", maps).unwrap_err().to_string()
    }

    #[test]
    fn accepts_what_the_kernel_accepts() {
        check("f", &[]).unwrap();
        check("f", &[map(0, 1000, 1), map(1, 100_000, 65536)]).unwrap();
        check("f", &[map(0, 0, u32::MAX)]).unwrap();
        let many: Vec<_> = (0..MAX_MAPPINGS as u32).map(|i| map(i, i, 1)).collect();
        check("f", &many).unwrap();
    }

    #[test]
    fn refuses_what_the_kernel_refuses() {
        assert!(reason(&[map(0, 0, 0)]).contains("linux.uidMappings[0]"));
        assert!(reason(&[map(1, 0, u32::MAX)]).contains("containerID 1"));
        assert!(reason(&[map(0, u32::MAX, 1)]).contains("hostID"));
        let e = reason(&[map(0, 1000, 10), map(5, 2000, 1)]);
        assert!(
            e.contains("[1]") && e.contains("containerID range overlaps"),
            "{e}"
        );
        let e = reason(&[map(0, 1000, 10), map(10, 1009, 1)]);
        assert!(e.contains("hostID range overlaps"), "{e}");
        let many: Vec<_> = (0..=MAX_MAPPINGS as u32).map(|i| map(i, i, 1)).collect();
        assert!(reason(&many).contains("at most 340"));
    }

    #[test]
    fn text_is_one_line_per_mapping() {
        assert_eq!(
            text(&[map(0, 1000, 10), map(10, 5000, 1)]),
            "0 1000 10\n10 5000 1\n"
        );
        assert_eq!(text(&[]), "");
    }
}
