//! What the scaler remembers about a target between invocations: when and how it last acted,
//! the scale-in waiting out its delay, what a scale-up was expected to achieve, the open
//! decision the schedule re-evaluates, a Flink rescale in progress and how long the last ones
//! stopped the job.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::Direction;
use crate::metric::MetricCheck;
use crate::rescale::FlinkRescale;
use crate::restart::RestartSample;

/// A scale-in recommendation waiting out `scale_in_delay_seconds`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct PendingScaleIn {
    pub since: DateTime<Utc>,
    /// The highest size recommended since then: what the scale-in goes to.
    pub highest: u32,
}

/// What a scale-up was expected to achieve, to check it did.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ScaleUpRecord {
    pub at: DateTime<Utc>,
    pub from: u32,
    pub to: u32,
    /// True processing rate before the action, and the rate the new size should reach.
    pub rate_before: f64,
    pub expected_rate: f64,
    /// The scheduled check after the action has judged it.
    #[serde(default)]
    pub checked: bool,
}

/// An unresolved decision the schedule (`tick`) re-evaluates: a deferred action or a scale-in
/// waiting for its delay. The alarm's OK transition ends it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Wakeup {
    pub alarm: String,
    pub direction: Direction,
    pub since: DateTime<Utc>,
    pub why: String,
    #[serde(default)]
    pub check: Option<MetricCheck>,
}

/// Bookkeeping beyond sizes and times, stored as one JSON attribute.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Memo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_scale_in: Option<PendingScaleIn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale_up: Option<ScaleUpRecord>,
    /// Why scale-ups are blocked (an ineffective scale-up), until `resume`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_scale_up: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wakeup: Option<Wakeup>,
    /// A Flink rescale in progress (its phase survives the invocation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rescale: Option<FlinkRescale>,
    /// The latest savepoint rescales' measured restarts (stop to running), oldest first, for
    /// proportional sizing's `measured_restart`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restarts: Vec<RestartSample>,
}

/// What the scaler remembers about a target.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TargetState {
    pub last_action_at: Option<DateTime<Utc>>,
    pub last_direction: Option<Direction>,
    pub last_size: Option<u32>,
    pub paused: bool,
    /// Kinesis `UpdateShardCount` calls in the last 24 hours (durable quota tracking).
    pub kinesis_calls: Vec<DateTime<Utc>>,
    pub memo: Memo,
    pub version: Option<u64>,
}
