//! uid/gid mappings (`linux.uidMappings`, `mounts[].gidMappings`, ...): the
//! check accepts exactly the lists the kernel takes in a uid_map (at most 340
//! lines, sizes above zero, ranges ending at or below 2³²−1, no two container
//! or host ranges overlapping), and the text written for an accepted list
//! reads back as that list.
//!
//! Input: 12-byte records, containerID, hostID and size as u32 LE.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::{LinuxIdMapping, LinuxIdMappingBuilder};

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"))
}

/// user_namespaces(7)'s rules, stated independently of kiln's code.
fn kernel_accepts(maps: &[(u32, u32, u32)]) -> bool {
    let end = |start: u32, size: u32| u64::from(start) + u64::from(size);
    let fits = |&(c, h, s): &(u32, u32, u32)| {
        s > 0 && end(c, s) <= u64::from(u32::MAX) && end(h, s) <= u64::from(u32::MAX)
    };
    let apart =
        |a: u32, b: u32, sa: u32, sb: u32| end(a, sa) <= u64::from(b) || end(b, sb) <= u64::from(a);
    maps.len() <= 340
        && maps.iter().all(fits)
        && maps.iter().enumerate().all(|(i, &(c, h, s))| {
            maps[..i]
                .iter()
                .all(|&(c2, h2, s2)| apart(c, c2, s, s2) && apart(h, h2, s, s2))
        })
}

fuzz_target!(|data: &[u8]| {
    let raw: Vec<(u32, u32, u32)> = data
        .chunks_exact(12)
        .map(|r| (u32_at(r, 0), u32_at(r, 4), u32_at(r, 8)))
        .collect();
    let maps: Vec<LinuxIdMapping> = raw
        .iter()
        .map(|&(c, h, s)| {
            LinuxIdMappingBuilder::default()
                .container_id(c)
                .host_id(h)
                .size(s)
                .build()
                .expect("a mapping")
        })
        .collect();
    let checked = kiln_libcontainer::fuzzing::id_mappings("linux.uidMappings", &maps);
    assert_eq!(
        checked.is_ok(),
        kernel_accepts(&raw),
        "{raw:?}: {checked:?}"
    );
    if let Ok(text) = checked {
        let back: Vec<(u32, u32, u32)> = text
            .lines()
            .map(|l| {
                let n: Vec<u32> = l.split(' ').map(|w| w.parse().expect("a number")).collect();
                (n[0], n[1], n[2])
            })
            .collect();
        assert_eq!(back, raw);
    }
});
