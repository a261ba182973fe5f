//! Loading an OCI bundle: `config.json` plus the root filesystem it names.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Process, Spec};

use crate::error::{Error, Result};
use crate::validate;

/// A bundle whose config has been parsed and validated.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Absolute, canonical path of the bundle directory.
    pub dir: PathBuf,
    /// Absolute, canonical path of the root filesystem.
    pub rootfs: PathBuf,
    /// The parsed configuration.
    pub spec: Spec,
}

impl Bundle {
    /// Reads `dir/config.json`, checks every field kiln relies on and
    /// resolves `root.path` against the bundle directory.
    ///
    /// A bad field is reported by its JSON path, e.g.
    /// `config.json: linux.namespaces[2].type: unknown namespace "foo"`.
    pub fn load(dir: &Path) -> Result<Self> {
        let dir = dir.canonicalize().map_err(|e| Error::Bundle {
            path: dir.to_path_buf(),
            reason: format!("cannot open bundle directory: {e}"),
        })?;
        let config = dir.join("config.json");
        let file = File::open(&config).map_err(|e| Error::Bundle {
            path: config.clone(),
            reason: format!("cannot open config.json: {e}"),
        })?;
        let spec = parse_config(BufReader::new(file))?;
        let rootfs = resolve_rootfs(&dir, &spec)?;
        crate::timings::mark("validate");
        validate::spec(&spec)?;
        Ok(Bundle { dir, rootfs, spec })
    }
}

/// Parses a config.json document, reporting errors by JSON path.
pub fn parse_config(reader: impl std::io::Read) -> Result<Spec> {
    let mut value = parse_json(reader, "")?;
    if let Some(linux) = value.get("linux") {
        crate::init::mempolicy::check_raw(linux)?;
    }
    if let Some(process) = value.get_mut("process") {
        crate::init::sched::spec_flag_names(process, "process.")?;
        crate::init::caps::drop_unknown_names(process, "process.");
    }
    from_value(value, "")
}

/// Parses a process.json (`exec --process`); a bad field is reported as
/// `<label>: <path>`. As with runc, `user` may be left out (uid 0, gid 0);
/// what else it leaves out comes from the container (`Container::exec`).
pub fn parse_process(reader: impl std::io::Read, label: &str) -> Result<Process> {
    let prefix = format!("{label}: ");
    let mut value = parse_json(reader, &prefix)?;
    if let Some(obj) = value.as_object_mut() {
        obj.entry("user").or_insert_with(|| serde_json::json!({}));
    }
    crate::init::sched::spec_flag_names(&mut value, &prefix)?;
    crate::init::caps::drop_unknown_names(&mut value, &prefix);
    from_value(value, &prefix)
}

fn parse_json(reader: impl std::io::Read, prefix: &str) -> Result<serde_json::Value> {
    serde_json::from_reader(reader).map_err(|e| {
        Error::config(
            format!("{prefix}(document)"),
            describe_serde_error("", &e, e.to_string()),
        )
    })
}

fn from_value<T: serde::de::DeserializeOwned>(value: serde_json::Value, prefix: &str) -> Result<T> {
    crate::json::from_value(&value).map_err(|e| {
        let reason = describe_serde_error(&e.path, &e.source, e.reason());
        let field = e.path;
        let field = if field == "." {
            "(document)".into()
        } else {
            field
        };
        Error::config(format!("{prefix}{field}"), reason)
    })
}

/// Turns serde's wording into a message that names the problem plainly.
/// `msg` is serde_json's wording (with its " at line L column C" where that locates the
/// field in the user's text).
fn describe_serde_error(field: &str, err: &serde_json::Error, msg: String) -> String {
    if field.ends_with(".type") && field.contains("namespaces[") {
        if let Some(name) = msg.split('`').nth(1) {
            return format!("unknown namespace {name:?} ({msg})");
        }
    }
    if err.is_syntax() || err.is_eof() {
        return format!("invalid JSON: {msg}");
    }
    msg
}

/// Resolves `root.path` (relative to the bundle) and checks it is a directory.
fn resolve_rootfs(dir: &Path, spec: &Spec) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::config("root", "missing: a root filesystem is required"))?;
    let path = dir.join(root.path());
    let rootfs = path.canonicalize().map_err(|e| Error::Bundle {
        path: path.clone(),
        reason: format!("root.path: cannot open rootfs: {e}"),
    })?;
    if !rootfs.is_dir() {
        return Err(Error::Bundle {
            path: rootfs,
            reason: "root.path: rootfs is not a directory".into(),
        });
    }
    Ok(rootfs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_namespace_is_named_by_path() {
        let doc = br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
            "linux":{"namespaces":[{"type":"pid"},{"type":"mount"},{"type":"foo"}]}}"#;
        let err = parse_config(&doc[..]).unwrap_err().to_string();
        assert!(err.contains("linux.namespaces[2].type"), "{err}");
        assert!(err.contains("unknown namespace \"foo\""), "{err}");
    }

    #[test]
    fn invalid_json_is_reported() {
        let err = parse_config(&b"{ not json"[..]).unwrap_err().to_string();
        assert!(err.contains("invalid JSON"), "{err}");
    }
}
