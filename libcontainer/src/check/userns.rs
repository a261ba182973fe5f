//! User namespace checks: the kernel limits, and for an unprivileged caller the subordinate
//! ids of /etc/subuid and /etc/subgid and the setuid helpers that map them.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::Check;

const MAX_USERNS: &str = "/proc/sys/user/max_user_namespaces";
const UNPRIV_CLONE: &str = "/proc/sys/kernel/unprivileged_userns_clone";
const APPARMOR_RESTRICT: &str = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns";

/// One line of /etc/subuid or /etc/subgid: `owner:start:count`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubIdEntry {
    /// User name or uid the range belongs to.
    pub owner: String,
    /// First subordinate id.
    pub start: u64,
    /// Number of ids.
    pub count: u64,
}

/// Parses one line; `None` for blank lines, comments and malformed lines.
pub fn parse_subid_line(line: &str) -> Option<SubIdEntry> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut f = line.split(':');
    let owner = f.next().filter(|o| !o.is_empty())?.to_owned();
    let start = f.next()?.trim().parse().ok()?;
    let count = f.next()?.trim().parse().ok()?;
    if f.next().is_some() {
        return None;
    }
    Some(SubIdEntry {
        owner,
        start,
        count,
    })
}

/// The number of subordinate ids `text` (a subuid/subgid file) grants to `name` or `uid`.
pub fn subid_count(text: &str, name: &str, uid: u32) -> u64 {
    let uid = uid.to_string();
    text.lines()
        .filter_map(parse_subid_line)
        .filter(|e| e.owner == name || e.owner == uid)
        .map(|e| e.count)
        .sum()
}

/// The first id after every range of `text` (and at least 100000): where a new range of a
/// subuid/subgid file can start without overlapping the others.
pub fn free_subid_start(text: &str) -> u64 {
    text.lines()
        .filter_map(parse_subid_line)
        .map(|e| e.start.saturating_add(e.count))
        .fold(100_000, u64::max)
}

/// The user namespace checks.
pub(super) fn checks(unprivileged: bool) -> Vec<Check> {
    let mut out = vec![kernel_check(unprivileged)];
    if unprivileged {
        let uid = nix::unistd::geteuid().as_raw();
        let name = crate::container::create_support::owner_name();
        out.push(subid_check("/etc/subuid", &name, uid));
        out.push(subid_check("/etc/subgid", &name, uid));
        out.push(helper_check("newuidmap"));
        out.push(helper_check("newgidmap"));
    } else {
        out.push(Check::ok(
            "subordinate ids",
            "not needed as root (kiln writes the id maps itself)",
        ));
    }
    out
}

fn read_number(path: &str) -> Result<i64, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    text.trim()
        .parse()
        .map_err(|e| format!("{path}: {:?}: {e}", text.trim()))
}

fn kernel_check(unprivileged: bool) -> Check {
    const NAME: &str = "user namespaces";
    let max = match read_number(MAX_USERNS) {
        Ok(n) => n,
        Err(e) => {
            let detail = format!("unsupported ({e})");
            let fix = "use a kernel built with CONFIG_USER_NS";
            return if unprivileged {
                Check::fail(NAME, detail, fix)
            } else {
                Check::warn(NAME, detail + " (needed for linux.uidMappings)", fix)
            };
        }
    };
    let fix_max = "sysctl -w user.max_user_namespaces=15000 (persist in /etc/sysctl.d/)";
    if max <= 0 {
        let detail = format!("{MAX_USERNS} = {max}: none can be created");
        return if unprivileged {
            Check::fail(NAME, detail, fix_max)
        } else {
            Check::warn(NAME, detail + " (needed for linux.uidMappings)", fix_max)
        };
    }
    let detail = format!("max_user_namespaces = {max}");
    match unprivileged_knobs(unprivileged) {
        Ok(more) => Check::ok(NAME, detail + &more),
        Err((more, fix)) => Check::fail(NAME, detail + &more, fix),
    }
}

/// The distribution switches that keep unprivileged users from making user namespaces
/// (Debian's `unprivileged_userns_clone`, Ubuntu's AppArmor restriction), where they exist:
/// the text to add to the detail, or that text and the fix when they block this caller.
fn unprivileged_knobs(unprivileged: bool) -> Result<String, (String, String)> {
    let knobs = [
        (UNPRIV_CLONE, 1, "sysctl -w kernel.unprivileged_userns_clone=1"),
        (
            APPARMOR_RESTRICT,
            0,
            "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or give kiln an AppArmor profile allowing userns)",
        ),
    ];
    let mut text = String::new();
    for (file, allowed, fix) in knobs {
        if !Path::new(file).exists() {
            continue;
        }
        let name = file.rsplit('/').next().unwrap_or(file);
        match read_number(file) {
            Ok(v) => {
                text.push_str(&format!(", {name} = {v}"));
                if v != allowed && unprivileged {
                    return Err((text, format!("{fix} (persist in /etc/sysctl.d/)")));
                }
            }
            Err(e) => text.push_str(&format!(", {name} unreadable ({e})")),
        }
    }
    Ok(text)
}

fn subid_check(file: &str, name: &str, uid: u32) -> Check {
    let check_name = file.trim_start_matches("/etc/");
    let flag = if file.ends_with("subgid") {
        "--add-subgids"
    } else {
        "--add-subuids"
    };
    let fix = |start: u64| format!("as root: usermod {flag} {start}-{} {name}", start + 65535);
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            let detail = format!("{file}: {e}: only your own id can be mapped");
            return Check::warn(check_name, detail, fix(100_000));
        }
    };
    match subid_count(&text, name, uid) {
        0 => Check::warn(
            check_name,
            format!("no entry for {name} (uid {uid}) in {file}: only your own id can be mapped"),
            fix(free_subid_start(&text)),
        ),
        n => Check::ok(check_name, format!("{n} ids for {name} (uid {uid})")),
    }
}

/// Where `prog` is: the first match in `$PATH`, then the usual directories.
fn find_program(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/sbin", "/bin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

/// Whether `path` carries file capabilities (a `security.capability` attribute).
fn has_file_caps(path: &Path) -> bool {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: both names are valid NUL-terminated strings for the call; a NULL buffer of
    // size 0 only asks for the attribute's size, so the kernel writes nothing.
    let size = unsafe {
        libc::getxattr(
            c_path.as_ptr(),
            c"security.capability".as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    size > 0
}

fn helper_check(prog: &str) -> Check {
    let fix = "as root: apt-get install uidmap (or your distribution's shadow-utils)";
    let Some(path) = find_program(prog) else {
        return Check::warn(prog, "not found: only your own id can be mapped", fix);
    };
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) => return Check::warn(prog, format!("{}: {e}", path.display()), fix),
    };
    let setuid = meta.mode() & 0o4000 != 0 && meta.uid() == 0;
    if setuid {
        Check::ok(prog, format!("{} (setuid root)", path.display()))
    } else if has_file_caps(&path) {
        Check::ok(prog, format!("{} (file capabilities)", path.display()))
    } else {
        Check::warn(
            prog,
            format!(
                "{} is neither setuid root nor has file capabilities",
                path.display()
            ),
            format!("as root: chmod u+s {}", path.display()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subid_lines_parse_and_reject_garbage() {
        assert_eq!(
            parse_subid_line("alice:100000:65536"),
            Some(SubIdEntry {
                owner: "alice".into(),
                start: 100000,
                count: 65536
            })
        );
        for bad in [
            "",
            "# c",
            "alice:1",
            "alice:x:5",
            ":1:2",
            "a:1:2:3",
            "a:-1:5",
        ] {
            assert_eq!(parse_subid_line(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn subid_count_matches_name_or_uid_and_adds_ranges() {
        let text = "root:1000000:65536\nalice:100000:65536\n1001:300000:1000\n\
                    bob:200000:65536\nalice:500000:10\ngarbage\n";
        assert_eq!(subid_count(text, "alice", 1001), 65536 + 1000 + 10);
        assert_eq!(subid_count(text, "bob", 1002), 65536);
        assert_eq!(subid_count(text, "carol", 1003), 0);
        // A name is not a prefix match.
        assert_eq!(subid_count(text, "ali", 1004), 0);
    }

    #[test]
    fn a_new_range_starts_after_every_existing_one() {
        assert_eq!(free_subid_start(""), 100_000);
        assert_eq!(free_subid_start("a:100000:65536\n"), 165_536);
        let text = "root:1000000:65536\nrootless:100000:65536\nbad:line\n";
        assert_eq!(free_subid_start(text), 1_065_536);
    }
}
