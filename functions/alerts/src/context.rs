//! What the suite is doing right now, as the alerts function learns it from the suite's own
//! events: a scaling action in progress (the scaler's `scaled` decisions, until `rescaled`,
//! `failed` or `stranded`, or until it should have settled) and a pipeline whose checkpoints
//! are failing (checkpoint health `LATE`/`FAILING`, until `OK`). An alert on a resource one of
//! them concerns is annotated with it, and a problem on a resource being scaled can be held
//! until the action should have settled (`ALERTS_HOLD_DURING_SCALING`). Pure: the store keeps
//! the activities (`awareness.rs` runs it).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Alert, AlertKind, Severity};
use crate::normalize::{checkpoints, scaler};

/// The labels an activity and an alert are tied by: the same value of any of them.
pub const TYING_LABELS: &[&str] = &["stream", "cluster_id", "pipeline", "job_name"];

/// How long past its expected settle time a scaling action still annotates: a resize that
/// runs a little late is still the likely cause.
pub const SETTLE_GRACE_SECONDS: i64 = 300;

/// How long a checkpoint failure with no recovery heard is remembered.
const CHECKPOINT_FAILURE_MEMORY_HOURS: i64 = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    /// The scaler started a resize, reshard or rescale.
    Scaling,
    /// A pipeline's checkpoints are late or failing.
    CheckpointFailure,
}

/// One thing the suite is doing, keyed by what it is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    /// `scaling/<target>` or `checkpoints/<pipeline>`: one activity per target or pipeline.
    pub key: String,
    pub kind: ActivityKind,
    /// The scaler target or the pipeline.
    pub subject: String,
    /// What it concerns, by [`TYING_LABELS`].
    pub labels: BTreeMap<String, String>,
    /// In words, e.g. `resizing raw-stream 2 -> 4`.
    pub what: String,
    pub since: DateTime<Utc>,
    /// Scaling: when the scaler expects the action to have settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settles_by: Option<DateTime<Utc>>,
    /// The event that started (or ended) it.
    pub event_id: String,
    /// An end, kept under the key as a marker (`since` is when it ended), so that a start
    /// older than it, delivered late, does not begin the activity again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ended: bool,
}

impl Activity {
    /// When it stops mattering: a scaling action past its settle time and grace, a checkpoint
    /// failure a day after it began (its recovery normally ends it first).
    pub fn expires_at(&self) -> DateTime<Utc> {
        match (self.kind, self.settles_by) {
            (ActivityKind::Scaling, Some(t)) => t + Duration::seconds(SETTLE_GRACE_SECONDS),
            _ => self.since + Duration::hours(CHECKPOINT_FAILURE_MEMORY_HOURS),
        }
    }

    /// Whether it is going on at `now`.
    pub fn in_effect(&self, now: DateTime<Utc>) -> bool {
        !self.ended && self.since <= now + Duration::seconds(60) && now < self.expires_at()
    }

    /// Whether `alert` is about something this activity concerns: not the activity's own
    /// events, and the same value of a tying label (or, for a checkpoint failure, an alarm on
    /// a checkpoint metric with no pipeline of its own).
    pub fn concerns(&self, alert: &Alert) -> bool {
        if alert.source == scaler::SOURCE || alert.kind == AlertKind::CheckpointHealth {
            return false;
        }
        let tied = TYING_LABELS.iter().any(|name| {
            matches!((self.labels.get(*name), alert.label(name)), (Some(a), Some(b)) if a == b)
        });
        tied || (self.kind == ActivityKind::CheckpointFailure
            && alert.label("pipeline").is_none()
            && is_checkpoint_metric(alert))
    }

    /// The line added to an alert it concerns.
    pub fn annotation(&self) -> (String, String) {
        let since = self.since.format("%H:%M:%SZ");
        match self.kind {
            ActivityKind::Scaling => {
                let settle = self
                    .settles_by
                    .map(|t| format!(", expected to settle by {}", t.format("%H:%M:%SZ")))
                    .unwrap_or_default();
                (
                    "scaler".into(),
                    format!("{} since {since}{settle}", self.what),
                )
            }
            ActivityKind::CheckpointFailure => {
                ("checkpoints".into(), format!("{} since {since}", self.what))
            }
        }
    }
}

/// An alarm whose metric is about checkpoints (Flink's `numberOfFailedCheckpoints`, the
/// checkpoints function's `CheckpointAgeSeconds`, ...).
pub fn is_checkpoint_metric(alert: &Alert) -> bool {
    alert
        .label("metric")
        .is_some_and(|m| m.to_ascii_lowercase().contains("checkpoint"))
}

/// The marker of an activity's end at the alert's time (see [`Activity::ended`]).
fn ended(key: String, kind: ActivityKind, alert: &Alert) -> Activity {
    Activity {
        key,
        kind,
        subject: alert.resource.clone(),
        labels: BTreeMap::new(),
        what: "ended".into(),
        since: alert.time,
        settles_by: None,
        event_id: alert.event_id.clone(),
        ended: true,
    }
}

/// What a normalized suite event says about an activity, if anything: a start, or the
/// marker of an end. The store keeps, per key, the one with the latest `since`.
pub fn change_of(alert: &Alert, detail: &serde_json::Value) -> Option<Activity> {
    if alert.source == scaler::SOURCE {
        return scaling_change(alert, detail);
    }
    if alert.source == checkpoints::SOURCE && alert.kind == AlertKind::CheckpointHealth {
        let key = format!("checkpoints/{}", alert.resource);
        if alert.severity == Severity::Resolved {
            return Some(ended(key, ActivityKind::CheckpointFailure, alert));
        }
        let labels = BTreeMap::from([("pipeline".to_string(), alert.resource.clone())]);
        return Some(Activity {
            key,
            kind: ActivityKind::CheckpointFailure,
            subject: alert.resource.clone(),
            labels,
            what: format!(
                "checkpoints of pipeline {} are {}",
                alert.resource,
                alert.state.to_ascii_lowercase()
            ),
            since: alert.time,
            settles_by: None,
            event_id: alert.event_id.clone(),
            ended: false,
        });
    }
    None
}

/// The scaler's decision detail, the fields read here (see `normalize/scaler.rs`).
#[derive(Deserialize)]
struct ScalingDetail {
    outcome: String,
    #[serde(default)]
    from: Option<u32>,
    #[serde(default)]
    to: Option<u32>,
    #[serde(default)]
    about: BTreeMap<String, String>,
    #[serde(default)]
    settles_by: Option<DateTime<Utc>>,
}

fn scaling_change(alert: &Alert, detail: &serde_json::Value) -> Option<Activity> {
    let d: ScalingDetail = serde_json::from_value(detail.clone()).ok()?;
    let key = format!("scaling/{}", alert.resource);
    match d.outcome.as_str() {
        "scaled" => {
            let sizes = match (d.from, d.to) {
                (Some(from), Some(to)) => format!(" {from} -> {to}"),
                _ => String::new(),
            };
            let labels = d
                .about
                .into_iter()
                .filter(|(k, v)| TYING_LABELS.contains(&k.as_str()) && !v.is_empty())
                .collect();
            Some(Activity {
                key,
                kind: ActivityKind::Scaling,
                subject: alert.resource.clone(),
                labels,
                what: format!("the scaler is resizing {}{sizes}", alert.resource),
                since: alert.time,
                settles_by: d.settles_by,
                event_id: alert.event_id.clone(),
                ended: false,
            })
        }
        "rescaled" | "failed" | "stranded" => Some(ended(key, ActivityKind::Scaling, alert)),
        _ => None,
    }
}

/// An alert held while the scaler acts, as its re-check message carries it: re-judged at
/// `until`, sent if its state is still the one held and was never sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldAlert {
    pub alert: Alert,
    /// The activity it was held for (its annotation names it again when it is sent).
    pub activity: Activity,
    pub held_at: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Set by the queue adapter from `until` (SQS delays at most 900 s; a later `until` is
    /// re-checked, found early and queued again).
    #[serde(skip)]
    pub delay_seconds: u64,
}

impl HeldAlert {
    /// The line added when it is sent after all.
    pub fn annotation(&self) -> (String, String) {
        let minutes = ((self.until - self.held_at).num_seconds().max(0) as u64).div_ceil(60);
        (
            "held".into(),
            format!(
                "held {minutes} min while {}; still firing after it should have settled",
                self.activity.what
            ),
        )
    }
}

/// `ALERTS_HOLD_DURING_SCALING`: which problems on a resource being scaled wait until the
/// action should have settled. `Some(s)`: problems of severity `s` or less urgent.
pub fn parse_hold(value: &str) -> Result<Option<Severity>, String> {
    match value.trim() {
        "" | "off" => Ok(None),
        "warning" => Ok(Some(Severity::Warning)),
        "error" => Ok(Some(Severity::Error)),
        "critical" => Ok(Some(Severity::Critical)),
        other => Err(format!("{other:?} (off, warning, error or critical)")),
    }
}

/// The scaling activity `alert` is held for, if the hold applies: a problem no more urgent
/// than `hold`, on a resource an action in effect concerns, before that action should have
/// settled. The one settling last is named.
pub fn holding<'a>(
    alert: &Alert,
    activities: &'a [Activity],
    hold: Option<Severity>,
    now: DateTime<Utc>,
) -> Option<&'a Activity> {
    let hold = hold?;
    if !alert.severity.is_problem() || alert.severity < hold {
        return None;
    }
    activities
        .iter()
        .filter(|a| a.kind == ActivityKind::Scaling && a.in_effect(now) && a.concerns(alert))
        .filter(|a| a.settles_by.is_some_and(|t| t > now))
        .max_by_key(|a| a.settles_by)
}

/// A pipeline's latest restorable point, as the book's pointer names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestorePoint {
    pub location: String,
    /// `checkpoint` or `savepoint`.
    pub kind: String,
    pub job_id: String,
    pub checkpoint_id: Option<u64>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The point's own status (`restorable`, or what became of it since the pointer moved).
    pub status: Option<String>,
}

impl RestorePoint {
    /// The line added to an alert.
    pub fn annotation(&self) -> String {
        let what = match self.checkpoint_id {
            Some(id) => format!("{} {id}", self.kind),
            None => self.kind.clone(),
        };
        let when = self
            .completed_at
            .map(|t| format!(", completed {}", t.format("%Y-%m-%dT%H:%M:%SZ")))
            .unwrap_or_default();
        let status = match self.status.as_deref() {
            Some("restorable") | None => String::new(),
            Some(other) => format!(" (marked {other}: `checkpoints latest` names a verified one)"),
        };
        format!(
            "{} ({what} of job {}{when}){status}",
            self.location, self.job_id
        )
    }
}

#[cfg(test)]
mod tests;
