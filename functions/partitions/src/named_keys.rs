//! Named partition keys: the `{source}` or `{tenant}` of a layout besides its time tokens, each
//! with a rule from the table's configuration, and the values that passed it.
//!
//! A value comes from an object key, a listing or a command, so it is hostile until its rule
//! says otherwise. A rule is a list of values (`{"values": ["web", "app"]}`) or a character class
//! and a length (`{"pattern": "a-z0-9_-", "max_len": 32}`). A class is built from ranges inside
//! `a-z`, `A-Z` or `0-9` and the single characters `_`, `-` and `.`, nothing else: no regex, so
//! no class can admit a quote, a slash, a space or a character outside ASCII. Whatever the rule,
//! a value is refused when it is empty, starts with `.`, or holds `..` or `--` (a path step out
//! of the prefix and an SQL comment marker, even though values are also escaped in SQL).
//! [`KeyValues`] can only be built by checking every value against its rule.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

/// The longest value a rule may allow.
pub const MAX_KEY_LEN: usize = 128;

/// The characters a class may name: what S3 keys, Glue values and SQL literals all take as is.
fn safe_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-.".contains(c)
}

/// A key's rule as written in `PARTITIONS_TABLES`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRuleInput {
    #[serde(default)]
    pub values: Option<Vec<String>>,
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub max_len: Option<usize>,
}

/// A character class: inclusive ranges of [`safe_char`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharClass {
    source: String,
    ranges: Vec<(char, char)>,
}

impl CharClass {
    /// Parses `a-z0-9_-`: ranges within one of `a-z`, `A-Z`, `0-9`, and single `_`, `-`, `.`
    /// (a `-` that does not sit between two ends of a range is the character itself).
    pub fn parse(source: &str) -> Result<Self, String> {
        let chars: Vec<char> = source.chars().collect();
        if chars.is_empty() {
            return Err("the pattern is empty".into());
        }
        let mut ranges = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c.is_ascii_alphanumeric() && chars.get(i + 1) == Some(&'-') && i + 2 < chars.len() {
                let end = chars[i + 2];
                if !same_group(c, end) || end < c {
                    return Err(format!(
                        "range `{c}-{end}` in pattern {source:?} is not inside a-z, A-Z or 0-9"
                    ));
                }
                ranges.push((c, end));
                i += 3;
            } else if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                ranges.push((c, c));
                i += 1;
            } else {
                return Err(format!(
                    "character {c:?} cannot be in a pattern: a class holds a-z, A-Z, 0-9 ranges and `_`, `-`, `.` only (pattern {source:?})"
                ));
            }
        }
        Ok(Self {
            source: source.to_string(),
            ranges,
        })
    }

    pub fn contains(&self, c: char) -> bool {
        self.ranges.iter().any(|&(a, b)| a <= c && c <= b)
    }

    /// Every character of the class, in the order written.
    pub fn members(&self) -> impl Iterator<Item = char> + '_ {
        self.ranges.iter().flat_map(|&(a, b)| a..=b)
    }

    pub fn source(&self) -> &str {
        &self.source
    }
}

fn same_group(a: char, b: char) -> bool {
    (a.is_ascii_lowercase() && b.is_ascii_lowercase())
        || (a.is_ascii_uppercase() && b.is_ascii_uppercase())
        || (a.is_ascii_digit() && b.is_ascii_digit())
}

/// What a named key's values may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRule {
    /// These values only, in the order configured (the order backfills walk them).
    Values(Vec<String>),
    /// Any value of 1 to `max_len` characters of the class.
    Pattern { class: CharClass, max_len: usize },
}

impl KeyRule {
    pub fn from_input(input: KeyRuleInput) -> Result<Self, String> {
        match (input.values, input.pattern, input.max_len) {
            (Some(values), None, None) => {
                if values.is_empty() {
                    return Err("`values` is empty".into());
                }
                for (i, v) in values.iter().enumerate() {
                    refuse_always(v, MAX_KEY_LEN)
                        .map_err(|e| format!("`values`: {e}; a value is 1 to {MAX_KEY_LEN} of a-z, A-Z, 0-9, `_`, `-`, `.`"))?;
                    if values[..i].contains(v) {
                        return Err(format!("`values` lists {v:?} twice"));
                    }
                }
                Ok(KeyRule::Values(values))
            }
            (None, Some(pattern), Some(max_len)) => {
                if !(1..=MAX_KEY_LEN).contains(&max_len) {
                    return Err(format!("`max_len` must be between 1 and {MAX_KEY_LEN}"));
                }
                let class = CharClass::parse(&pattern)?;
                Ok(KeyRule::Pattern { class, max_len })
            }
            (None, Some(_), None) => Err("`pattern` needs `max_len`".into()),
            (Some(_), Some(_), _) => Err("give `values` or `pattern`, not both".into()),
            (Some(_), None, Some(_)) => Err("`max_len` goes with `pattern`, not `values`".into()),
            (None, None, _) => Err(
                "a rule is {\"values\": [...]} or {\"pattern\": \"a-z0-9_-\", \"max_len\": N}"
                    .into(),
            ),
        }
    }

    /// Checks one value; the error says why, quoting (a bounded part of) the value.
    pub fn check(&self, value: &str) -> Result<(), String> {
        match self {
            KeyRule::Values(values) => {
                if values.iter().any(|v| v == value) {
                    return Ok(());
                }
                Err(format!(
                    "{} is not one of {}",
                    shown(value),
                    values.join(", ")
                ))
            }
            KeyRule::Pattern { class, max_len } => {
                refuse_always(value, *max_len)?;
                match value.chars().find(|&c| !class.contains(c)) {
                    None => Ok(()),
                    Some(c) => Err(format!(
                        "{} has {c:?}, outside the class {:?}",
                        shown(value),
                        class.source()
                    )),
                }
            }
        }
    }

    /// The values configuration checks column types with: each enumerated value, or for a
    /// class its characters in pieces of `max_len` and its first character `max_len` times.
    pub fn samples(&self) -> Vec<String> {
        match self {
            KeyRule::Values(values) => values.clone(),
            KeyRule::Pattern { class, max_len } => {
                let members: Vec<char> = class.members().filter(|&c| c != '.').collect();
                let mut out: Vec<String> = members
                    .chunks(*max_len)
                    .map(|piece| piece.iter().collect())
                    .collect();
                if let Some(first) = members.first() {
                    out.push(std::iter::repeat_n(*first, *max_len).collect());
                }
                out
            }
        }
    }
}

/// What no rule lets through: empty, too long, a character outside the safe set, a leading `.`,
/// `..` or `--`.
fn refuse_always(value: &str, max_len: usize) -> Result<(), String> {
    if value.is_empty() {
        return Err("the value is empty".into());
    }
    if value.len() > max_len {
        return Err(format!(
            "{} is {} bytes, longer than {max_len}",
            shown(value),
            value.len()
        ));
    }
    if let Some(c) = value.chars().find(|&c| !safe_char(c)) {
        return Err(format!(
            "{} has {c:?}, outside a-z, A-Z, 0-9, `_`, `-`, `.`",
            shown(value)
        ));
    }
    if value.starts_with('.') || value.contains("..") || value.contains("--") {
        return Err(format!(
            "{} starts with `.` or holds `..` or `--`",
            shown(value)
        ));
    }
    Ok(())
}

/// A value as errors quote it: escaped, and cut after 40 characters.
fn shown(value: &str) -> String {
    let head: String = value.chars().take(40).collect();
    if head.len() < value.len() {
        format!("{head:?}…")
    } else {
        format!("{value:?}")
    }
}

/// Names a key may have: lowercase letters, digits and `_`, starting with a letter, and not a
/// time token.
pub fn valid_key_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !["yyyy", "dd"].contains(&name)
}

/// A table's named keys and their rules (empty for a table of time tokens only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRules {
    rules: BTreeMap<String, KeyRule>,
}

impl KeyRules {
    pub fn new(rules: BTreeMap<String, KeyRule>) -> Self {
        Self { rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn has(&self, name: &str) -> bool {
        self.rules.contains_key(name)
    }

    pub fn get(&self, name: &str) -> Option<&KeyRule> {
        self.rules.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.rules.keys().map(String::as_str)
    }

    /// Checks one value of `name`; the error names the key.
    pub fn check_one(&self, name: &str, value: &str) -> Result<(), String> {
        let rule = self
            .rules
            .get(name)
            .ok_or_else(|| format!("no key `{name}` is configured"))?;
        rule.check(value).map_err(|e| format!("key `{name}`: {e}"))
    }

    /// The values of every key, each checked against its rule: the only way to a [`KeyValues`].
    pub fn check(&self, raw: BTreeMap<String, String>) -> Result<KeyValues, String> {
        for name in self.rules.keys() {
            if !raw.contains_key(name) {
                return Err(format!("no value for key `{name}`"));
            }
        }
        for (name, value) in &raw {
            self.check_one(name, value)?;
        }
        Ok(KeyValues(raw))
    }
}

/// Values of a table's named keys, every one checked against its rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyValues(BTreeMap<String, String>);

impl KeyValues {
    /// No named keys: what a table of time tokens only takes.
    pub fn none() -> Self {
        Self::default()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn same_names(&self, rules: &KeyRules) -> bool {
        self.0.keys().eq(rules.rules.keys())
    }
}

impl fmt::Display for KeyValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.iter().map(|(k, v)| format!("{k}={v}")).collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: &str) -> Result<KeyRule, String> {
        KeyRule::from_input(serde_json::from_str(json).unwrap())
    }

    /// Every hostile value the issue names, and a few more: none passes any rule.
    const HOSTILE: &[&str] = &[
        "web'",
        "we\"b",
        "web\\",
        "..",
        "a..b",
        ".web",
        "web/app",
        "../web",
        "web--",
        "--web",
        "web;",
        "web\0",
        "web\n",
        "web app",
        "w%2Fb",
        "web*/",
        "/*web",
        "wеb",            // Cyrillic е
        "ｗｅｂ",         // fullwidth
        "web\u{200b}",    // zero-width space
        "web\u{2010}app", // Unicode hyphen
        "",
    ];

    #[test]
    fn hostile_values_fail_the_widest_class_and_enumerations() {
        let widest = rule(r#"{"pattern": "a-zA-Z0-9_.-", "max_len": 128}"#).unwrap();
        let listed = rule(r#"{"values": ["web", "app"]}"#).unwrap();
        for value in HOSTILE {
            assert!(widest.check(value).is_err(), "{value:?} passed the class");
            assert!(listed.check(value).is_err(), "{value:?} passed the list");
        }
        assert!(widest.check(&"a".repeat(128)).is_ok());
        let e = widest.check(&"a".repeat(129)).unwrap_err();
        assert!(
            e.contains("129 bytes, longer than 128") && e.contains('…'),
            "{e}"
        );
        let short = rule(r#"{"pattern": "a-z", "max_len": 3}"#).unwrap();
        assert!(short.check("web").is_ok());
        assert!(short.check("webs").unwrap_err().contains("longer than 3"));
        assert!(
            short
                .check("Web")
                .unwrap_err()
                .contains("outside the class")
        );
        assert!(listed.check("web").is_ok());
        assert!(
            listed
                .check("Web")
                .unwrap_err()
                .contains("is not one of web, app")
        );
        assert!(
            rule(r#"{"pattern": "a-z", "max_len": 8}"#)
                .unwrap()
                .check("")
                .unwrap_err()
                .contains("empty")
        );
    }

    #[test]
    fn classes_are_ranges_and_three_punctuation_marks_only() {
        let c = CharClass::parse("a-f0-9_-").unwrap();
        assert!("abf09_-".chars().all(|ch| c.contains(ch)));
        assert!(!"gA.".chars().any(|ch| c.contains(ch)));
        assert_eq!(c.members().count(), 6 + 10 + 2);
        assert!(CharClass::parse("-a").unwrap().contains('-'));
        for (bad, why) in [
            ("a-Z", "not inside a-z, A-Z or 0-9"),
            ("z-a", "not inside"),
            ("0-z", "not inside"),
            ("a-z'", "cannot be in a pattern"),
            ("[a-z]", "cannot be in a pattern"),
            ("a-z/", "cannot be in a pattern"),
            ("a-z ", "cannot be in a pattern"),
            ("\\w", "cannot be in a pattern"),
            (".*", "cannot be in a pattern"),
            ("a-zé", "cannot be in a pattern"),
            ("", "empty"),
        ] {
            let e = CharClass::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn rules_are_one_of_two_shapes() {
        for (json, why) in [
            (r#"{"values": []}"#, "`values` is empty"),
            (r#"{"values": ["web", "web"]}"#, "twice"),
            (r#"{"values": ["we'b"]}"#, "`values`"),
            (r#"{"values": ["a..b"]}"#, "`..`"),
            (r#"{"pattern": "a-z"}"#, "needs `max_len`"),
            (r#"{"pattern": "a-z", "max_len": 0}"#, "between 1 and 128"),
            (r#"{"pattern": "a-z", "max_len": 129}"#, "between 1 and 128"),
            (
                r#"{"values": ["a"], "pattern": "a-z", "max_len": 2}"#,
                "not both",
            ),
            (r#"{"values": ["a"], "max_len": 2}"#, "goes with `pattern`"),
            (r#"{}"#, "a rule is"),
        ] {
            let e = rule(json).unwrap_err();
            assert!(e.contains(why), "{json}: {e}");
        }
        assert!(serde_json::from_str::<KeyRuleInput>(r#"{"regex": ".*"}"#).is_err());
    }

    #[test]
    fn key_values_exist_only_checked_and_complete() {
        let rules = KeyRules::new(BTreeMap::from([
            (
                "source".to_string(),
                rule(r#"{"values": ["web", "app"]}"#).unwrap(),
            ),
            (
                "tenant".to_string(),
                rule(r#"{"pattern": "a-z0-9", "max_len": 8}"#).unwrap(),
            ),
        ]));
        let raw = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let ok = rules
            .check(raw(&[("source", "web"), ("tenant", "t1")]))
            .unwrap();
        assert_eq!(ok.to_string(), "source=web,tenant=t1");
        assert!(ok.same_names(&rules));
        assert!(!KeyValues::none().same_names(&rules));
        let e = rules.check(raw(&[("source", "web")])).unwrap_err();
        assert_eq!(e, "no value for key `tenant`");
        let e = rules
            .check(raw(&[("source", "web"), ("tenant", "t'1")]))
            .unwrap_err();
        assert!(e.starts_with("key `tenant`: \"t'1\" has '\\''"), "{e}");
        let e = rules
            .check(raw(&[("source", "web"), ("tenant", "t"), ("x", "y")]))
            .unwrap_err();
        assert_eq!(e, "no key `x` is configured");
    }

    #[test]
    fn names_are_identifiers_and_not_time_tokens() {
        for good in ["source", "tenant_id", "s3"] {
            assert!(valid_key_name(good), "{good}");
        }
        for bad in [
            "",
            "Source",
            "1st",
            "_x",
            "yyyy",
            "dd",
            "a-b",
            "a b",
            &"a".repeat(65),
        ] {
            assert!(!valid_key_name(bad), "{bad}");
        }
    }

    #[test]
    fn samples_cover_every_character_and_the_longest_value() {
        let r = rule(r#"{"pattern": "0-9a-c", "max_len": 4}"#).unwrap();
        let s = r.samples();
        assert_eq!(s, vec!["0123", "4567", "89ab", "c", "0000"]);
        assert!(s.iter().all(|v| r.check(v).is_ok()));
    }
}
