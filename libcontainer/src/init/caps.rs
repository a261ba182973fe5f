//! Init step "caps": the five capability sets of `process.capabilities`.

use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities as OciCaps, LinuxCapabilities};

use crate::error::{Error, Result};

/// The capability sets to apply, converted before the clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct CapPlan {
    bounding: CapsHashSet,
    effective: CapsHashSet,
    permitted: CapsHashSet,
    inheritable: CapsHashSet,
    ambient: CapsHashSet,
    /// Every capability this kernel knows (read once, before the clone).
    supported: CapsHashSet,
}

impl CapPlan {
    /// Converts config names; capabilities this kernel lacks are dropped
    /// from the plan with a warning (an image may list newer ones).
    pub(crate) fn from_spec(c: &LinuxCapabilities) -> Result<Self> {
        // One read of /proc/sys/kernel/cap_last_cap instead of a prctl per capability.
        let supported = caps::runtime::procfs_all_supported(None)
            .unwrap_or_else(|_| caps::runtime::thread_all_supported());
        let conv = |field: &str, set: &Option<OciCaps>| -> Result<CapsHashSet> {
            let mut out = CapsHashSet::new();
            for cap in set.iter().flatten() {
                let name = serde_json::to_value(cap)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                match Capability::from_str(&name) {
                    Ok(c) if supported.contains(&c) => {
                        out.insert(c);
                    }
                    Ok(_) => log::warn!("{field}: {name} is not supported by this kernel, ignored"),
                    Err(_) => {
                        return Err(Error::config(field, format!("unknown capability {name:?}")))
                    }
                }
            }
            Ok(out)
        };
        Ok(CapPlan {
            bounding: conv("process.capabilities.bounding", c.bounding())?,
            effective: conv("process.capabilities.effective", c.effective())?,
            permitted: conv("process.capabilities.permitted", c.permitted())?,
            inheritable: conv("process.capabilities.inheritable", c.inheritable())?,
            ambient: conv("process.capabilities.ambient", c.ambient())?,
            supported,
        })
    }

    /// Limits the bounding set. Needs CAP_SETPCAP in the effective set, so it
    /// runs before the "user" step (a uid change clears the effective set).
    pub(crate) fn apply_bounding(&self) -> Result<()> {
        for cap in self.supported.iter().copied() {
            if !self.bounding.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap).map_err(|e| cap_err("bounding", e))?;
            }
        }
        Ok(())
    }

    /// Sets inheritable (while permitted is still full), effective, permitted,
    /// and raises ambient. Runs after the "user" step.
    pub(crate) fn apply(&self) -> Result<()> {
        caps::set(None, CapSet::Inheritable, &self.inheritable)
            .map_err(|e| cap_err("inheritable", e))?;
        let mut eff_then_perm = self.effective.clone();
        eff_then_perm.retain(|c| self.permitted.contains(c));
        caps::set(None, CapSet::Effective, &eff_then_perm).map_err(|e| cap_err("effective", e))?;
        caps::set(None, CapSet::Permitted, &self.permitted).map_err(|e| cap_err("permitted", e))?;
        if eff_then_perm.len() != self.effective.len() {
            return Err(Error::config(
                "process.capabilities.effective",
                "lists capabilities that are not in permitted",
            ));
        }
        caps::clear(None, CapSet::Ambient).map_err(|e| cap_err("ambient", e))?;
        // The kernel only allows ambient capabilities that are both permitted
        // and inheritable; like runc, leave the others out instead of failing
        // (runc spec's default lists ambient ones with no inheritable set).
        for cap in &self.ambient {
            if self.permitted.contains(cap) && self.inheritable.contains(cap) {
                caps::raise(None, CapSet::Ambient, *cap)
                    .map_err(|e| cap_err(&format!("ambient {cap}"), e))?;
            } else {
                log::debug!("ambient {cap} skipped: not in both permitted and inheritable");
            }
        }
        Ok(())
    }
}

fn cap_err(set: &str, e: caps::errors::CapsError) -> Error {
    Error::config(format!("process.capabilities.{set}"), e.to_string())
}

/// Removes, with a warning, the names of a process JSON object's
/// `capabilities` sets that are no capability at all, before it is parsed
/// (runc ignores them too: an image may list capabilities newer than the
/// runtime). Entries that are not strings are left for the parser to report.
pub(crate) fn drop_unknown_names(process: &mut serde_json::Value, prefix: &str) {
    let Some(sets) = process
        .get_mut("capabilities")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return;
    };
    for (set, names) in sets.iter_mut() {
        let Some(names) = names.as_array_mut() else {
            continue;
        };
        names.retain(|entry| {
            let Some(name) = entry.as_str() else {
                return true;
            };
            let known =
                serde_json::from_value::<oci_spec::runtime::Capability>(entry.clone()).is_ok();
            if !known {
                log::warn!("{prefix}capabilities.{set}: unknown capability {name:?}, ignored");
            }
            known
        });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn unknown_capability_names_are_dropped() {
        let mut p = serde_json::json!({"capabilities": {
            "bounding": ["CAP_KILL", "CAP_UNKNOWN", "UNKNOWN_CAP"], "effective": [7]}});
        super::drop_unknown_names(&mut p, "process.");
        assert_eq!(
            p,
            serde_json::json!({"capabilities": {"bounding": ["CAP_KILL"], "effective": [7]}})
        );
    }
}
