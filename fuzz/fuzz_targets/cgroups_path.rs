//! `linux.cgroupsPath` (also read back from state.json and recovery.json),
//! with either cgroup driver: never panics, and a path it accepts names a
//! cgroup strictly below the hierarchy root: relative to that root it is
//! non-empty and made of plain names only (no `..`, `.` or `/`).
//!
//! Input: a flags byte (1: systemd driver, 2: systemd running, 4: no
//! cgroupsPath), then `cgroupsPath` NUL container id.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let (path, id) = text.split_once('\0').unwrap_or((&text, "ctr"));
    let path = (flags & 4 == 0).then_some(path);
    let Ok(parsed) = kiln_cgroups::fuzzing::cgroup_path(path, id, flags & 1 != 0, flags & 2 != 0)
    else {
        return;
    };
    let rel = parsed.relative();
    // Not `Path::components`, which hides a `.` inside a path.
    let text = rel.to_str().expect("built from UTF-8");
    assert!(
        text.split('/').all(|c| !matches!(c, "" | "." | "..")),
        "{path:?} (id {id:?}) → {parsed:?} → {rel:?} is not below the hierarchy root"
    );
});
