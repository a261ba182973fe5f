//! The spellings runtime-spec uses for seccomp actions, operators, architectures and flags, and
//! their libseccomp / kernel counterparts. One table per kind feeds parsing, translation and `features`.

use libseccomp::{ScmpArch, ScmpCompareOp};
use oci_spec::runtime::{Arch, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};

/// Every action runtime-spec defines.
pub(crate) const ACTIONS: &[(&str, LinuxSeccompAction)] = &[
    ("SCMP_ACT_KILL", LinuxSeccompAction::ScmpActKill),
    (
        "SCMP_ACT_KILL_PROCESS",
        LinuxSeccompAction::ScmpActKillProcess,
    ),
    (
        "SCMP_ACT_KILL_THREAD",
        LinuxSeccompAction::ScmpActKillThread,
    ),
    ("SCMP_ACT_TRAP", LinuxSeccompAction::ScmpActTrap),
    ("SCMP_ACT_ERRNO", LinuxSeccompAction::ScmpActErrno),
    ("SCMP_ACT_TRACE", LinuxSeccompAction::ScmpActTrace),
    ("SCMP_ACT_ALLOW", LinuxSeccompAction::ScmpActAllow),
    ("SCMP_ACT_LOG", LinuxSeccompAction::ScmpActLog),
    ("SCMP_ACT_NOTIFY", LinuxSeccompAction::ScmpActNotify),
];

/// Every comparison operator runtime-spec defines.
pub(crate) const OPERATORS: &[(&str, LinuxSeccompOperator)] = &[
    ("SCMP_CMP_NE", LinuxSeccompOperator::ScmpCmpNe),
    ("SCMP_CMP_LT", LinuxSeccompOperator::ScmpCmpLt),
    ("SCMP_CMP_LE", LinuxSeccompOperator::ScmpCmpLe),
    ("SCMP_CMP_EQ", LinuxSeccompOperator::ScmpCmpEq),
    ("SCMP_CMP_GE", LinuxSeccompOperator::ScmpCmpGe),
    ("SCMP_CMP_GT", LinuxSeccompOperator::ScmpCmpGt),
    ("SCMP_CMP_MASKED_EQ", LinuxSeccompOperator::ScmpCmpMaskedEq),
];

/// Every architecture oci-spec knows, with the libseccomp token (the linked libseccomp may not support all).
pub(crate) const ARCHS: &[(&str, Arch, ScmpArch)] = &[
    ("SCMP_ARCH_NATIVE", Arch::ScmpArchNative, ScmpArch::Native),
    ("SCMP_ARCH_X86", Arch::ScmpArchX86, ScmpArch::X86),
    ("SCMP_ARCH_X86_64", Arch::ScmpArchX86_64, ScmpArch::X8664),
    ("SCMP_ARCH_X32", Arch::ScmpArchX32, ScmpArch::X32),
    ("SCMP_ARCH_ARM", Arch::ScmpArchArm, ScmpArch::Arm),
    (
        "SCMP_ARCH_AARCH64",
        Arch::ScmpArchAarch64,
        ScmpArch::Aarch64,
    ),
    ("SCMP_ARCH_MIPS", Arch::ScmpArchMips, ScmpArch::Mips),
    ("SCMP_ARCH_MIPS64", Arch::ScmpArchMips64, ScmpArch::Mips64),
    (
        "SCMP_ARCH_MIPS64N32",
        Arch::ScmpArchMips64n32,
        ScmpArch::Mips64N32,
    ),
    ("SCMP_ARCH_MIPSEL", Arch::ScmpArchMipsel, ScmpArch::Mipsel),
    (
        "SCMP_ARCH_MIPSEL64",
        Arch::ScmpArchMipsel64,
        ScmpArch::Mipsel64,
    ),
    (
        "SCMP_ARCH_MIPSEL64N32",
        Arch::ScmpArchMipsel64n32,
        ScmpArch::Mipsel64N32,
    ),
    ("SCMP_ARCH_PPC", Arch::ScmpArchPpc, ScmpArch::Ppc),
    ("SCMP_ARCH_PPC64", Arch::ScmpArchPpc64, ScmpArch::Ppc64),
    (
        "SCMP_ARCH_PPC64LE",
        Arch::ScmpArchPpc64le,
        ScmpArch::Ppc64Le,
    ),
    ("SCMP_ARCH_S390", Arch::ScmpArchS390, ScmpArch::S390),
    ("SCMP_ARCH_S390X", Arch::ScmpArchS390x, ScmpArch::S390X),
    ("SCMP_ARCH_PARISC", Arch::ScmpArchParisc, ScmpArch::Parisc),
    (
        "SCMP_ARCH_PARISC64",
        Arch::ScmpArchParisc64,
        ScmpArch::Parisc64,
    ),
    (
        "SCMP_ARCH_RISCV64",
        Arch::ScmpArchRiscv64,
        ScmpArch::Riscv64,
    ),
    (
        "SCMP_ARCH_LOONGARCH64",
        Arch::ScmpArchLoongarch64,
        ScmpArch::Loongarch64,
    ),
    ("SCMP_ARCH_M68K", Arch::ScmpArchM68k, ScmpArch::M68k),
    ("SCMP_ARCH_SH", Arch::ScmpArchSh, ScmpArch::Sh),
    ("SCMP_ARCH_SHEB", Arch::ScmpArchSheb, ScmpArch::Sheb),
];

/// Every filter flag runtime-spec defines, with its seccomp(2) bit.
pub(crate) const FLAGS: &[(&str, LinuxSeccompFilterFlag, u32)] = &[
    (
        "SECCOMP_FILTER_FLAG_TSYNC",
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
        libc::SECCOMP_FILTER_FLAG_TSYNC as u32,
    ),
    (
        "SECCOMP_FILTER_FLAG_LOG",
        LinuxSeccompFilterFlag::SeccompFilterFlagLog,
        libc::SECCOMP_FILTER_FLAG_LOG as u32,
    ),
    (
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
        libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW as u32,
    ),
    (
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
        libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV as u32,
    ),
];

/// The runtime-spec name of an action.
pub(crate) fn action_name(action: LinuxSeccompAction) -> &'static str {
    lookup(ACTIONS.iter().map(|(n, a)| (*n, *a)), action)
}

/// The runtime-spec name of an architecture.
pub(crate) fn arch_name(arch: Arch) -> &'static str {
    lookup(ARCHS.iter().map(|(n, a, _)| (*n, *a)), arch)
}

/// The libseccomp token of an architecture.
pub(crate) fn scmp_arch(arch: Arch) -> ScmpArch {
    ARCHS
        .iter()
        .find(|(_, a, _)| *a == arch)
        .map_or(ScmpArch::Native, |(_, _, s)| *s)
}

/// The runtime-spec name and seccomp(2) bit of a filter flag.
pub(crate) fn flag(flag: LinuxSeccompFilterFlag) -> (&'static str, u32) {
    FLAGS
        .iter()
        .find(|(_, f, _)| *f == flag)
        .map_or(("", 0), |(n, _, bit)| (*n, *bit))
}

/// The libseccomp operator for a runtime-spec operator; `mask` is used by `SCMP_CMP_MASKED_EQ`.
pub(crate) fn compare_op(op: LinuxSeccompOperator, mask: u64) -> ScmpCompareOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(mask),
    }
}

/// Whether `name` is one of the names in `table`.
pub(crate) fn known<'a, T>(mut table: impl Iterator<Item = (&'a str, T)>, name: &str) -> bool {
    table.any(|(n, _)| n == name)
}

fn lookup<T: PartialEq>(
    mut table: impl Iterator<Item = (&'static str, T)>,
    value: T,
) -> &'static str {
    table.find(|(_, v)| *v == value).map_or("?", |(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;

    fn parse<T: DeserializeOwned>(name: &str) -> T {
        serde_json::from_value(serde_json::Value::String(name.to_owned())).expect(name)
    }

    #[test]
    fn table_names_are_the_oci_spellings() {
        for (name, action) in ACTIONS {
            assert_eq!(parse::<LinuxSeccompAction>(name), *action, "{name}");
            assert_eq!(action_name(*action), *name);
        }
        for (name, op) in OPERATORS {
            assert_eq!(parse::<LinuxSeccompOperator>(name), *op, "{name}");
        }
        for (name, arch, _) in ARCHS {
            assert_eq!(parse::<Arch>(name), *arch, "{name}");
            assert_eq!(arch_name(*arch), *name);
        }
        for (name, f, bit) in FLAGS {
            assert_eq!(parse::<LinuxSeccompFilterFlag>(name), *f, "{name}");
            assert_eq!(flag(*f), (*name, *bit));
        }
    }

    #[test]
    fn masked_eq_carries_the_mask() {
        assert_eq!(
            compare_op(LinuxSeccompOperator::ScmpCmpMaskedEq, 0o777),
            ScmpCompareOp::MaskedEqual(0o777)
        );
        assert_eq!(
            compare_op(LinuxSeccompOperator::ScmpCmpGe, 5),
            ScmpCompareOp::GreaterEqual
        );
    }
}
