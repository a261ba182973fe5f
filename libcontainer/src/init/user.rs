//! Init step "user": supplementary groups, gid, uid and umask.

use nix::unistd::{Gid, Uid};
use oci_spec::runtime::Process;

use super::setup::Privileges;
use crate::error::{Error, Result};

/// Switches to `process.user`, keeping capabilities for the "caps" step:
/// supplementary groups, then keep-caps on, gid, uid, keep-caps off.
pub(crate) fn switch<P: Privileges>(
    sys: &mut P,
    process: &Process,
    setgroups_allowed: bool,
) -> Result<()> {
    let user = process.user();
    let gids: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    if setgroups_allowed {
        sys.set_groups(&gids)
            .map_err(|e| Error::sys(format!("setgroups {:?}", user.additional_gids()), e))?;
    } else if !gids.is_empty() {
        return Err(Error::config(
            "process.user.additionalGids",
            "cannot set supplementary groups: setgroups is denied in this user namespace",
        ));
    }
    let keep_caps = |e| Error::sys("prctl PR_SET_KEEPCAPS", e);
    sys.keep_caps(true).map_err(keep_caps)?;
    sys.set_gid(Gid::from_raw(user.gid()))
        .map_err(|e| Error::sys(format!("setresgid {}", user.gid()), e))?;
    sys.set_uid(Uid::from_raw(user.uid()))
        .map_err(|e| Error::sys(format!("setresuid {}", user.uid()), e))?;
    sys.keep_caps(false).map_err(keep_caps)?;
    if let Some(mask) = user.umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    Ok(())
}

/// The home directory of `uid` in the container's `/etc/passwd` (read after
/// pivot_root), or `/` when the file, the user or its home is missing.
pub(crate) fn home_dir(uid: u32) -> Result<String> {
    const PASSWD: &str = "/etc/passwd";
    let text = match std::fs::read(PASSWD) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok("/".into()),
        Err(e) => return Err(Error::io("read", PASSWD, e)),
    };
    Ok(home_in_passwd(&text, uid).unwrap_or("/").to_string())
}

/// The home field of the first `passwd(5)` line of `uid` in `text`, if not empty.
fn home_in_passwd(text: &str, uid: u32) -> Option<&str> {
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields[..] {
            [_, _, id, _, _, home, ..] if id.parse() == Ok(uid) && !home.is_empty() => Some(home),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::home_in_passwd;

    #[test]
    fn home_from_passwd() {
        let text = "root:x:0:0:root:/root:/bin/sh\n# comment\nbad\n\
                    nohome:x:7:7:::/bin/sh\nsvc:x:2345:2345:s:/srv/svc:/bin/sh\n";
        assert_eq!(home_in_passwd(text, 0), Some("/root"));
        assert_eq!(home_in_passwd(text, 2345), Some("/srv/svc"));
        assert_eq!(home_in_passwd(text, 7), None);
        assert_eq!(home_in_passwd(text, 4242), None);
    }
}
