//! The one JSON decoder for kiln's documents and messages.
//!
//! A `Deserialize` impl is compiled once for each deserializer it is used with, and the
//! oci-spec types are large: decoding them both through serde_json's own deserializer (state
//! files, the sync channel) and through serde_path_to_error's over a `serde_json::Value`
//! (config.json, process.json, `update --resources`) put two copies of their decoders in the
//! binary, and serde_path_to_error's tracking wraps every one of them (together ~320 KB of a
//! ~3.4 MB stripped `kiln`). Everything kiln reads goes through [`from_slice`] instead: plain
//! serde_json over bytes. The field a failure is about is then found from where serde_json
//! stopped ([`path_at`]): serde_json reports an error just after the value it rejects (or the
//! object a field is missing from), so the path of the containers open at that point, with
//! the key or index each is at, names it — `linux.namespaces[2].type`, as runc's users and
//! kiln's tests know it. A document that must be edited first (`config.json`'s flag names,
//! `exec --cap`) is a `Value` decoded with [`from_value`], through its bytes.

use serde::de::DeserializeOwned;

/// A document that did not decode into the type asked for.
#[derive(Debug)]
pub struct JsonError {
    /// The JSON path of the field that failed (`.` for the document itself), e.g.
    /// `linux.namespaces[2].type`.
    pub path: String,
    /// serde_json's error.
    pub source: serde_json::Error,
    /// Whether `source`'s line and column point into the caller's text (not into a
    /// re-encoded `Value`).
    positioned: bool,
}

impl JsonError {
    /// serde_json's wording, with its "at line L column C" only when it locates the field in
    /// the text the caller gave.
    pub fn reason(&self) -> String {
        let msg = self.source.to_string();
        if self.positioned || self.source.line() == 0 {
            return msg;
        }
        let suffix = format!(
            " at line {} column {}",
            self.source.line(),
            self.source.column()
        );
        msg.strip_suffix(&suffix).map(str::to_owned).unwrap_or(msg)
    }
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.reason())
    }
}

impl std::error::Error for JsonError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Decodes `bytes` (one JSON document, nothing after it but white space) into a `T`.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    serde_json::from_slice(bytes).map_err(|source| JsonError {
        path: path_at(bytes, offset_of(bytes, &source)),
        source,
        positioned: true,
    })
}

/// The byte offset in `text` of serde_json's error position (line and column, 1-based).
fn offset_of(text: &[u8], e: &serde_json::Error) -> usize {
    let line_start = text
        .split_inclusive(|&b| b == b'\n')
        .take(e.line().saturating_sub(1))
        .map(<[u8]>::len)
        .sum::<usize>();
    (line_start + e.column()).min(text.len())
}

/// Where a JSON scan is inside one container.
enum Open {
    /// An object, at this key (None: before its first key, or between a `,` and the next).
    Object(Option<String>),
    /// An array, at this element.
    Array(usize),
}

/// The path (`.` for the document) of the value being read at byte `offset` of `text`:
/// the key or index of every container open there. Text after `offset` is not looked at,
/// so a document cut short or malformed further on still gets a path.
pub fn path_at(text: &[u8], offset: usize) -> String {
    let mut open: Vec<Open> = Vec::new();
    let mut i = 0;
    while i < offset.min(text.len()) {
        match text[i] {
            b'{' => open.push(Open::Object(None)),
            b'[' => open.push(Open::Array(0)),
            b'}' | b']' => {
                open.pop();
            }
            b',' => match open.last_mut() {
                Some(Open::Object(key)) => *key = None,
                Some(Open::Array(n)) => *n += 1,
                None => {}
            },
            b'"' => {
                let end = string_end(text, i);
                // A string where an object has no key yet is its next key.
                if let Some(Open::Object(key @ None)) = open.last_mut() {
                    *key = Some(decode_key(&text[i..end]));
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    render(&open)
}

/// The index just past the string starting (with its `"`) at `start`.
fn string_end(text: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < text.len() {
        match text[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    text.len()
}

/// A key's text from its quoted JSON form (escapes decoded; as written if it does not decode).
fn decode_key(quoted: &[u8]) -> String {
    serde_json::from_slice::<String>(quoted).unwrap_or_else(|_| {
        let inner = &quoted[1..quoted.len().saturating_sub(1).max(1)];
        String::from_utf8_lossy(inner).into_owned()
    })
}

fn render(open: &[Open]) -> String {
    let mut path = String::new();
    for o in open {
        match o {
            Open::Object(Some(key)) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Open::Object(None) => {}
            Open::Array(n) => path.push_str(&format!("[{n}]")),
        }
    }
    if path.is_empty() {
        path.push('.');
    }
    path
}

/// Decodes an edited document into a `T` (through its bytes, so with the same decoder as
/// [`from_slice`]); errors carry no position, which would point into the re-encoding.
pub fn from_value<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, JsonError> {
    let unpositioned = |e: JsonError| JsonError {
        positioned: false,
        ..e
    };
    let bytes = serde_json::to_vec(value).map_err(|source| JsonError {
        path: ".".into(),
        source,
        positioned: false,
    })?;
    from_slice(&bytes).map_err(unpositioned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::Process;

    #[test]
    fn a_bad_field_is_named_by_its_path_with_its_position() {
        let text = br#"{"args": ["sh"], "cwd": "/", "user": {"uid": "zero"}}"#;
        let e = from_slice::<Process>(text).unwrap_err();
        assert_eq!(e.path, "user.uid");
        assert!(e.reason().contains("invalid type: string \"zero\""), "{e}");
        assert!(e.reason().contains("line 1 column"), "{e}");
    }

    #[test]
    fn an_edited_value_names_the_path_without_a_position() {
        let v = serde_json::json!({"args": ["sh"], "cwd": "/", "user": {"uid": -1}});
        let e = from_value::<Process>(&v).unwrap_err();
        assert_eq!(e.path, "user.uid");
        assert!(!e.reason().contains(" at line "), "{e}");
        assert!(e.to_string().starts_with("user.uid: invalid value"), "{e}");
    }

    #[test]
    fn trailing_text_and_bad_syntax_are_errors_of_the_document() {
        let e = from_slice::<Process>(
            br#"{"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}} x"#,
        )
        .unwrap_err();
        assert_eq!(e.path, ".");
        assert!(e.source.is_syntax(), "{e}");
        let e = from_slice::<Process>(br#"{"args": ["sh""#).unwrap_err();
        assert!(e.source.is_eof(), "{e}");
    }

    #[test]
    fn the_path_is_that_of_the_value_serde_json_stopped_after() {
        use oci_spec::runtime::Spec;
        let cases: [(&str, &str); 6] = [
            (
                r#"{"ociVersion": "1.0.2", "linux": {"namespaces": [{"type": "pid"},
                {"type": "mount"}, {"type": "foo"}]}}"#,
                "linux.namespaces[2].type",
            ),
            (
                r#"{"ociVersion": "1.0.2", "process": {"args": ["sh"]}}"#,
                "process",
            ),
            (
                r#"{"ociVersion": "1.0.2", "process": {"cwd": "/", "user": {"uid": 0, "gid": 0},
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1, "soft": 1},
                {"type": "BOGUS", "hard": 1, "soft": 1}]}}"#,
                "process.rlimits[1].type",
            ),
            (
                r#"{"ociVersion": "1.0.2", "annotations": {"a.b\"c": 7}}"#,
                "annotations.a.b\"c",
            ),
            (r#"{"ociVersion": "1.0.2", "hostname": 7}"#, "hostname"),
            (r#"{"ociVersion": 1}"#, "ociVersion"),
        ];
        for (text, path) in cases {
            let e = from_slice::<Spec>(text.as_bytes()).unwrap_err();
            assert_eq!(e.path, path, "{text}: {e}");
        }
    }

    #[test]
    fn path_at_survives_cut_and_malformed_text() {
        assert_eq!(path_at(br#"{"a": [1, {"b": "x"#, 99), "a[1].b");
        assert_eq!(path_at(br#"{"a": "\"}", "b": ["#, 99), "b[0]");
        assert_eq!(path_at(b"", 5), ".");
        assert_eq!(path_at(br#"]]}}{"#, 5), ".");
    }

    #[test]
    fn a_good_document_decodes() {
        let p: Process =
            from_slice(br#"{"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}}"#).unwrap();
        assert_eq!(p.args().as_deref(), Some(&["sh".to_string()][..]));
        let v = serde_json::json!({"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}});
        let p: Process = from_value(&v).unwrap();
        assert_eq!(p.cwd().to_str(), Some("/"));
    }
}
