//! What `kiln features` reports under `linux.seccomp` (runtime-spec features.md).

use libseccomp::{ScmpAction, ScmpFilterContext};
use serde::Serialize;

use crate::kernel;
use crate::names::{ACTIONS, ARCHS, FLAGS, OPERATORS};

/// The `linux.seccomp` object of runtime-spec's features document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeccompFeatures {
    /// Whether seccomp support is compiled in (always true for kiln).
    pub enabled: bool,
    /// Recognized action names (`SCMP_ACT_*`).
    pub actions: Vec<String>,
    /// Recognized comparison operators (`SCMP_CMP_*`).
    pub operators: Vec<String>,
    /// Architectures (`SCMP_ARCH_*`) the linked libseccomp can add to a filter on this host
    /// (libseccomp refuses to mix byte orders, so big-endian ones are absent on x86_64).
    pub archs: Vec<String>,
    /// Filter flags kiln knows (`SECCOMP_FILTER_FLAG_*`).
    pub known_flags: Vec<String>,
    /// The subset of `known_flags` the running kernel supports.
    pub supported_flags: Vec<String>,
}

/// The seccomp features of this build on this kernel.
pub fn features() -> SeccompFeatures {
    let archs = ARCHS
        .iter()
        .filter(|(name, _, scmp)| {
            *name != "SCMP_ARCH_NATIVE"
                && ScmpFilterContext::new(ScmpAction::Allow)
                    .is_ok_and(|mut ctx| ctx.add_arch(*scmp).is_ok())
        })
        .map(|(name, _, _)| (*name).to_owned())
        .collect();
    SeccompFeatures {
        enabled: true,
        actions: ACTIONS.iter().map(|(n, _)| (*n).to_owned()).collect(),
        operators: OPERATORS.iter().map(|(n, _)| (*n).to_owned()).collect(),
        archs,
        known_flags: FLAGS.iter().map(|(n, _, _)| (*n).to_owned()).collect(),
        supported_flags: FLAGS
            .iter()
            .filter(|(_, _, bit)| kernel::filter_mode_supported() && kernel::flag_supported(*bit))
            .map(|(n, _, _)| (*n).to_owned())
            .collect(),
    }
}

/// The linked libseccomp's version (`major.minor.micro`), for the features annotation
/// `io.github.seccomp.libseccomp.version`.
pub fn libseccomp_version() -> Option<String> {
    libseccomp::ScmpVersion::current()
        .ok()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_serialize_with_spec_names() {
        let f = features();
        let json = serde_json::to_value(&f).unwrap();
        for key in [
            "enabled",
            "actions",
            "operators",
            "archs",
            "knownFlags",
            "supportedFlags",
        ] {
            assert!(json.get(key).is_some(), "{key} missing in {json}");
        }
        assert!(f.actions.contains(&"SCMP_ACT_NOTIFY".to_owned()));
        assert!(f.operators.contains(&"SCMP_CMP_MASKED_EQ".to_owned()));
        // Every libseccomp >= 2.5 supports x86-64 and its compat ABIs.
        for arch in [
            "SCMP_ARCH_X86_64",
            "SCMP_ARCH_X86",
            "SCMP_ARCH_X32",
            "SCMP_ARCH_AARCH64",
        ] {
            assert!(f.archs.contains(&arch.to_owned()), "{arch}");
        }
        assert!(f.supported_flags.iter().all(|s| f.known_flags.contains(s)));
        assert!(f
            .supported_flags
            .contains(&"SECCOMP_FILTER_FLAG_TSYNC".to_owned()));
        assert!(libseccomp_version().is_some_and(|v| v.starts_with("2.")));
    }
}
