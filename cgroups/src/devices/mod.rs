//! Device access rules: validation, the v1 `devices.allow`/`devices.deny` lines, and the v2
//! eBPF device filter (generated, loaded and attached by this crate, see [`filter`]).

mod bpf_insn;
pub mod filter;
mod program;
mod syscall;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::CgroupError;

/// Device type of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceType {
    /// Every device (`a`).
    All,
    /// Block devices (`b`).
    Block,
    /// Character devices (`c`).
    Char,
}

/// Access bits of a rule (`r`, `w`, `m`), as the BPF ABI encodes them.
pub(crate) const ACC_MKNOD: u8 = 1;
pub(crate) const ACC_READ: u8 = 2;
pub(crate) const ACC_WRITE: u8 = 4;
pub(crate) const ACC_ALL: u8 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// A validated device cgroup rule. `None` for major/minor means "any".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRule {
    /// Allow (true) or deny (false).
    pub allow: bool,
    /// Which kind of device.
    pub kind: DeviceType,
    /// Major number, `None` = any.
    pub major: Option<u32>,
    /// Minor number, `None` = any.
    pub minor: Option<u32>,
    /// Bit set of `ACC_*` access rights (never empty).
    pub access: u8,
}

impl DeviceRule {
    /// True for a rule that matches every device with every access.
    pub(crate) fn is_everything(&self) -> bool {
        self.kind == DeviceType::All && self.access == ACC_ALL
    }

    /// The v1 `devices.allow`/`devices.deny` line, e.g. `c 1:3 rwm` or `a *:* rwm`.
    pub(crate) fn v1_line(&self) -> String {
        let t = match self.kind {
            DeviceType::All => 'a',
            DeviceType::Block => 'b',
            DeviceType::Char => 'c',
        };
        let n = |v: Option<u32>| v.map_or_else(|| "*".to_string(), |v| v.to_string());
        let mut acc = String::new();
        for (bit, c) in [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')] {
            if self.access & bit != 0 {
                acc.push(c);
            }
        }
        format!("{t} {}:{} {acc}", n(self.major), n(self.minor))
    }
}

fn number(field: &str, v: Option<i64>) -> Result<Option<u32>, CgroupError> {
    match v {
        None | Some(-1) => Ok(None),
        Some(v) => u32::try_from(v).map(Some).map_err(|_| {
            CgroupError::invalid(
                field,
                format!("{v} is not a device number (use -1 or omit it for any)"),
            )
        }),
    }
}

/// Validates OCI `linux.resources.devices`.
///
/// Only types `a`, `b` and `c` are meaningful for the device controller (the spec lists just
/// these); `u` and `p` are rejected like runc does. A missing type means `a`, a missing or
/// empty access means `rwm`, a missing or `-1` major/minor means "any".
pub fn validate_rules(rules: &[LinuxDeviceCgroup]) -> Result<Vec<DeviceRule>, CgroupError> {
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let field = format!("linux.resources.devices[{i}]");
            let kind = match r.typ().unwrap_or(LinuxDeviceType::A) {
                LinuxDeviceType::A => DeviceType::All,
                LinuxDeviceType::B => DeviceType::Block,
                LinuxDeviceType::C => DeviceType::Char,
                other => {
                    return Err(CgroupError::invalid(
                        format!("{field}.type"),
                        format!(
                        "device type {:?} is not supported by the device cgroup (want a, b or c)",
                        other.as_str()
                    ),
                    ))
                }
            };
            let given = r.access().as_deref().unwrap_or("");
            let mut access = 0;
            for c in given.chars() {
                access |= match c {
                    'r' => ACC_READ,
                    'w' => ACC_WRITE,
                    'm' => ACC_MKNOD,
                    // As runc: other letters are ignored (said, not silently).
                    other => {
                        log::warn!(
                            "{field}.access: ignoring {other:?} (only r, w and m are defined)"
                        );
                        0
                    }
                };
            }
            if access == 0 && !given.is_empty() {
                return Err(CgroupError::invalid(
                    format!("{field}.access"),
                    format!("{given:?} names no access: use a combination of r, w and m"),
                ));
            }
            if access == 0 {
                access = ACC_ALL;
            }
            Ok(DeviceRule {
                allow: r.allow(),
                kind,
                major: number(&format!("{field}.major"), r.major())?,
                minor: number(&format!("{field}.minor"), r.minor())?,
                access,
            })
        })
        .collect()
}

/// The v1 writes for `rules`, in order: `(file name, line)`.
///
/// When the first rule denies everything, we start from the kernel's deny-all state by
/// writing `a` to `devices.deny` (as runc does); otherwise the rules are applied on top of
/// the policy inherited from the parent. On v1 a type-`a` rule always switches the whole
/// policy (the kernel ignores its numbers and access).
pub(crate) fn v1_writes(rules: &[DeviceRule]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        if i == 0 && !r.allow && r.is_everything() {
            out.push(("devices.deny", "a".to_string()));
            continue;
        }
        let file = if r.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        out.push((file, r.v1_line()));
    }
    out
}

/// The device rules runc grants every container in addition to the configured ones: `mknod`
/// of any device, and `rwm` on /dev/null, zero, full, random, urandom, tty, console, ptmx
/// and the pty slaves (136:*). The caller appends them after the bundle's rules.
pub fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    let rule = |typ, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_string()));
        r
    };
    use LinuxDeviceType::{B, C};
    vec![
        rule(C, None, None, "m"),
        rule(B, None, None, "m"),
        rule(C, Some(1), Some(3), "rwm"),
        rule(C, Some(1), Some(5), "rwm"),
        rule(C, Some(1), Some(7), "rwm"),
        rule(C, Some(1), Some(8), "rwm"),
        rule(C, Some(1), Some(9), "rwm"),
        rule(C, Some(5), Some(0), "rwm"),
        rule(C, Some(5), Some(1), "rwm"),
        rule(C, Some(5), Some(2), "rwm"),
        rule(C, Some(136), None, "rwm"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oci(
        allow: bool,
        typ: Option<LinuxDeviceType>,
        maj: Option<i64>,
        min: Option<i64>,
        acc: Option<&str>,
    ) -> LinuxDeviceCgroup {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(allow);
        r.set_typ(typ);
        r.set_major(maj);
        r.set_minor(min);
        r.set_access(acc.map(str::to_string));
        r
    }

    #[test]
    fn normalizes_defaults() {
        let rules = validate_rules(&[oci(false, None, None, None, None)]).unwrap();
        assert_eq!(
            rules[0],
            DeviceRule {
                allow: false,
                kind: DeviceType::All,
                major: None,
                minor: None,
                access: ACC_ALL
            }
        );
        assert_eq!(rules[0].v1_line(), "a *:* rwm");
    }

    #[test]
    fn v1_lines_in_order_with_deny_all_first() {
        let rules = validate_rules(&[
            oci(false, Some(LinuxDeviceType::A), None, None, Some("rwm")),
            oci(true, Some(LinuxDeviceType::C), Some(1), Some(3), Some("rw")),
            oci(
                false,
                Some(LinuxDeviceType::B),
                Some(8),
                Some(-1),
                Some("m"),
            ),
        ])
        .unwrap();
        assert_eq!(
            v1_writes(&rules),
            vec![
                ("devices.deny", "a".to_string()),
                ("devices.allow", "c 1:3 rw".to_string()),
                ("devices.deny", "b 8:* m".to_string()),
            ]
        );
    }

    #[test]
    fn rejects_bad_rules() {
        let e = validate_rules(&[oci(true, Some(LinuxDeviceType::P), Some(1), Some(1), None)])
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("linux.resources.devices[0].type:"),
            "{e}"
        );
        let e = validate_rules(&[oci(true, Some(LinuxDeviceType::U), Some(1), Some(1), None)])
            .unwrap_err();
        assert!(e.to_string().contains("not supported"), "{e}");
        // As runc: unknown letters are ignored ("rwa" is rw)...
        let ok = validate_rules(&[oci(true, None, Some(1), Some(1), Some("rwa"))]).unwrap();
        assert_eq!(ok[0].access, ACC_READ | ACC_WRITE);
        // ...but a rule must name some access.
        let e = validate_rules(&[oci(true, None, Some(1), Some(1), Some("xyz"))]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("linux.resources.devices[0].access:"),
            "{e}"
        );
        let e = validate_rules(&[oci(true, None, Some(-5), None, None)]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("linux.resources.devices[0].major:"),
            "{e}"
        );
    }

    #[test]
    fn default_rules_validate() {
        let rules = validate_rules(&default_device_rules()).unwrap();
        assert!(rules.iter().all(|r| r.allow));
        assert_eq!(rules[2].v1_line(), "c 1:3 rwm");
    }
}
