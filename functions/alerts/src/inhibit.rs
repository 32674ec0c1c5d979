//! Inhibition rules: while a source alert is firing, target alerts with the same `equal`
//! labels are recorded but not sent (Alertmanager's `inhibit_rules`). Pure: rules parsed from
//! `ALERTS_INHIBIT_RULES`, matching, the keys firing sources are stored under, and whether a
//! stored source still fires given its state record.
//!
//! Storage (see `store.rs`): a firing source is written as an [`Inhibitor`] under the key
//! `<rule>#<digest of its equal-label values>#<source fingerprint>` *before* its own state
//! record is written, so a state record that says "firing" always has its inhibitor. An
//! inhibitor is only a pointer: a target is inhibited only if the source's state record (the
//! one the claim protocol writes) still holds the state the inhibitor was written for, and the
//! rule's `max_minutes` have not passed. A source that resolved, or moved on, inhibits nothing,
//! without anyone deleting its inhibitor (its TTL does).
//!
//! Rule JSON, an array of:
//! `{"name": "emr-down", "source": {"kind": "emr-cluster", "state": "TERMINATED_WITH_ERRORS"},
//!   "target": {"kind": ["metric-alarm", "composite-alarm"], "resource_prefix": ["streamops-"]},
//!   "equal": ["account", "region", "cluster_id"], "max_minutes": 360}`
//! A matcher is [`crate::matcher`]'s: label names to values or operators (`not`, `regex`,
//! `not_regex`), plus `resource_prefix`; all its entries must hold. Only problems (critical, error, warning) are sources
//! or targets: a resolved notice is never inhibited (whoever was paged hears the recovery).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::dedup::StoredState;
pub use crate::matcher::Matcher;
use crate::matcher::{parse_matcher, strings};
use crate::model::Alert;

/// How long a source inhibits at most, unless its rule says otherwise: a terminal state (an EMR
/// cluster that terminated) never resolves, and symptoms that persist past it must page.
pub const DEFAULT_MAX_MINUTES: i64 = 360;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InhibitRule {
    pub name: String,
    pub source: Matcher,
    pub target: Matcher,
    pub equal: Vec<String>,
    pub max_minutes: i64,
}

/// A firing source as stored: what it is and the state it fires with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inhibitor {
    pub rule: String,
    /// Digest of the `equal` label values: sources and targets meet under it.
    pub key: String,
    pub equal: BTreeMap<String, String>,
    pub source_fingerprint: String,
    pub source_resource: String,
    pub source_state: String,
    pub source_time: DateTime<Utc>,
    /// When the rule stops honouring this source (`source_time` + the rule's `max_minutes`).
    pub until: DateTime<Utc>,
}

impl Inhibitor {
    /// The sort key it is stored under; [`query_prefix`] of its rule and key finds it.
    pub fn sort_key(&self) -> String {
        format!(
            "{}{}",
            query_prefix(&self.rule, &self.key),
            self.source_fingerprint
        )
    }

    /// Whether the source still fires: its latest recorded state is the one it was stored
    /// with, and the rule's time bound has not passed.
    pub fn is_firing(&self, record: Option<&StoredState>, now: DateTime<Utc>) -> bool {
        now < self.until && record.is_some_and(|r| r.state == self.source_state)
    }
}

/// A target muted by a source, listed with the source by the `inhibitions` command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MutedTarget {
    pub fingerprint: String,
    pub resource: String,
    pub state: String,
    pub time: DateTime<Utc>,
    pub rule: String,
}

impl MutedTarget {
    pub fn of(alert: &Alert, rule: &str) -> Self {
        Self {
            fingerprint: alert.fingerprint.clone(),
            resource: alert.resource.clone(),
            state: alert.state.clone(),
            time: alert.time,
            rule: rule.to_string(),
        }
    }
}

/// Where the sources of `rule` with equal-label digest `key` are stored.
pub fn query_prefix(rule: &str, key: &str) -> String {
    format!("{rule}#{key}#")
}

impl InhibitRule {
    /// The equal-label values of `alert` and their digest; `None` if one is missing (an alert
    /// without the label is on no particular cluster, so it is not "the same" one).
    fn key_of(&self, alert: &Alert) -> Option<(String, BTreeMap<String, String>)> {
        let mut values = BTreeMap::new();
        let mut h = Sha256::new();
        for name in &self.equal {
            let v = alert.label(name)?;
            h.update(name.as_bytes());
            h.update([0x1f]);
            h.update(v.as_bytes());
            h.update([0x1e]);
            values.insert(name.clone(), v.to_string());
        }
        Some((hex::encode(&h.finalize()[..12]), values))
    }

    /// The inhibitor `alert` is under this rule, if it is one of its sources.
    pub fn inhibitor(&self, alert: &Alert) -> Option<Inhibitor> {
        if !alert.severity.is_problem() || !self.source.matches(alert) {
            return None;
        }
        let (key, equal) = self.key_of(alert)?;
        Some(Inhibitor {
            rule: self.name.clone(),
            key,
            equal,
            source_fingerprint: alert.fingerprint.clone(),
            source_resource: alert.resource.clone(),
            source_state: alert.state.clone(),
            source_time: alert.time,
            until: alert.time + Duration::minutes(self.max_minutes),
        })
    }

    /// The prefix the sources that could mute `alert` are stored under, if it is a target.
    pub fn target_prefix(&self, alert: &Alert) -> Option<String> {
        if !alert.severity.is_problem() || !self.target.matches(alert) {
            return None;
        }
        let (key, _) = self.key_of(alert)?;
        Some(query_prefix(&self.name, &key))
    }
}

/// Parses `ALERTS_INHIBIT_RULES`; the error names the rule (by name or position) and the field.
pub fn parse_rules(text: &str) -> Result<Vec<InhibitRule>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Array(items) = v else {
        return Err("not a JSON array of rules".into());
    };
    let mut names = BTreeSet::new();
    let mut rules = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let which = item.get("name").and_then(Value::as_str).map_or_else(
            || format!("rule #{}", i + 1),
            |n| format!("rule {n:?} (#{})", i + 1),
        );
        let rule = parse_rule(item).map_err(|e| format!("{which}: {e}"))?;
        if !names.insert(rule.name.clone()) {
            return Err(format!("{which}: name: another rule has this name"));
        }
        rules.push(rule);
    }
    Ok(rules)
}

const RULE_FIELDS: &[&str] = &["name", "source", "target", "equal", "max_minutes"];

fn parse_rule(item: &Value) -> Result<InhibitRule, String> {
    let obj = item.as_object().ok_or("not a JSON object")?;
    if let Some(extra) = obj.keys().find(|k| !RULE_FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "{extra}: unknown field (fields: {})",
            RULE_FIELDS.join(", ")
        ));
    }
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or("name: missing (a non-empty string)")?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err("name: letters, digits, '-', '_' and '.' only (it is part of a key)".into());
    }
    let matcher = |field: &str| match obj.get(field) {
        Some(Value::Object(m)) => parse_matcher(m).map_err(|e| format!("{field}.{e}")),
        Some(_) => Err(format!("{field}: not a JSON object of label matchers")),
        None => Err(format!(
            "{field}: missing (a JSON object of label matchers)"
        )),
    };
    let (source, target) = (matcher("source")?, matcher("target")?);
    let equal = match obj.get("equal") {
        None => vec![],
        Some(v) => strings(v).map_err(|e| format!("equal: {e}"))?,
    };
    let max_minutes = match obj.get("max_minutes") {
        None => DEFAULT_MAX_MINUTES,
        Some(v) => v
            .as_i64()
            .filter(|m| *m > 0)
            .ok_or_else(|| format!("max_minutes: {v} is not a positive whole number of minutes"))?,
    };
    Ok(InhibitRule {
        name: name.to_string(),
        source,
        target,
        equal,
        max_minutes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::next_state;
    use crate::model::{AlertKind, Severity};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn alert(kind: AlertKind, resource: &str, state: &str, severity: Severity) -> Alert {
        Alert {
            kind,
            severity,
            title: String::new(),
            summary: String::new(),
            source: "aws.test".into(),
            detail_type: String::new(),
            resource: resource.into(),
            region: Some("us-east-1".into()),
            account: Some("1".into()),
            time: at("2026-11-23T10:00:00Z"),
            state: state.into(),
            previous_state: None,
            event_id: format!("{resource}@{state}"),
            console_url: None,
            runbook_url: None,
            details: vec![],
            fingerprint: format!("fp-{resource}"),
            suppressed_by: None,
            labels: [("cluster_id".to_string(), "j-1".to_string())].into(),
        }
    }

    fn rule() -> InhibitRule {
        parse_rules(
            r#"[{"name": "emr-down",
                "source": {"kind": "emr-cluster", "state": "TERMINATED_WITH_ERRORS"},
                "target": {"kind": ["metric-alarm", "composite-alarm"], "resource_prefix": ["streamops-"]},
                "equal": ["account", "region", "cluster_id"], "max_minutes": 60}]"#,
        )
        .unwrap()
        .remove(0)
    }

    #[test]
    fn a_source_and_its_targets_meet_under_one_key() {
        let r = rule();
        let cluster = alert(
            AlertKind::EmrCluster,
            "j-1",
            "TERMINATED_WITH_ERRORS",
            Severity::Critical,
        );
        let lag = alert(
            AlertKind::MetricAlarm,
            "streamops-flink-lag",
            "ALARM",
            Severity::Critical,
        );
        let inh = r.inhibitor(&cluster).expect("a source");
        assert_eq!(
            r.target_prefix(&lag),
            Some(query_prefix("emr-down", &inh.key))
        );
        assert!(inh.sort_key().starts_with(&r.target_prefix(&lag).unwrap()));
        assert_eq!(inh.until, at("2026-11-23T11:00:00Z"));
        // Another cluster's alarm has another key; an alarm without the label is no target.
        let mut elsewhere = lag.clone();
        elsewhere.labels.insert("cluster_id".into(), "j-2".into());
        assert_ne!(r.target_prefix(&elsewhere), r.target_prefix(&lag));
        let mut unlabelled = lag.clone();
        unlabelled.labels.clear();
        assert_eq!(r.target_prefix(&unlabelled), None);
        // A recovery is never a target, a cluster that merely terminated is no source.
        let ok = alert(
            AlertKind::MetricAlarm,
            "streamops-flink-lag",
            "OK",
            Severity::Resolved,
        );
        assert_eq!(r.target_prefix(&ok), None);
        let done = alert(
            AlertKind::EmrCluster,
            "j-1",
            "TERMINATED",
            Severity::Warning,
        );
        assert_eq!(r.inhibitor(&done), None);
        assert_eq!(r.target_prefix(&cluster), None, "other prefix and kind");
    }

    #[test]
    fn a_source_fires_while_its_record_holds_its_state_and_the_bound_has_not_passed() {
        let cluster = alert(
            AlertKind::EmrCluster,
            "j-1",
            "TERMINATED_WITH_ERRORS",
            Severity::Critical,
        );
        let inh = rule().inhibitor(&cluster).unwrap();
        let record = next_state(None, &cluster, Some(0), None);
        assert!(inh.is_firing(Some(&record), at("2026-11-23T10:30:00Z")));
        assert!(
            !inh.is_firing(Some(&record), at("2026-11-23T11:00:00Z")),
            "bound passed"
        );
        assert!(
            !inh.is_firing(None, at("2026-11-23T10:30:00Z")),
            "no record, no source"
        );
        let mut moved_on = cluster.clone();
        moved_on.state = "RUNNING".into();
        let record = next_state(Some(&record), &moved_on, None, None);
        assert!(!inh.is_firing(Some(&record), at("2026-11-23T10:30:00Z")));
    }

    #[test]
    fn rule_errors_name_the_rule_and_the_field() {
        let err = |text: &str| parse_rules(text).unwrap_err();
        assert_eq!(err("{}"), "not a JSON array of rules");
        assert!(err("[{").starts_with("not JSON"));
        assert_eq!(
            err(r#"[{"source": {"kind": "emr-cluster"}, "target": {"state": "ALARM"}}]"#),
            "rule #1: name: missing (a non-empty string)"
        );
        let e = err(r#"[{"name": "a", "source": {"kind": "emr"}, "target": {"state": "ALARM"}}]"#);
        assert!(
            e.starts_with(r#"rule "a" (#1): source.kind: unknown kind "emr" (metric-alarm"#),
            "{e}"
        );
        let e = err(r#"[{"name": "a", "source": {"state": "X"}, "target": {}}]"#);
        assert!(e.starts_with(r#"rule "a" (#1): target.empty"#), "{e}");
        let e = err(r#"[{"name": "a", "source": {"severity": "loud"}, "target": {"state": "X"}}]"#);
        assert!(e.contains("source.severity: unknown severity"), "{e}");
        let e = err(r#"[{"name": "a", "source": {"state": "X"}, "target": {"state": 3}}]"#);
        assert!(e.contains("target.state: 3 is not a string"), "{e}");
        let e = err(
            r#"[{"name": "a", "source": {"state": "X"}, "target": {"state": "Y"}, "equal": "cluster_id", "max_minutes": 0}]"#,
        );
        assert!(
            e.contains(r#"rule "a" (#1): max_minutes: 0 is not a positive"#),
            "{e}"
        );
        let e = err(
            r#"[{"name": "a", "source": {"state": "X"}, "target": {"state": "Y"}, "equals": []}]"#,
        );
        assert!(e.contains("equals: unknown field"), "{e}");
        let two = r#"{"name": "a", "source": {"state": "X"}, "target": {"state": "Y"}}"#;
        let e = err(&format!("[{two}, {two}]"));
        assert_eq!(e, r#"rule "a" (#2): name: another rule has this name"#);
        let e = err(r#"[{"name": "a b", "source": {"state": "X"}, "target": {"state": "Y"}}]"#);
        assert!(e.contains("name: letters, digits"), "{e}");
    }
}
