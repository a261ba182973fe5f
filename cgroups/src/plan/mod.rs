//! Turning validated resources into an ordered list of cgroup file writes.
//!
//! Planning reads what it must (current limits, to pick a safe write order) but writes
//! nothing; [`Plan::preflight`] then checks that every target file exists, so a missing
//! controller or an unknown `unified` key fails before anything was changed.

pub(crate) mod convert;
pub(crate) mod v1;
pub(crate) mod v2;

use std::path::{Path, PathBuf};

use crate::devices::filter::apply_device_filter;
use crate::devices::DeviceRule;
use crate::{fsutil, CgroupError};

/// One file write, tagged with the OCI field it implements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Write {
    pub path: PathBuf,
    pub value: String,
    pub field: String,
    /// If the kernel refuses this write with EINVAL, write the next one first and retry this
    /// one after it (e.g. a lower cfs period that the current quota makes exceed the parent's
    /// bandwidth, but that the new quota makes fit).
    pub retry_after_next: bool,
}

/// The ordered writes (plus, on v2, the device filter) that apply a resource set.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub writes: Vec<Write>,
    pub device_filter: Option<(PathBuf, Vec<DeviceRule>)>,
}

impl Plan {
    /// Queues writing `value` to `dir/file` for `field`.
    pub fn push(
        &mut self,
        dir: &Path,
        file: &str,
        value: impl Into<String>,
        field: impl Into<String>,
    ) {
        self.writes.push(Write {
            path: dir.join(file),
            value: value.into(),
            field: field.into(),
            retry_after_next: false,
        });
    }

    /// Like [`Plan::push`], but an EINVAL is retried once after the write queued next (if any).
    pub fn push_retry_after_next(
        &mut self,
        dir: &Path,
        file: &str,
        value: impl Into<String>,
        field: impl Into<String>,
    ) {
        self.push(dir, file, value, field);
        if let Some(w) = self.writes.last_mut() {
            w.retry_after_next = true;
        }
    }

    /// Fails, naming the field, if any target file does not exist.
    pub fn preflight(&self) -> Result<(), CgroupError> {
        for w in &self.writes {
            if !w.path.exists() {
                return Err(CgroupError::invalid(
                    &w.field,
                    format!(
                        "{} does not exist: this kernel or cgroup does not offer the setting \
                         (is its controller enabled?)",
                        w.path.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Performs the writes in order (retrying a refused `retry_after_next` write once after the
    /// next one), then installs the device filter.
    pub fn execute(&self) -> Result<(), CgroupError> {
        let mut deferred: Option<&Write> = None;
        for (i, w) in self.writes.iter().enumerate() {
            match write(w) {
                Err(CgroupError::Apply { source, .. })
                    if w.retry_after_next
                        && source.raw_os_error() == Some(libc::EINVAL)
                        && i + 1 < self.writes.len() =>
                {
                    deferred = Some(w);
                    continue;
                }
                r => r?,
            }
            if let Some(d) = deferred.take() {
                write(d)?;
            }
        }
        if let Some((dir, rules)) = &self.device_filter {
            apply_device_filter(dir, rules)?;
        }
        Ok(())
    }
}

fn write(w: &Write) -> Result<(), CgroupError> {
    fsutil::write_raw(&w.path, &w.value).map_err(|source| CgroupError::Apply {
        field: w.field.clone(),
        path: w.path.clone(),
        value: w.value.clone(),
        source,
    })
}

/// Field name helper: `linux.resources.<rest>`.
pub(crate) fn field(rest: &str) -> String {
    format!("linux.resources.{rest}")
}

/// Fails when `checkBeforeUpdate` is set and the new limit is below current usage.
pub(crate) fn check_before_update(usage_file: &Path, limit: u64) -> Result<(), CgroupError> {
    let usage = fsutil::read_u64_or_zero(usage_file)?;
    if limit < usage {
        return Err(CgroupError::invalid(
            field("memory.limit"),
            format!(
                "new limit {limit} is below the current usage {usage} and checkBeforeUpdate is set"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
