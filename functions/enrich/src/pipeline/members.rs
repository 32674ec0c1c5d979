//! The borrowed, zero-copy view of a record: its top-level members as unparsed JSON text,
//! sliced from the record itself ([`Members`]), and a value found at a field path ([`Found`]),
//! typed by its first byte and decoded only when a rule reads it.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use crate::encoding::json_kind;
use crate::spec::FieldType;

/// A member name, borrowed from the record text unless it contained escapes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(transparent)]
pub(super) struct Key<'a>(#[serde(borrow)] pub(super) Cow<'a, str>);

/// A record's top-level members in key order, each with its value's JSON text (borrowed from
/// the record unless the parser had to copy it). A duplicated name keeps its last value, as a
/// JSON object read into a map would.
#[derive(Debug, Clone, Default)]
pub(super) struct Members<'a>(pub(super) Vec<(Key<'a>, Cow<'a, str>)>);

impl<'a> Members<'a> {
    /// One validating SIMD pass over the record (sonic-rs); the values are not decoded.
    pub(super) fn parse(text: &'a str) -> Result<Self, sonic_rs::Error> {
        let mut members = sonic_rs::from_str::<Members<'a>>(text)?;
        // A stable sort keeps duplicates in input order; the last one wins.
        members.0.sort_by(|a, b| a.0.cmp(&b.0));
        members.0.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(later, kept);
            }
            same
        });
        Ok(members)
    }

    pub(super) fn index(&self, name: &str) -> Option<usize> {
        // Events have a handful of members: comparing lengths first rejects almost every
        // non-match without touching the text, cheaper than bisecting with string compares.
        if self.0.len() <= 16 {
            self.0
                .iter()
                .position(|(k, _)| k.0.len() == name.len() && k.0 == name)
        } else {
            self.0
                .binary_search_by(|(k, _)| k.0.as_ref().cmp(name))
                .ok()
        }
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.index(name).map(|i| self.0[i].1.as_ref())
    }

    /// A top-level member's JSON text as a slice of the record itself, when the parser did not
    /// have to copy it: what lives as long as the record does.
    pub(super) fn get_in_record(&self, name: &str) -> Option<&'a str> {
        match self.0[self.index(name)?].1 {
            Cow::Borrowed(text) => Some(text),
            Cow::Owned(_) => None,
        }
    }
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Self::Value, M::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    let value: sonic_rs::LazyValue<'de> = map.next_value()?;
                    out.push((key, value.as_raw_cow()));
                }
                Ok(Members(out))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// A value found at a field path: JSON text for a top-level member, parsed for a nested one.
#[derive(Debug, Clone, Copy)]
pub(super) enum Found<'p> {
    Raw(&'p str),
    Parsed(&'p Value),
}

impl<'p> Found<'p> {
    pub(super) fn kind(self) -> &'static str {
        match self {
            Found::Parsed(v) => json_kind(v),
            Found::Raw(r) => match r.as_bytes().first() {
                Some(b'"') => "string",
                Some(b'{') => "object",
                Some(b'[') => "array",
                Some(b't' | b'f') => "boolean",
                Some(b'n') => "null",
                _ => "number",
            },
        }
    }

    pub(super) fn matches(self, t: FieldType) -> bool {
        match self {
            Found::Parsed(v) => t.matches(v),
            Found::Raw(r) => match t {
                FieldType::Integer => {
                    self.kind() == "number" && !r.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'))
                }
                other => self.kind() == other.as_str(),
            },
        }
    }

    /// The string's value (unescaped), for a JSON string.
    pub(super) fn text(self) -> Option<Cow<'p, str>> {
        match self {
            Found::Parsed(Value::String(s)) => Some(Cow::Borrowed(s)),
            Found::Parsed(_) => None,
            Found::Raw(t) => {
                if !t.starts_with('"') {
                    None
                } else if !t.contains('\\') {
                    Some(Cow::Borrowed(&t[1..t.len() - 1]))
                } else {
                    serde_json::from_str::<String>(t).ok().map(Cow::Owned)
                }
            }
        }
    }

    /// The JSON text of a number.
    pub(super) fn number(self) -> Option<Cow<'p, str>> {
        match self {
            Found::Parsed(Value::Number(n)) => Some(Cow::Owned(n.to_string())),
            Found::Parsed(_) => None,
            Found::Raw(r) => (self.kind() == "number").then_some(Cow::Borrowed(r)),
        }
    }

    /// A string's value or a number's text: what keys and PII rules operate on.
    pub(super) fn scalar(self) -> Option<Cow<'p, str>> {
        self.text().or_else(|| self.number())
    }

    /// Any value as text: strings unescaped, everything else its JSON.
    pub(super) fn as_text(self) -> Cow<'p, str> {
        match (self.text(), self) {
            (Some(t), _) => t,
            (None, Found::Raw(r)) => Cow::Borrowed(r),
            (None, Found::Parsed(v)) => Cow::Owned(v.to_string()),
        }
    }
}
