//! Silences: operator-created mutes matched on fingerprint or resource (alarm-name) prefix,
//! until a time. Silenced alerts are counted and logged, never published.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::model::Alert;

/// The longest silence accepted: anything longer is a decision to delete the alarm, not to mute it.
pub const MAX_SILENCE_DAYS: i64 = 90;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_name_prefix: Option<String>,
    pub ends_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
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
        by_fingerprint || by_prefix
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
    /// End time (RFC 3339); or give `duration_minutes`.
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub duration_minutes: Option<i64>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
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
    if fingerprint.is_none() && prefix.is_none() {
        return Err(
            "a silence needs `fingerprint` or `alarm_name_prefix` (a non-empty prefix)".into(),
        );
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
        (None, None) => {
            return Err("a silence needs an end: `until` (RFC 3339) or `duration_minutes`".into());
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
        ends_at,
        created_at: now,
        created_by: req.created_by,
        comment: req.comment,
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
            .contains("needs `fingerprint` or `alarm_name_prefix`")
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
}
