//! Label matchers: conditions on an alert's labels and resource, all of which must hold. The one
//! matcher language of inhibition rules, silences, mute windows and routes, with Alertmanager's
//! four operators. JSON: an object of label names (see [`crate::model::BUILT_IN_LABELS`] and
//! `Alert::labels`) to
//! - a value or a list of values: the label is one of them (`=`);
//! - an object of operators, all of which must hold:
//!   `{"not": value or list}`: the label is none of them, or absent (`!=`);
//!   `{"regex": "..."}`, `{"not_regex": "..."}`: the whole label value matches, or does not
//!   match, the pattern, an absent label read as "" (`=~`, `!~`: anchored, as Alertmanager's);
//!
//! plus `resource_prefix` (a prefix or a list). Patterns are `regex-lite` syntax (no look-around,
//! no back-references, ASCII classes): matching is linear in the label's length whatever the
//! pattern, and a pattern is at most [`MAX_PATTERN_LEN`] characters, so a silence cannot make
//! the function slow.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::{Alert, AlertKind, Severity};

/// The longest pattern a matcher accepts.
pub const MAX_PATTERN_LEN: usize = 256;

/// Conditions on an alert's labels, all of which must hold. Read from configuration and
/// commands by [`parse_matcher`]; stored (in a silence) as it serializes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Matcher {
    /// Label name to the values it may have (any of): `=`.
    pub labels: BTreeMap<String, Vec<String>>,
    /// Label name to its other operators (`!=`, `=~`, `!~`), all of which must hold. Absent
    /// from silences stored before they existed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub conditions: BTreeMap<String, Vec<Condition>>,
    /// The resource (alarm name, cluster id...) starts with one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_prefix: Vec<String>,
}

/// One operator on one label, besides equality.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// None of these values (an absent label passes).
    Not(Vec<String>),
    Regex(Pattern),
    NotRegex(Pattern),
}

impl Condition {
    fn holds(&self, value: Option<&str>) -> bool {
        match self {
            Condition::Not(values) => value.is_none_or(|v| values.iter().all(|x| x != v)),
            Condition::Regex(p) => p.is_match(value.unwrap_or("")),
            Condition::NotRegex(p) => !p.is_match(value.unwrap_or("")),
        }
    }
}

/// A pattern anchored at both ends, kept with its source (what is stored and shown).
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Pattern {
    source: String,
    anchored: regex_lite::Regex,
}

impl Pattern {
    pub fn new(source: &str) -> Result<Self, String> {
        if source.chars().count() > MAX_PATTERN_LEN {
            return Err(format!("pattern longer than {MAX_PATTERN_LEN} characters"));
        }
        let anchored = regex_lite::Regex::new(&format!("^(?:{source})$"))
            .map_err(|e| format!("pattern {source:?}: {e}"))?;
        Ok(Self {
            source: source.to_string(),
            anchored,
        })
    }

    pub fn is_match(&self, value: &str) -> bool {
        self.anchored.is_match(value)
    }
}

impl TryFrom<String> for Pattern {
    type Error = String;

    fn try_from(source: String) -> Result<Self, String> {
        Pattern::new(&source)
    }
}

impl From<Pattern> for String {
    fn from(p: Pattern) -> String {
        p.source
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

impl Matcher {
    pub fn matches(&self, alert: &Alert) -> bool {
        self.matches_with(|name| alert.label(name), &alert.resource)
    }

    /// The same test over any labels (a group notification's, for routing) and resource.
    pub fn matches_with<'a>(
        &self,
        label: impl Fn(&str) -> Option<&'a str>,
        resource: &str,
    ) -> bool {
        let equal = self
            .labels
            .iter()
            .all(|(name, values)| label(name).is_some_and(|v| values.iter().any(|want| want == v)));
        let conditions = self
            .conditions
            .iter()
            .all(|(name, all)| all.iter().all(|c| c.holds(label(name))));
        let prefix = self.resource_prefix.is_empty()
            || self
                .resource_prefix
                .iter()
                .any(|p| resource.starts_with(p.as_str()));
        equal && conditions && prefix
    }
}

pub(crate) fn parse_matcher(m: &Map<String, Value>) -> Result<Matcher, String> {
    if m.is_empty() {
        return Err("empty: a matcher needs at least one label (it would match everything)".into());
    }
    let mut out = Matcher::default();
    for (name, v) in m {
        if let Value::Object(operators) = v {
            if name == "resource_prefix" {
                return Err("resource_prefix: a prefix or a list of prefixes, no operators".into());
            }
            let conditions = parse_operators(operators).map_err(|e| format!("{name}: {e}"))?;
            out.conditions.insert(name.clone(), conditions);
            continue;
        }
        let values = strings(v).map_err(|e| format!("{name}: {e}"))?;
        check_values(name, &values)?;
        if name == "resource_prefix" {
            out.resource_prefix = values;
        } else {
            out.labels.insert(name.clone(), values);
        }
    }
    Ok(out)
}

/// `{"not": .., "regex": .., "not_regex": ..}`: at least one, each once.
fn parse_operators(operators: &Map<String, Value>) -> Result<Vec<Condition>, String> {
    if operators.is_empty() {
        return Err("empty operators: give `not`, `regex` or `not_regex`".into());
    }
    let pattern = |v: &Value| match v {
        Value::String(s) if !s.is_empty() => Pattern::new(s),
        _ => Err(format!("{v} is not a non-empty pattern string")),
    };
    operators
        .iter()
        .map(|(op, v)| match op.as_str() {
            "not" => Ok(Condition::Not(strings(v).map_err(|e| format!("not: {e}"))?)),
            "regex" => Ok(Condition::Regex(
                pattern(v).map_err(|e| format!("regex: {e}"))?,
            )),
            "not_regex" => Ok(Condition::NotRegex(
                pattern(v).map_err(|e| format!("not_regex: {e}"))?,
            )),
            other => Err(format!(
                "unknown operator {other:?} (`not`, `regex`, `not_regex`)"
            )),
        })
        .collect()
}

/// Equality values of the labels whose values are known: `kind` and `severity`.
fn check_values(name: &str, values: &[String]) -> Result<(), String> {
    match name {
        "kind" => {
            for k in values {
                if !AlertKind::ALL.iter().any(|known| known.as_str() == k) {
                    let known: Vec<_> = AlertKind::ALL.iter().map(|k| k.as_str()).collect();
                    return Err(format!("kind: unknown kind {k:?} ({})", known.join(", ")));
                }
            }
        }
        "severity" => {
            for s in values {
                let parsed: Severity = s.parse().map_err(|e| format!("severity: {e}"))?;
                if parsed.as_str() != s {
                    return Err(format!("severity: write {s:?} as {:?}", parsed.as_str()));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// A string or a non-empty array of non-empty strings.
pub(crate) fn strings(v: &Value) -> Result<Vec<String>, String> {
    let list = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or("a list of strings only")?,
        _ => {
            return Err(format!(
                "{v} is not a string or a non-empty list of strings"
            ));
        }
    };
    if list.iter().any(String::is_empty) {
        return Err("empty string".into());
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Matcher, String> {
        parse_matcher(v.as_object().unwrap())
    }

    fn labels<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }

    #[test]
    fn the_four_operators_hold_as_alertmanagers() {
        let m = parse(json!({
            "pipeline": {"regex": "orders-.*"},
            "severity": {"not": "warning"},
            "region": {"not_regex": "eu-.*"},
            "account": "123456789012"
        }))
        .unwrap();
        let base = [
            ("pipeline", "orders-eu"),
            ("severity", "critical"),
            ("region", "us-east-1"),
            ("account", "123456789012"),
        ];
        assert!(m.matches_with(labels(&base), "r"));
        let mut other = base;
        other[0].1 = "payments";
        assert!(!m.matches_with(labels(&other), "r"), "=~ is anchored");
        other = base;
        other[0].1 = "xorders-eu";
        assert!(
            !m.matches_with(labels(&other), "r"),
            "anchored at the start too"
        );
        other = base;
        other[1].1 = "warning";
        assert!(!m.matches_with(labels(&other), "r"), "!=");
        other = base;
        other[2].1 = "eu-west-1";
        assert!(!m.matches_with(labels(&other), "r"), "!~");
    }

    #[test]
    fn an_absent_label_passes_not_and_is_empty_for_patterns() {
        let not = parse(json!({"cluster_id": {"not": "j-1"}})).unwrap();
        assert!(not.matches_with(labels(&[]), "r"));
        let any = parse(json!({"cluster_id": {"regex": ".*"}})).unwrap();
        assert!(any.matches_with(labels(&[]), "r"));
        let some = parse(json!({"cluster_id": {"regex": ".+"}})).unwrap();
        assert!(!some.matches_with(labels(&[]), "r"));
        let both = parse(json!({"cluster_id": {"regex": "j-.*", "not": ["j-2", "j-3"]}})).unwrap();
        assert!(both.matches_with(labels(&[("cluster_id", "j-1")]), "r"));
        assert!(
            !both.matches_with(labels(&[("cluster_id", "j-2")]), "r"),
            "every operator holds"
        );
    }

    #[test]
    fn bad_operators_and_patterns_are_refused_naming_the_label() {
        let refused = |v: Value| parse(v).unwrap_err();
        assert!(
            refused(json!({"pipeline": {"regex": "("}})).starts_with("pipeline: regex: pattern")
        );
        assert!(
            refused(json!({"pipeline": {"regex": "a".repeat(257)}})).contains("longer than 256")
        );
        assert!(refused(json!({"pipeline": {"regex": ""}})).contains("non-empty pattern"));
        assert!(refused(json!({"pipeline": {"like": "x"}})).contains("unknown operator \"like\""));
        assert!(refused(json!({"pipeline": {}})).contains("empty operators"));
        assert!(refused(json!({"resource_prefix": {"not": "x"}})).contains("no operators"));
        assert!(refused(json!({"pipeline": {"not": []}})).starts_with("pipeline: not:"));
        // Look-around and back-references are not in the linear-time syntax.
        assert!(refused(json!({"pipeline": {"regex": "(a)\\1"}})).contains("pattern"));
    }

    #[test]
    fn a_matcher_round_trips_through_its_stored_form_and_old_forms_still_read() {
        let m = parse(json!({"pipeline": {"regex": "orders-.*", "not": "orders-test"}, "kind": "metric-alarm"}))
            .unwrap();
        let stored = serde_json::to_value(&m).unwrap();
        assert_eq!(
            stored,
            json!({"labels": {"kind": ["metric-alarm"]},
                   "conditions": {"pipeline": [{"not": ["orders-test"]}, {"regex": "orders-.*"}]}})
        );
        let back: Matcher = serde_json::from_value(stored).unwrap();
        assert_eq!(back, m);
        assert!(back.matches_with(
            labels(&[("pipeline", "orders-eu"), ("kind", "metric-alarm")]),
            "r"
        ));
        let before_operators: Matcher =
            serde_json::from_value(json!({"labels": {"cluster_id": ["j-1"]}})).unwrap();
        assert!(before_operators.conditions.is_empty());
        let bad: Result<Matcher, _> =
            serde_json::from_value(json!({"labels": {}, "conditions": {"p": [{"regex": "("}]}}));
        assert!(bad.is_err(), "a stored pattern is compiled when read");
    }
}
