//! Strategies for the generated-input (property) tests of every crate (feature `proptest`):
//! arbitrary JSON, text that breaks parsers and injection guards (quotes, backticks, semicolons,
//! newlines, `%`-escapes, bidirectional controls), edits of a real fixture (a member removed,
//! replaced by junk or retyped, a string cut or spliced), and S3's form-URL encoding of keys.
//!
//! Proptest reads `PROPTEST_CASES` (default 256) for every property that keeps the default
//! configuration; the fixture edits make most cases reach the parser's inner paths instead of
//! failing at the first member.

use proptest::prelude::*;
use serde_json::{Map, Value};

/// Fragments that have broken parsers and escaping before: SQL and header injection, escapes
/// that are not, control and bidirectional characters, path tricks, multi-byte text.
pub const NASTY: &[&str] = &[
    "'",
    "\"",
    "`",
    ";",
    "\n",
    "\r\n",
    "\t",
    "\\",
    "\\'",
    "%",
    "%2",
    "%G1",
    "%FF",
    "%00",
    "%0A",
    "%2B",
    "%2F",
    "%3D",
    "+",
    " ",
    "/",
    "//",
    "../",
    "{",
    "}",
    "{yyyy}",
    "=",
    "#",
    ":",
    "?",
    "@",
    "*",
    "\u{0}",
    "\u{7f}",
    "\u{85}",
    "\u{202E}",
    "\u{2028}",
    "\u{FEFF}",
    "é",
    "日本",
    "🚨",
    "٣",
    "２０",
    "--",
    "/*",
    "*/",
    "' OR '1'='1",
    "'); DROP TABLE t; --",
    "`; DROP DATABASE d",
    "\r\nX-Injected: 1",
    "0",
    "-1",
    "+1",
    "007",
    "1e400",
    "NaN",
    "null",
    "true",
    "[]",
    "{}",
    "9223372036854775807",
    "18446744073709551616",
    "2026-11-23T10:00:00Z",
    "_metadata",
    "chk-",
    "savepoint-",
    ".inprogress",
    "_tmp_",
    "_SUCCESS",
    "_$folder$",
];

/// One of [`NASTY`].
pub fn nasty() -> impl Strategy<Value = String> {
    prop::sample::select(NASTY).prop_map(str::to_string)
}

/// Text as outside input carries it: printable ASCII, any Unicode, or words spliced with
/// [`nasty`] fragments.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[ -~]{0,24}",
        1 => any::<String>().prop_map(|s| s.chars().take(24).collect()),
        3 => prop::collection::vec(prop_oneof!["[a-z0-9]{1,5}", nasty()], 0..6)
            .prop_map(|parts| parts.concat()),
    ]
}

/// A JSON scalar: null, booleans, integers at the edges, floats, text.
pub fn json_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::num::f64::NORMAL.prop_map(Value::from),
        prop::sample::select(&[0i64, -1, 1, i64::MAX, i64::MIN][..]).prop_map(Value::from),
        text().prop_map(Value::String),
    ]
}

/// Any JSON document of modest size, its members named from `keys` (or any text).
pub fn json_value_with(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        3 => prop::sample::select(keys).prop_map(str::to_string),
        1 => text(),
    ];
    json_scalar().prop_recursive(3, 32, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Any JSON document of modest size.
pub fn json_value() -> impl Strategy<Value = Value> {
    json_value_with(&[
        "Records",
        "command",
        "detail-type",
        "source",
        "detail",
        "body",
    ])
}

/// What one [`Mutation`] does to the member it lands on.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Removes the member from its object or array (a scalar root becomes `null`).
    Remove,
    /// Replaces it with another value.
    Replace(Value),
    /// Changes its type while keeping its meaning where one can: `"12"` ↔ `12`, an object ↔ the
    /// JSON text of it (how `reasonData` and SNS messages embed JSON), `true` ↔ `"true"`.
    Retype,
    /// Strings: inserts `text` at char `at` (modulo the length); numbers: replaced by `at`.
    Splice { at: usize, text: String },
    /// Strings: cut to `at` chars (modulo the length); arrays: the first `at` elements.
    Truncate { at: usize },
}

/// An edit at a member found by walking `path` (each step picks a member modulo the count; the
/// walk stops at a scalar or when the path runs out).
#[derive(Debug, Clone)]
pub struct Mutation {
    pub path: Vec<usize>,
    pub edit: Edit,
}

pub fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        2 => Just(Edit::Remove),
        2 => json_value().prop_map(Edit::Replace),
        1 => Just(Edit::Retype),
        3 => (any::<usize>(), text()).prop_map(|(at, text)| Edit::Splice { at, text }),
        1 => any::<usize>().prop_map(|at| Edit::Truncate { at }),
    ]
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    (prop::collection::vec(any::<usize>(), 0..7), edit())
        .prop_map(|(path, edit)| Mutation { path, edit })
}

/// One to `max` mutations.
pub fn mutations(max: usize) -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..=max.max(1))
}

/// `doc` with every mutation applied in turn.
pub fn mutate(doc: &Value, mutations: &[Mutation]) -> Value {
    let mut doc = doc.clone();
    for m in mutations {
        apply(&mut doc, &m.path, &m.edit);
    }
    doc
}

fn apply(v: &mut Value, path: &[usize], edit: &Edit) {
    let Some((&step, rest)) = path.split_first() else {
        return edit_in_place(v, edit);
    };
    match v {
        Value::Object(members) if !members.is_empty() => {
            let key = members
                .keys()
                .nth(step % members.len())
                .cloned()
                .expect("in range");
            if rest.is_empty() && matches!(edit, Edit::Remove) {
                members.remove(&key);
            } else {
                apply(members.get_mut(&key).expect("present"), rest, edit);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = step % items.len();
            if rest.is_empty() && matches!(edit, Edit::Remove) {
                items.remove(i);
            } else {
                apply(&mut items[i], rest, edit);
            }
        }
        _ => edit_in_place(v, edit),
    }
}

fn edit_in_place(v: &mut Value, edit: &Edit) {
    match edit {
        Edit::Remove => *v = Value::Null,
        Edit::Replace(new) => *v = new.clone(),
        Edit::Retype => *v = retyped(v),
        Edit::Splice { at, text } => match v {
            Value::String(s) => {
                let n = s.chars().count();
                let byte = s
                    .char_indices()
                    .nth(at % (n + 1))
                    .map_or(s.len(), |(i, _)| i);
                s.insert_str(byte, text);
            }
            Value::Number(_) => *v = Value::from(*at as u64),
            other => *other = Value::String(text.clone()),
        },
        Edit::Truncate { at } => match v {
            Value::String(s) => {
                let n = s.chars().count();
                *s = s.chars().take(at % (n + 1)).collect();
            }
            Value::Array(items) => items.truncate(at % (items.len() + 1)),
            _ => {}
        },
    }
}

fn retyped(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        Value::Null => Value::String(String::new()),
        other => Value::String(other.to_string()),
    }
}

/// `key` as S3 event notifications carry it: form-URL-encoded, a space as `+` (a plus itself as
/// `%2B`), everything outside `[A-Za-z0-9-_.~/]` as `%XX` of its UTF-8 bytes. `escape_more[i]`
/// also escapes the i-th safe character (a decoder must not care), `lower` writes lower-case hex.
pub fn form_encode(key: &str, escape_more: &[bool], lower: bool) -> String {
    let mut out = String::with_capacity(key.len() * 3);
    let mut buf = [0u8; 4];
    for (i, c) in key.chars().enumerate() {
        let safe = c.is_ascii_alphanumeric() || "-_.~/".contains(c);
        if c == ' ' {
            out.push('+');
        } else if safe && !escape_more.get(i).copied().unwrap_or(false) {
            out.push(c);
        } else {
            for b in c.encode_utf8(&mut buf).bytes() {
                if lower {
                    out.push_str(&format!("%{b:02x}"));
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mutations_land_where_the_path_points() {
        let doc = json!({"a": {"b": "xy", "c": [1, 2]}});
        let m = |path: Vec<usize>, edit| Mutation { path, edit };
        assert_eq!(
            mutate(&doc, &[m(vec![0, 0], Edit::Remove)]),
            json!({"a": {"c": [1, 2]}})
        );
        let spliced = Edit::Splice {
            at: 1,
            text: "'".into(),
        };
        assert_eq!(
            mutate(&doc, &[m(vec![0, 0], spliced)]),
            json!({"a": {"b": "x'y", "c": [1, 2]}})
        );
        assert_eq!(
            mutate(&doc, &[m(vec![0, 1], Edit::Retype)]),
            json!({"a": {"b": "xy", "c": "[1,2]"}})
        );
        assert_eq!(form_encode("a b+c=é/x", &[], false), "a+b%2Bc%3D%C3%A9/x");
        assert_eq!(form_encode("ab", &[false, true], true), "a%62");
    }
}
