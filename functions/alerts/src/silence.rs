//! Silences: operator-created mutes matched on fingerprint, alarm name, resource (alarm-name)
//! prefix or label matchers (the inhibition rules' matcher), until a time. Silenced alerts are counted and logged, never published, with two
//! exceptions for the incident lifecycle:
//! - `notify_resolved` (default true): the resolved notice of a problem that was sent before
//!   the silence began is still delivered, so the incident it opened in the pager closes;
//! - `until_resolved`: a silence of one alert (fingerprint or alarm name) ends by itself when
//!   that alert resolves, whether or not its resolved notice is sent.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::matcher::{Matcher, parse_matcher};
use crate::model::{Alert, Severity};

/// The longest silence accepted: anything longer is a decision to delete the alarm, not to mute it.
pub const MAX_SILENCE_DAYS: i64 = 90;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_name_prefix: Option<String>,
    /// One alarm (resource), exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_name: Option<String>,
    /// Labels the alert must have (every entry; a value or any of a list), like an
    /// inhibition rule's `target`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matchers: Option<Matcher>,
    pub ends_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Silences stored before this field existed deliver resolved notices too.
    #[serde(default = "yes")]
    pub notify_resolved: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub until_resolved: bool,
}

fn yes() -> bool {
    true
}

impl Silence {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        now < self.ends_at
    }

    pub fn matches(&self, alert: &Alert, now: DateTime<Utc>) -> bool {
        if !self.is_active(now) {
            return false;
        }
        let by_fingerprint = self
            .fingerprint
            .as_deref()
            .is_some_and(|f| f == alert.fingerprint);
        let by_prefix = self
            .alarm_name_prefix
            .as_deref()
            .is_some_and(|p| alert.resource.starts_with(p));
        let by_name = self.alarm_name.as_deref() == Some(alert.resource.as_str());
        let by_labels = self.matchers.as_ref().is_some_and(|m| m.matches(alert));
        by_fingerprint || by_prefix || by_name || by_labels
    }

    /// Whether the silence keeps `alert` from being sent. `problem_sent_at_ms`: when the
    /// problem this alert resolves was last sent, if it was (the state record's publish time
    /// while it says a problem was notified).
    pub fn mutes(
        &self,
        alert: &Alert,
        problem_sent_at_ms: Option<i64>,
        now: DateTime<Utc>,
    ) -> bool {
        if !self.matches(alert, now) {
            return false;
        }
        let heard_before =
            problem_sent_at_ms.is_some_and(|sent| sent <= self.created_at.timestamp_millis());
        let delivers = self.notify_resolved && alert.severity == Severity::Resolved && heard_before;
        !delivers
    }

    /// Whether `alert` ends this silence: it is the silenced alert, resolved.
    pub fn ended_by(&self, alert: &Alert, now: DateTime<Utc>) -> bool {
        self.until_resolved && alert.severity == Severity::Resolved && self.matches(alert, now)
    }
}

/// The `create-silence` command's arguments.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSilenceRequest {
    #[serde(default)]
    pub fingerprint: Option<String>,
    #[serde(default, alias = "resource_prefix")]
    pub alarm_name_prefix: Option<String>,
    /// One alarm, by its exact name.
    #[serde(default)]
    pub alarm_name: Option<String>,
    /// Label matchers, as in an inhibition rule: `{"cluster_id": "j-1", "severity":
    /// ["warning", "critical"], "resource_prefix": "streamops-"}`.
    #[serde(default)]
    pub matchers: Option<serde_json::Map<String, serde_json::Value>>,
    /// End time (RFC 3339); or give `duration_minutes`.
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub duration_minutes: Option<i64>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    /// Deliver the resolved notice of a problem sent before the silence (default true).
    #[serde(default)]
    pub notify_resolved: Option<bool>,
    /// End the silence when its alert resolves; needs `fingerprint` or `alarm_name`. The end
    /// time is then optional: it defaults to the longest silence allowed.
    #[serde(default)]
    pub until_resolved: bool,
}

/// Validates the request and builds the silence.
pub fn create_silence(
    req: CreateSilenceRequest,
    id: String,
    now: DateTime<Utc>,
) -> Result<Silence, String> {
    let fingerprint = req
        .fingerprint
        .map(|f| f.trim().to_ascii_lowercase())
        .filter(|f| !f.is_empty());
    let prefix = req.alarm_name_prefix.filter(|p| !p.trim().is_empty());
    let name = req.alarm_name.filter(|n| !n.trim().is_empty());
    let matchers = match &req.matchers {
        Some(m) => Some(parse_matcher(m).map_err(|e| format!("matchers: {e}"))?),
        None => None,
    };
    if fingerprint.is_none() && prefix.is_none() && name.is_none() && matchers.is_none() {
        return Err(
            "a silence needs `fingerprint`, `alarm_name` or `alarm_name_prefix` (a non-empty prefix), or label `matchers`"
                .into(),
        );
    }
    let many = prefix.is_some() || matchers.is_some();
    if req.until_resolved && (many || fingerprint.is_some() == name.is_some()) {
        return Err("`until_resolved` silences one alert: give `fingerprint` or `alarm_name`, one of them, and no `alarm_name_prefix` or `matchers` (the alarms they match do not resolve together)".into());
    }
    if let Some(f) = &fingerprint {
        if f.len() != 32 || !f.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "fingerprint {f:?} is not a 32-character hex fingerprint (see the `fingerprint` attribute of a published alert)"
            ));
        }
    }
    let ends_at = match (req.until, req.duration_minutes) {
        (Some(_), Some(_)) => {
            return Err("give either `until` or `duration_minutes`, not both".into());
        }
        (None, None) if req.until_resolved => now + Duration::days(MAX_SILENCE_DAYS),
        (None, None) => {
            return Err("a silence needs an end: `until` (RFC 3339) or `duration_minutes` (or `until_resolved`)".into());
        }
        (Some(t), None) => t,
        (None, Some(m)) if m <= 0 => {
            return Err(format!("duration_minutes must be positive, got {m}"));
        }
        (None, Some(m)) => now + Duration::minutes(m.min(MAX_SILENCE_DAYS * 24 * 60 + 1)),
    };
    if ends_at <= now {
        return Err(format!(
            "the silence would end at {ends_at}, which is not in the future"
        ));
    }
    if ends_at - now > Duration::days(MAX_SILENCE_DAYS) {
        return Err(format!(
            "a silence may last at most {MAX_SILENCE_DAYS} days"
        ));
    }
    Ok(Silence {
        id,
        fingerprint,
        alarm_name_prefix: prefix,
        alarm_name: name,
        matchers,
        ends_at,
        created_at: now,
        created_by: req.created_by,
        comment: req.comment,
        notify_resolved: req.notify_resolved.unwrap_or(true),
        until_resolved: req.until_resolved,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AlertKind, Severity};

    fn now() -> DateTime<Utc> {
        "2026-11-23T12:00:00Z".parse().unwrap()
    }

    fn alert(resource: &str, fp: &str) -> Alert {
        Alert {
            kind: AlertKind::MetricAlarm,
            severity: Severity::Critical,
            title: String::new(),
            summary: String::new(),
            source: "aws.cloudwatch".into(),
            detail_type: String::new(),
            resource: resource.into(),
            region: None,
            account: None,
            time: now(),
            state: "ALARM".into(),
            previous_state: None,
            event_id: "e".into(),
            console_url: None,
            runbook_url: None,
            details: vec![],
            fingerprint: fp.into(),
            suppressed_by: None,
            labels: Default::default(),
        }
    }

    #[test]
    fn prefix_silence_matches_until_it_ends() {
        let s = create_silence(
            CreateSilenceRequest {
                alarm_name_prefix: Some("streamops-raw".into()),
                duration_minutes: Some(30),
                ..Default::default()
            },
            "s1".into(),
            now(),
        )
        .unwrap();
        assert!(s.matches(&alert("streamops-raw-iterator-age", "x"), now()));
        assert!(!s.matches(&alert("streamops-enriched", "x"), now()));
        assert!(!s.matches(
            &alert("streamops-raw-iterator-age", "x"),
            now() + Duration::minutes(31)
        ));
    }

    #[test]
    fn fingerprint_silence_matches_exactly() {
        let fp = "0123456789abcdef0123456789abcdef";
        let s = create_silence(
            CreateSilenceRequest {
                fingerprint: Some(fp.to_uppercase()),
                until: Some(now() + Duration::hours(2)),
                ..Default::default()
            },
            "s2".into(),
            now(),
        )
        .unwrap();
        assert!(s.matches(&alert("any", fp), now()));
        assert!(!s.matches(&alert("any", "ffffffffffffffffffffffffffffffff"), now()));
    }

    #[test]
    fn invalid_requests_are_explained() {
        let err = |r: CreateSilenceRequest| create_silence(r, "x".into(), now()).unwrap_err();
        assert!(
            err(CreateSilenceRequest {
                duration_minutes: Some(5),
                ..Default::default()
            })
            .contains("needs `fingerprint`, `alarm_name` or `alarm_name_prefix`")
        );
        assert!(
            err(CreateSilenceRequest {
                alarm_name_prefix: Some("a".into()),
                ..Default::default()
            })
            .contains("needs an end")
        );
        assert!(
            err(CreateSilenceRequest {
                alarm_name_prefix: Some("a".into()),
                until: Some(now() - Duration::minutes(1)),
                ..Default::default()
            })
            .contains("not in the future")
        );
        assert!(
            err(CreateSilenceRequest {
                fingerprint: Some("zz".into()),
                duration_minutes: Some(5),
                ..Default::default()
            })
            .contains("32-character hex")
        );
        assert!(
            err(CreateSilenceRequest {
                alarm_name_prefix: Some("a".into()),
                duration_minutes: Some(60 * 24 * 365),
                ..Default::default()
            })
            .contains("at most 90 days")
        );
    }

    fn resolved(resource: &str, fp: &str) -> Alert {
        Alert {
            severity: Severity::Resolved,
            state: "OK".into(),
            ..alert(resource, fp)
        }
    }

    #[test]
    fn resolved_notices_pass_a_silence_when_their_problem_was_sent_before_it() {
        let s = create_silence(
            CreateSilenceRequest {
                alarm_name_prefix: Some("streamops-raw".into()),
                duration_minutes: Some(30),
                ..Default::default()
            },
            "s1".into(),
            now(),
        )
        .unwrap();
        assert!(s.notify_resolved, "the default");
        let before = Some(now().timestamp_millis() - 60_000);
        let ok = resolved("streamops-raw-iterator-age", "x");
        assert!(
            !s.mutes(&ok, before, now()),
            "heard before the silence: delivered"
        );
        assert!(s.mutes(&ok, None, now()), "never heard: muted");
        let after = Some(now().timestamp_millis() + 60_000);
        assert!(s.mutes(&ok, after, now()));
        assert!(s.mutes(&alert("streamops-raw-iterator-age", "x"), before, now()));
        let quiet = Silence {
            notify_resolved: false,
            ..s
        };
        assert!(quiet.mutes(&ok, before, now()));
    }

    #[test]
    fn an_until_resolved_silence_is_of_one_alert_and_ends_with_its_resolution() {
        let s = create_silence(
            CreateSilenceRequest {
                alarm_name: Some("streamops-flink-lag".into()),
                until_resolved: true,
                ..Default::default()
            },
            "s1".into(),
            now(),
        )
        .unwrap();
        assert_eq!(s.ends_at, now() + Duration::days(MAX_SILENCE_DAYS));
        assert!(s.matches(&alert("streamops-flink-lag", "x"), now()));
        assert!(!s.matches(&alert("streamops-flink-lag-2", "x"), now()));
        assert!(!s.ended_by(&alert("streamops-flink-lag", "x"), now()));
        assert!(s.ended_by(&resolved("streamops-flink-lag", "x"), now()));
        assert!(!s.ended_by(&resolved("streamops-raw", "x"), now()));
        let refused = |r: CreateSilenceRequest| create_silence(r, "x".into(), now()).unwrap_err();
        let e = refused(CreateSilenceRequest {
            alarm_name_prefix: Some("streamops-".into()),
            until_resolved: true,
            ..Default::default()
        });
        assert!(e.contains("`until_resolved` silences one alert"), "{e}");
        // An old payload (no new fields) still reads, and delivers resolved notices.
        let old: Silence = serde_json::from_str(
            r#"{"id":"s","alarm_name_prefix":"a","ends_at":"2026-11-23T13:00:00Z","created_at":"2026-11-23T12:00:00Z"}"#,
        )
        .unwrap();
        assert!(old.notify_resolved && !old.until_resolved);
    }

    #[test]
    fn a_matcher_silence_mutes_by_labels_and_its_errors_name_the_field() {
        let matchers =
            serde_json::json!({"cluster_id": "j-1", "severity": ["warning", "critical"]});
        let s = create_silence(
            CreateSilenceRequest {
                matchers: matchers.as_object().cloned(),
                duration_minutes: Some(60),
                ..Default::default()
            },
            "s1".into(),
            now(),
        )
        .unwrap();
        let mut on_cluster = alert("streamops-emr-yarn-memory", "x");
        on_cluster.labels.insert("cluster_id".into(), "j-1".into());
        assert!(s.mutes(&on_cluster, None, now()));
        let mut elsewhere = on_cluster.clone();
        elsewhere.labels.insert("cluster_id".into(), "j-2".into());
        assert!(!s.matches(&elsewhere, now()), "another cluster");
        assert!(
            !s.matches(&alert("streamops-emr-yarn-memory", "x"), now()),
            "no label: no match"
        );
        let stored: Silence = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(stored, s, "stored and read back as it was");
        let refused = |m: serde_json::Value, until_resolved: bool| {
            create_silence(
                CreateSilenceRequest {
                    matchers: m.as_object().cloned(),
                    duration_minutes: Some(60),
                    until_resolved,
                    ..Default::default()
                },
                "x".into(),
                now(),
            )
            .unwrap_err()
        };
        assert!(
            refused(serde_json::json!({"kind": "emr"}), false)
                .starts_with("matchers: kind: unknown kind")
        );
        assert!(refused(serde_json::json!({}), false).starts_with("matchers: empty"));
        assert!(refused(matchers, true).contains("until_resolved"));
    }
}
