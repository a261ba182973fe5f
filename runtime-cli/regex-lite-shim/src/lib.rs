//! `regex` as far as oci-spec uses it (`Regex::new`, `is_match`, `RegexBuilder`),
//! backed by `regex-lite`. Only kiln's binary sees this crate: it is a `[patch]` of
//! the workspace, not published.

pub use regex_lite::{Error, Regex, RegexBuilder};
