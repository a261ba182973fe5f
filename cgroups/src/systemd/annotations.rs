//! `org.systemd.property.<Name>` annotations: extra unit properties of the
//! container's scope, as runc takes them. The value is in GVariant text format
//! (`uint64 123`, `'string'`, `true`, `['a', 'b']`); a name ending in `Sec`
//! after a lowercase letter (`TimeoutStopSec`) is given to systemd as its
//! `USec` form with the value in microseconds.

use super::dbus::Value;
use super::properties::prop;
use crate::CgroupError;

/// The annotation prefix.
pub const PREFIX: &str = "org.systemd.property.";

/// Extra properties for the container's unit, from its annotations.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SystemdProperties(pub(crate) Vec<Value>);

impl SystemdProperties {
    /// The `org.systemd.property.*` entries of `annotations` (others are ignored), sorted by
    /// key. A bad name or value is an error naming the annotation.
    pub fn from_annotations<'a>(
        annotations: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<Self, CgroupError> {
        let mut entries: Vec<(&String, &String)> = annotations
            .into_iter()
            .filter(|(k, _)| k.starts_with(PREFIX))
            .collect();
        entries.sort();
        let mut out = Vec::with_capacity(entries.len());
        for (key, text) in entries {
            let bad = |reason: String| CgroupError::SystemdProperty {
                key: key.clone(),
                reason,
            };
            let name = &key[PREFIX.len()..];
            check_name(name).map_err(|r| bad(r.into()))?;
            let value =
                parse_value(text.trim()).map_err(|r| bad(format!("value {text:?}: {r}")))?;
            let (name, value) = match name.strip_suffix("Sec") {
                Some(stem) if stem.ends_with(|c: char| c.is_ascii_lowercase()) => {
                    let usec = seconds_to_usec(&value).map_err(|r| bad(r.into()))?;
                    (format!("{stem}USec"), Value::U64(usec))
                }
                _ => (name.to_string(), value),
            };
            out.push(prop(&name, value));
        }
        Ok(Self(out))
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn check_name(name: &str) -> Result<(), &'static str> {
    if name.len() < 3 {
        return Err("the property name is too short");
    }
    if !name.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err("the property name may contain only ASCII letters");
    }
    Ok(())
}

fn seconds_to_usec(v: &Value) -> Result<u64, &'static str> {
    let err = "a …Sec property takes a non-negative number of seconds";
    let usec = |n: i128| u64::try_from(n.checked_mul(1_000_000).ok_or(err)?).map_err(|_| err);
    match *v {
        Value::U64(n) => usec(n.into()),
        Value::I64(n) => usec(n.into()),
        Value::U32(n) => usec(n.into()),
        Value::I32(n) => usec(n.into()),
        Value::Byte(n) => usec(n.into()),
        Value::F64(f) if f >= 0.0 && f.is_finite() && f * 1e6 < u64::MAX as f64 => {
            Ok((f * 1e6).round() as u64)
        }
        _ => Err(err),
    }
}

/// A GVariant text value (the subset unit properties use).
fn parse_value(s: &str) -> Result<Value, String> {
    match s {
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        "@as []" => return Ok(Value::Array("s".into(), Vec::new())),
        _ => {}
    }
    if s.starts_with('\'') || s.starts_with('"') {
        let (string, rest) = parse_string(s)?;
        return if rest.trim().is_empty() {
            Ok(Value::Str(string))
        } else {
            Err(format!("unexpected {rest:?} after the string"))
        };
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return parse_string_list(inner).map(|v| Value::Array("s".into(), v));
    }
    if let Some((ty, num)) = s.split_once(' ') {
        let num = num.trim();
        let bad = |e: &dyn std::fmt::Display| format!("not a {ty}: {e}");
        return match ty {
            "byte" => num.parse().map(Value::Byte).map_err(|e| bad(&e)),
            "int32" => num.parse().map(Value::I32).map_err(|e| bad(&e)),
            "uint32" => num.parse().map(Value::U32).map_err(|e| bad(&e)),
            "int64" => num.parse().map(Value::I64).map_err(|e| bad(&e)),
            "uint64" => num.parse().map(Value::U64).map_err(|e| bad(&e)),
            "double" => num.parse().map(Value::F64).map_err(|e| bad(&e)),
            other => Err(format!("unsupported type {other:?}")),
        };
    }
    // Untyped numbers are int32 (or double), as in GVariant.
    if let Ok(n) = s.parse::<i32>() {
        return Ok(Value::I32(n));
    }
    if s.contains(['.', 'e']) {
        if let Ok(f) = s.parse::<f64>() {
            return Ok(Value::F64(f));
        }
    }
    Err(
        "not a GVariant text value this runtime understands (bool, [u]int32/64, double, \
         byte, 'string', ['string', …])"
            .into(),
    )
}

/// A quoted string and what follows it.
fn parse_string(s: &str) -> Result<(String, &str), String> {
    let mut chars = s.char_indices();
    let quote = chars.next().map(|(_, c)| c).ok_or("empty")?;
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, c)) => out.push(c),
                None => break,
            },
            c if c == quote => return Ok((out, &s[i + 1..])),
            c => out.push(c),
        }
    }
    Err("unterminated string".into())
}

fn parse_string_list(inner: &str) -> Result<Vec<Value>, String> {
    let mut rest = inner.trim();
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (s, after) = parse_string(rest)?;
        out.push(Value::Str(s));
        rest = after.trim_start();
        rest = match rest.strip_prefix(',') {
            Some(r) => r.trim_start(),
            None if rest.is_empty() => rest,
            None => return Err(format!("expected ',' before {rest:?}")),
        };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn props(pairs: &[(&str, &str)]) -> Result<Vec<Value>, CgroupError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        SystemdProperties::from_annotations(&map).map(|p| p.0)
    }

    #[test]
    fn values_and_sec_conversion() {
        let p = props(&[
            ("org.systemd.property.TimeoutStopSec", "uint64 3"),
            ("org.systemd.property.CollectMode", "'inactive-or-failed'"),
            ("org.systemd.property.CPUAccounting", "false"),
            ("org.systemd.property.RuntimeMaxSec", "1.5"),
            ("org.systemd.property.Wants", "['a.service', \"b.service\"]"),
            ("io.other", "ignored"),
        ])
        .unwrap();
        assert_eq!(
            p,
            vec![
                prop("CPUAccounting", Value::Bool(false)),
                prop("CollectMode", Value::Str("inactive-or-failed".into())),
                prop("RuntimeMaxUSec", Value::U64(1_500_000)),
                prop("TimeoutStopUSec", Value::U64(3_000_000)),
                prop(
                    "Wants",
                    Value::Array(
                        "s".into(),
                        vec![
                            Value::Str("a.service".into()),
                            Value::Str("b.service".into())
                        ]
                    )
                ),
            ]
        );
        // USec stays as given; an uppercase letter before Sec is not converted.
        let p = props(&[("org.systemd.property.TimeoutStopUSec", "uint64 7")]).unwrap();
        assert_eq!(p, vec![prop("TimeoutStopUSec", Value::U64(7))]);
    }

    #[test]
    fn bad_annotations_name_the_key() {
        for (k, v) in [
            ("org.systemd.property.Ab", "true"),
            ("org.systemd.property.Memory-Max", "uint64 1"),
            ("org.systemd.property.MemoryMax", "uint64 -1"),
            ("org.systemd.property.MemoryMax", "unterminated 'x"),
            ("org.systemd.property.Description", "'open"),
            ("org.systemd.property.TimeoutStopSec", "'ten'"),
            ("org.systemd.property.TimeoutStopSec", "-2"),
        ] {
            let err = props(&[(k, v)]).unwrap_err().to_string();
            assert!(err.starts_with(&format!("annotation {k}: ")), "{err}");
        }
    }
}
