//! Mute windows: recurring periods (a nightly maintenance window) during which alerts whose
//! labels match are recorded, not sent. Alertmanager's `mute_time_intervals`, with a start
//! written as an EventBridge cron in an IANA zone and a length (`streamops_shared::window`:
//! DST rules there), matchers as inhibition rules write them, and, unlike Alertmanager, the
//! resolved notice of a problem sent before the window still delivered (`notify_resolved`,
//! default true). Pure: parsing `ALERTS_MUTE_WINDOWS` and the muting decision.
//!
//! An alert is during a window when its own time (the state change's timestamp, not the
//! delivery's) is in an occurrence, so a retry or a late delivery is judged as the first
//! delivery was.
//!
//! JSON, an array of:
//! `{"name": "nightly-maintenance", "cron": "0 2 * * ? *", "duration": "2h",
//!   "time_zone": "Europe/Berlin", "matchers": {"resource_prefix": "streamops-"},
//!   "notify_resolved": true}`

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;
use streamops_shared::window::{ActiveWindow, TimeWindow, WindowSpec};

use crate::matcher::{Matcher, parse_matcher};
use crate::model::{Alert, Severity};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MuteWindow {
    #[serde(flatten)]
    pub window: TimeWindow,
    pub matchers: Matcher,
    pub notify_resolved: bool,
}

impl MuteWindow {
    pub fn name(&self) -> &str {
        self.window.name()
    }

    pub fn muted_key(&self) -> String {
        muted_key(self.name())
    }

    /// The occurrence that keeps `alert` from being sent, if one does. `problem_sent_at_ms`:
    /// when the problem a resolved notice resolves was sent, if it was; sent before the
    /// occurrence began, its resolution is delivered (with `notify_resolved`).
    pub fn mutes(&self, alert: &Alert, problem_sent_at_ms: Option<i64>) -> Option<ActiveWindow> {
        if !self.matchers.matches(alert) {
            return None;
        }
        let active = self.window.is_active(alert.time)?;
        let heard_before =
            problem_sent_at_ms.is_some_and(|sent| sent < active.started.timestamp_millis());
        let delivers = self.notify_resolved && alert.severity == Severity::Resolved && heard_before;
        (!delivers).then_some(active)
    }
}

/// Where the alerts a window muted are listed: the store's muted items, beside those of the
/// inhibition sources (whose keys are fingerprints, never `window:...`).
pub fn muted_key(window: &str) -> String {
    format!("window:{window}")
}

/// The reason a muted alert is counted and logged under: one per window, so the metric says
/// which window muted what.
pub fn reason_label(window: &str) -> String {
    format!("mute_window:{window}")
}

const FIELDS: &[&str] = &[
    "name",
    "cron",
    "duration",
    "time_zone",
    "matchers",
    "notify_resolved",
];

/// Parses `ALERTS_MUTE_WINDOWS`; an error names the window (by name and position) and the field.
pub fn parse_windows(text: &str) -> Result<Vec<MuteWindow>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Array(items) = v else {
        return Err("not a JSON array of windows".into());
    };
    let mut names = BTreeSet::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let which = item.get("name").and_then(Value::as_str).map_or_else(
            || format!("window #{}", i + 1),
            |n| format!("window {n:?} (#{})", i + 1),
        );
        let window = parse_window(item).map_err(|e| format!("{which}: {e}"))?;
        if !names.insert(window.name().to_string()) {
            return Err(format!("{which}: name: another window has this name"));
        }
        out.push(window);
    }
    Ok(out)
}

fn parse_window(item: &Value) -> Result<MuteWindow, String> {
    let obj = item.as_object().ok_or("not a JSON object")?;
    if let Some(extra) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "{extra}: unknown field (fields: {})",
            FIELDS.join(", ")
        ));
    }
    let text = |field: &str| {
        obj.get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("{field}: missing (a string)"))
    };
    let spec = WindowSpec {
        name: text("name")?,
        cron: text("cron")?,
        duration: text("duration")?,
        time_zone: text("time_zone")?,
    };
    let window = TimeWindow::try_from(spec).map_err(|e| e.to_string())?;
    let matchers = match obj.get("matchers") {
        Some(Value::Object(m)) => parse_matcher(m).map_err(|e| format!("matchers.{e}"))?,
        Some(_) => return Err("matchers: not a JSON object of label matchers".into()),
        None => return Err("matchers: missing (a JSON object of label matchers)".into()),
    };
    let notify_resolved = match obj.get("notify_resolved") {
        None => true,
        Some(v) => v
            .as_bool()
            .ok_or_else(|| format!("notify_resolved: {v} is not true or false"))?,
    };
    Ok(MuteWindow {
        window,
        matchers,
        notify_resolved,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AlertKind;
    use chrono::{DateTime, Utc};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn alert(resource: &str, state: &str, severity: Severity, time: &str) -> Alert {
        Alert {
            kind: AlertKind::MetricAlarm,
            severity,
            title: String::new(),
            summary: String::new(),
            source: "aws.cloudwatch".into(),
            detail_type: String::new(),
            resource: resource.into(),
            region: Some("eu-central-1".into()),
            account: Some("1".into()),
            time: at(time),
            state: state.into(),
            previous_state: None,
            event_id: "e".into(),
            console_url: None,
            runbook_url: None,
            details: vec![],
            fingerprint: format!("fp-{resource}"),
            suppressed_by: None,
            labels: Default::default(),
        }
    }

    fn nightly(extra: &str) -> MuteWindow {
        parse_windows(&format!(
            r#"[{{"name": "nightly", "cron": "0 2 * * ? *", "duration": "2h",
                "time_zone": "Europe/Berlin", "matchers": {{"resource_prefix": "streamops-"}}{extra}}}]"#
        ))
        .unwrap()
        .remove(0)
    }

    #[test]
    fn matching_alerts_are_muted_during_an_occurrence_by_their_own_time() {
        let w = nightly("");
        // 02:30 in Berlin (CET, UTC+1) on 23 November.
        let during = alert(
            "streamops-raw-age",
            "ALARM",
            Severity::Critical,
            "2026-11-23T01:30:00Z",
        );
        let active = w.mutes(&during, None).expect("muted");
        assert_eq!(
            (active.name.as_str(), active.started, active.ends),
            (
                "nightly",
                at("2026-11-23T01:00:00Z"),
                at("2026-11-23T03:00:00Z")
            )
        );
        let after = alert(
            "streamops-raw-age",
            "ALARM",
            Severity::Critical,
            "2026-11-23T03:00:00Z",
        );
        assert_eq!(w.mutes(&after, None), None, "the end is not during");
        let other = alert(
            "billing-age",
            "ALARM",
            Severity::Critical,
            "2026-11-23T01:30:00Z",
        );
        assert_eq!(w.mutes(&other, None), None, "matchers hold");
        assert_eq!(w.muted_key(), "window:nightly");
    }

    #[test]
    fn a_resolution_of_a_problem_sent_before_the_window_is_delivered_unless_configured_not_to() {
        let ok = alert(
            "streamops-raw-age",
            "OK",
            Severity::Resolved,
            "2026-11-23T01:30:00Z",
        );
        let before = Some(at("2026-11-23T00:59:00Z").timestamp_millis());
        let w = nightly("");
        assert_eq!(w.mutes(&ok, before), None, "heard before: delivered");
        assert!(w.mutes(&ok, None).is_some(), "never heard: muted");
        let quiet = nightly(r#", "notify_resolved": false"#);
        assert!(quiet.mutes(&ok, before).is_some());
    }

    #[test]
    fn window_errors_name_the_window_and_the_field() {
        let err = |text: &str| parse_windows(text).unwrap_err();
        assert_eq!(err("{}"), "not a JSON array of windows");
        let base = r#"{"name": "nightly", "cron": "0 2 * * ? *", "duration": "2h", "time_zone": "Europe/Berlin", "matchers": {"state": "ALARM"}}"#;
        let e = err(&format!("[{}]", base.replace("0 2 * * ? *", "0 2 * * *")));
        assert!(
            e.starts_with(r#"window "nightly" (#1): cron: expression "0 2 * * *": has 5 fields"#),
            "{e}"
        );
        let e = err(&format!("[{}]", base.replace("Europe/Berlin", "CEST")));
        assert_eq!(
            e,
            r#"window "nightly" (#1): time_zone "CEST": not an IANA time zone name (e.g. Europe/Berlin, America/New_York, UTC)"#
        );
        let e = err(&format!(
            "[{}]",
            base.replace(r#"{"state": "ALARM"}"#, "{}")
        ));
        assert!(
            e.starts_with(r#"window "nightly" (#1): matchers.empty"#),
            "{e}"
        );
        let e = err(&format!("[{}]", base.replace("\"matchers\"", "\"match\"")));
        assert!(e.contains("match: unknown field"), "{e}");
        let e = err(&format!("[{base}, {base}]"));
        assert_eq!(
            e,
            r#"window "nightly" (#2): name: another window has this name"#
        );
        let e = err(&format!("[{}]", base.replace("\"2h\"", "2")));
        assert_eq!(e, r#"window "nightly" (#1): duration: missing (a string)"#);
    }
}
