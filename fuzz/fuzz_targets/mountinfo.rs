//! `/proc/PID/mountinfo` (kiln_cgroups::mountinfo, the project's one parser of
//! it): never panics; `parse` is `parse_line` of every line; a parsed line
//! written back, its paths octal-escaped as the kernel does, parses to the
//! same entry.
#![no_main]

use kiln_cgroups::mountinfo::{self, MountInfo};
use libfuzzer_sys::fuzz_target;

/// The kernel's escaping of a path field (`\040` for a space).
fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            ' ' | '\t' | '\n' | '\\' => format!("\\{:03o}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

fn line_of(m: &MountInfo) -> String {
    let mut optional = m.optional.join(" ");
    if !optional.is_empty() {
        optional.insert(0, ' ');
    }
    format!(
        "{} {} 0:1 {} {} {}{} - {} {} {}",
        m.id,
        m.parent,
        escape(m.root.to_str().expect("parsed paths are UTF-8")),
        escape(m.mount_point.to_str().expect("parsed paths are UTF-8")),
        m.mount_options,
        optional,
        m.fstype,
        escape(&m.source),
        m.super_options
    )
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let all = mountinfo::parse(text);
    let each: Vec<_> = text.lines().filter_map(mountinfo::parse_line).collect();
    assert_eq!(all, each);
    for m in &all {
        let line = line_of(m);
        assert_eq!(mountinfo::parse_line(&line).as_ref(), Some(m), "{line:?}");
        let _ = (m.has_option("ro"), m.has_super_option("cpu"));
    }
});
