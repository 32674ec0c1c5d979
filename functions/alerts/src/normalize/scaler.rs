//! The scaler's decisions worth a look: EventBridge events from `streamops.scaler`
//! ("Scaling Decision"), one per decision, put on the default bus instead of a message of its
//! own. Each becomes an alert about its target: the target id is the resource, so decisions
//! about one target share a fingerprint and dedup (a repeat of the same state inside the
//! window is not re-sent); the decision id is the event id, so an event the scaler resent is a
//! redelivery. Severity from the outcome: a failed or stranded rescale is critical, a blocked,
//! deferred or ineffective scale-up a warning, a done one info.

use std::collections::BTreeMap;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use streamops_shared::text::clean_inline;

use super::{Details, NormalizeOptions, runbook_for, truncate};
use crate::model::{Alert, AlertKind, Severity, fingerprint};

pub const SOURCE: &str = "streamops.scaler";
pub const DETAIL_TYPE: &str = "Scaling Decision";

/// The event's detail, as the scaler writes it (functions/scaler/src/notify.rs).
#[derive(Debug, Deserialize)]
struct Decision {
    decision_id: String,
    #[serde(default)]
    function: Option<String>,
    target: String,
    outcome: String,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    from: Option<u32>,
    #[serde(default)]
    to: Option<u32>,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    cause: Option<String>,
    #[serde(default)]
    alarm: Option<String>,
    #[serde(default)]
    job_id: Option<String>,
    #[serde(default)]
    savepoint: Option<String>,
    #[serde(default)]
    phase: Option<String>,
    #[serde(default)]
    at: Option<DateTime<Utc>>,
    /// What the target acts on (`stream`, `cluster_id`, `pipeline`, `job_name`): its labels.
    #[serde(default)]
    about: BTreeMap<String, String>,
}

pub(super) fn from_scaler(
    event: &EventBridgeEvent<Value>,
    now: DateTime<Utc>,
    opts: &NormalizeOptions,
) -> Result<Alert, String> {
    let d: Decision = serde_json::from_value(event.detail.clone()).map_err(|e| e.to_string())?;
    if d.target.is_empty() {
        return Err("detail.target is empty".into());
    }
    let target = clean_inline(&d.target).into_owned();
    let summary = if d.reason.is_empty() {
        format!("The scaler decided about {target}: {}", d.outcome)
    } else {
        clean_inline(&d.reason).into_owned()
    };
    Ok(Alert {
        kind: AlertKind::Generic,
        severity: severity(&d),
        title: title(&d, &target),
        summary: truncate(&summary, opts.detail_max_bytes),
        source: SOURCE.into(),
        detail_type: DETAIL_TYPE.into(),
        fingerprint: fingerprint(
            event.account.as_deref(),
            event.region.as_deref(),
            SOURCE,
            &target,
        ),
        console_url: None,
        runbook_url: runbook_for(&target, opts),
        region: event.region.clone(),
        account: event.account.clone(),
        time: d.at.or(event.time).unwrap_or(now),
        state: state(&d),
        previous_state: None,
        event_id: d.decision_id.clone(),
        details: details(&d),
        suppressed_by: None,
        labels: d
            .about
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (clean_inline(k).into_owned(), clean_inline(v).into_owned()))
            .collect(),
        resource: target,
    })
}

/// From the outcome; the scaler's own hint only for an outcome this function does not know.
fn severity(d: &Decision) -> Severity {
    match d.outcome.as_str() {
        "failed" | "stranded" => Severity::Critical,
        "blocked" | "deferred" | "ineffective" => Severity::Warning,
        "scaled" | "rescaled" => Severity::Info,
        _ => d
            .severity
            .as_deref()
            .and_then(|s| s.parse().ok())
            .unwrap_or(Severity::Warning),
    }
}

/// The outcome and what tells two of them apart (the sizes, the cause): the same state of a
/// target inside the dedup window is a repeat.
fn state(d: &Decision) -> String {
    let outcome = clean_inline(&d.outcome).to_ascii_uppercase();
    match (d.from, d.to, &d.cause) {
        (Some(from), Some(to), _) => format!("{outcome} {from}->{to}"),
        (_, _, Some(cause)) => format!("{outcome} {}", clean_inline(cause)),
        _ => outcome,
    }
}

fn title(d: &Decision, target: &str) -> String {
    let cause = d.cause.as_deref().map(clean_inline).unwrap_or_default();
    let sizes = match (d.from, d.to) {
        (Some(from), Some(to)) => format!("{from} -> {to}"),
        _ => String::new(),
    };
    let what = match d.outcome.as_str() {
        "scaled" => sizes,
        "rescaled" => format!("rescaled {sizes}"),
        "failed" => match d.to {
            Some(to) => format!("resize to {to} FAILED"),
            None => "resize FAILED".into(),
        },
        "stranded" => "job STOPPED, resubmission failed".into(),
        "deferred" => format!("deferred ({cause})"),
        "blocked" => format!("not scaled ({cause})"),
        "ineffective" => "scale-ups blocked (an ineffective scale-up)".into(),
        other => clean_inline(other).into_owned(),
    };
    format!("Scaler {target}: {what}")
}

fn details(d: &Decision) -> Vec<(String, String)> {
    let mut out = Details::default();
    out.add("outcome", Some(d.outcome.clone()));
    out.add("from", d.from.map(|n| n.to_string()));
    out.add("to", d.to.map(|n| n.to_string()));
    out.add("cause", d.cause.clone());
    out.add("alarm", d.alarm.clone());
    out.add("job", d.job_id.clone());
    out.add("savepoint", d.savepoint.clone());
    out.add("phase", d.phase.clone());
    out.add("decision", Some(d.decision_id.clone()));
    out.add("scaler", d.function.clone());
    out.into_vec()
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{detail, one_at};
    use super::*;
    use crate::dedup::{Decision as Dedup, SuppressReason, decide, next_state};
    use streamops_test_support::fixture;

    fn now() -> DateTime<Utc> {
        "2026-11-23T12:00:00Z".parse().unwrap()
    }

    fn one(v: &Value) -> Alert {
        one_at(v, now())
    }

    #[test]
    fn a_scaling_action_is_an_info_alert_about_its_target() {
        let a = one(&fixture("alerts/scaler-decision-scaled.json"));
        assert_eq!(
            (a.kind, a.severity, a.resource.as_str(), a.state.as_str()),
            (
                AlertKind::Generic,
                Severity::Info,
                "raw-stream",
                "SCALED 2->4"
            )
        );
        assert_eq!(a.title, "Scaler raw-stream: 2 -> 4");
        assert_eq!(a.source, SOURCE);
        assert_eq!(a.event_id, "raw-stream/2026-11-23T10:00:00+00:00/0000");
        assert_eq!(
            a.time,
            "2026-11-23T10:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert!(a.summary.starts_with("alarm streamops-raw-iterator-age"));
        assert_eq!(detail(&a, "alarm"), Some("streamops-raw-iterator-age"));
        assert_eq!(detail(&a, "scaler"), Some("streamops-scaler"));
        assert_eq!(
            crate::render::subject(&a),
            "INFO: Scaler raw-stream: 2 -> 4 (us-east-1)"
        );
    }

    #[test]
    fn decisions_about_one_target_share_a_fingerprint_and_severity_follows_the_outcome() {
        let scaled = one(&fixture("alerts/scaler-decision-scaled.json"));
        let blocked = one(&fixture("alerts/scaler-decision-blocked.json"));
        assert_eq!(scaled.fingerprint, blocked.fingerprint);
        assert_eq!(
            (
                blocked.severity,
                blocked.state.as_str(),
                blocked.title.as_str()
            ),
            (
                Severity::Warning,
                "BLOCKED cooldown",
                "Scaler raw-stream: not scaled (cooldown)"
            )
        );
        let stranded = one(&fixture("alerts/scaler-decision-stranded.json"));
        assert_ne!(stranded.fingerprint, scaled.fingerprint);
        assert_eq!(stranded.severity, Severity::Critical);
        assert_eq!(
            stranded.title,
            "Scaler flink-job: job STOPPED, resubmission failed"
        );
        assert!(
            detail(&stranded, "savepoint")
                .unwrap()
                .contains("savepoint-5e1f2a")
        );
        assert_eq!(detail(&stranded, "phase"), Some("submitting"));
        let outcome = |o: &str, hint: &str| {
            let mut v = fixture("alerts/scaler-decision-blocked.json");
            v["detail"]["outcome"] = o.into();
            v["detail"]["severity"] = hint.into();
            one(&v).severity
        };
        assert_eq!(
            outcome("failed", "info"),
            Severity::Critical,
            "the outcome decides"
        );
        assert_eq!(outcome("deferred", "critical"), Severity::Warning);
        assert_eq!(outcome("ineffective", "info"), Severity::Warning);
        assert_eq!(outcome("rescaled", "critical"), Severity::Info);
        assert_eq!(
            outcome("something-new", "error"),
            Severity::Error,
            "else the hint"
        );
        assert_eq!(outcome("something-new", "loud"), Severity::Warning);
    }

    #[test]
    fn a_resent_decision_is_a_redelivery_and_a_repeat_of_its_state_waits_for_the_window() {
        let first = one(&fixture("alerts/scaler-decision-blocked.json"));
        let published = next_state(None, &first, Some(now().timestamp_millis()), None);
        // PutEvents retried after a lost answer: another EventBridge id, the same decision.
        let mut resent = fixture("alerts/scaler-decision-blocked.json");
        resent["id"] = "another-delivery".into();
        let resent = one(&resent);
        let window = 3_600_000;
        let at = now().timestamp_millis() + 1000;
        assert_eq!(
            decide(Some(&published), &resent, at, window),
            Dedup::Suppress(SuppressReason::Redelivered)
        );
        // The next transition held by the same cooldown: a repeat inside the window.
        let mut again = fixture("alerts/scaler-decision-blocked.json");
        again["detail"]["decision_id"] = "raw-stream/2026-11-23T10:04:00+00:00/0000".into();
        again["detail"]["at"] = "2026-11-23T10:04:00+00:00".into();
        assert_eq!(
            decide(Some(&published), &one(&again), at, window),
            Dedup::Suppress(SuppressReason::RepeatWithinWindow)
        );
        // A scaling action changes the state: sent.
        let scaled = one(&fixture("alerts/scaler-decision-scaled.json"));
        let later = next_state(Some(&published), &first, Some(at), None);
        let mut acted = scaled.clone();
        acted.time = "2026-11-23T10:06:00Z".parse().unwrap();
        assert_eq!(decide(Some(&later), &acted, at, window), Dedup::Publish);
    }

    #[test]
    fn a_decision_without_a_target_is_malformed_not_dropped() {
        let mut v = fixture("alerts/scaler-decision-scaled.json");
        v["detail"].as_object_mut().unwrap().remove("target");
        let a = one(&v);
        assert_eq!(a.state, "MALFORMED");
        assert!(a.summary.contains("target"), "{}", a.summary);
        v["detail"]["target"] = "".into();
        assert_eq!(one(&v).state, "MALFORMED");
    }
}
