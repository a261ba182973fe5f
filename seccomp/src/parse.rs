//! Parsing `linux.seccomp` from raw JSON with errors that name the offending entry.
//!
//! oci-spec's typed deserialization rejects unknown action/arch/flag/operator names with a
//! generic serde message; this walks the JSON first so the error says where the name is.

use oci_spec::runtime::LinuxSeccomp;
use serde_json::Value;

use crate::names::{self, ACTIONS, ARCHS, FLAGS, OPERATORS};
use crate::SeccompError;

const ROOT: &str = "linux.seccomp";

/// Parses the `linux.seccomp` object of a `config.json`.
///
/// Unknown names and out-of-range argument indexes are reported with their JSON path, e.g.
/// `linux.seccomp.syscalls[3].args[0].op: unknown operator "SCMP_CMP_FOO"`.
pub fn parse_seccomp(value: &Value) -> Result<LinuxSeccomp, SeccompError> {
    let obj = value
        .as_object()
        .ok_or_else(|| SeccompError::invalid(ROOT, "must be an object"))?;
    let actions = || ACTIONS.iter().map(|(n, _)| (*n, ()));
    check_name(
        obj.get("defaultAction"),
        &format!("{ROOT}.defaultAction"),
        "action",
        actions,
    )?;
    for (i, arch) in array(obj.get("architectures")) {
        let archs = || ARCHS.iter().map(|(n, _, _)| (*n, ()));
        check_name(
            Some(arch),
            &format!("{ROOT}.architectures[{i}]"),
            "architecture",
            archs,
        )?;
    }
    for (i, flag) in array(obj.get("flags")) {
        let flags = || FLAGS.iter().map(|(n, _, _)| (*n, ()));
        check_name(Some(flag), &format!("{ROOT}.flags[{i}]"), "flag", flags)?;
    }
    for (i, syscall) in array(obj.get("syscalls")) {
        let field = format!("{ROOT}.syscalls[{i}]");
        check_name(
            syscall.get("action"),
            &format!("{field}.action"),
            "action",
            actions,
        )?;
        for (j, arg) in array(syscall.get("args")) {
            let ops = || OPERATORS.iter().map(|(n, _)| (*n, ()));
            check_name(
                arg.get("op"),
                &format!("{field}.args[{j}].op"),
                "operator",
                ops,
            )?;
            if let Some(index) = arg.get("index").and_then(Value::as_u64) {
                if index > 5 {
                    return Err(SeccompError::invalid(
                        format!("{field}.args[{j}].index"),
                        format!("{index} is out of range: syscalls have at most 6 arguments (0-5)"),
                    ));
                }
            }
        }
    }
    serde_json::from_value(value.clone()).map_err(|e| SeccompError::invalid(ROOT, e.to_string()))
}

/// The elements of `value` if it is an array (anything else is left to serde).
fn array(value: Option<&Value>) -> impl Iterator<Item = (usize, &Value)> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
}

/// Errors if `value` is a string that is not a name in `table`.
fn check_name<'a, I: Iterator<Item = (&'a str, ())>>(
    value: Option<&Value>,
    field: &str,
    kind: &str,
    table: impl Fn() -> I,
) -> Result<(), SeccompError> {
    match value.and_then(Value::as_str) {
        Some(name) if !names::known(table(), name) => Err(SeccompError::invalid(
            field,
            format!("unknown {kind} {name:?}"),
        )),
        _ => Ok(()),
    }
}
