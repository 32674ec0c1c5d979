//! Scaling policies and the decision they lead to. Pure: the target's observed size and state
//! and the alarm's direction in, a `ScalingDecision` out.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Kinesis allows 10 `UpdateShardCount` calls per stream in a rolling 24 hours.
pub const KINESIS_CALLS_PER_DAY: usize = 10;
/// One scale-in step removes at most 40% of the current size.
pub const MAX_SCALE_IN_FRACTION: f64 = 0.4;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetKind {
    KinesisStream {
        stream: String,
    },
    EmrInstanceGroup {
        cluster_id: String,
        instance_group_id: String,
    },
    /// A Flink job's parallelism, through the JobManager's REST API. `adaptive`: in place with
    /// `PUT /jobs/:id/resource-requirements` (adaptive scheduler); `savepoint`: stop with a
    /// savepoint and resubmit the session cluster's jar from it at the new parallelism.
    FlinkJob {
        rest_url: String,
        job_name: String,
        mode: FlinkRescaleMode,
        #[serde(default)]
        jar_id: Option<String>,
        #[serde(default)]
        entry_class: Option<String>,
        /// The pipeline the resubmitted job is registered under in the checkpoints book.
        #[serde(default)]
        pipeline: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlinkRescaleMode {
    Adaptive,
    Savepoint,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Sizing {
    /// Add or remove this many units.
    Step(u32),
    /// Multiply (out) or divide (in) by this factor, rounded away from the current size.
    Factor(f64),
}

/// Keys a target may have (serde cannot deny unknown fields next to a flattened enum, so
/// `Policies::parse` checks them).
const TARGET_KEYS: &[&str] = &[
    "id",
    "kind",
    "stream",
    "cluster_id",
    "instance_group_id",
    "rest_url",
    "job_name",
    "mode",
    "jar_id",
    "entry_class",
    "pipeline",
    "min",
    "max",
    "scale_out",
    "scale_in",
    "scale_out_cooldown_seconds",
    "scale_in_cooldown_seconds",
];

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct TargetPolicy {
    pub id: String,
    #[serde(flatten)]
    pub kind: TargetKind,
    pub min: u32,
    pub max: u32,
    #[serde(default = "default_out")]
    pub scale_out: Sizing,
    #[serde(default = "default_in")]
    pub scale_in: Sizing,
    /// After any action, no scale-out for this long.
    #[serde(default = "default_out_cooldown")]
    pub scale_out_cooldown_seconds: i64,
    /// After any action, no scale-in for this long (the stabilisation window; scale down slowly).
    #[serde(default = "default_in_cooldown")]
    pub scale_in_cooldown_seconds: i64,
}

fn default_out() -> Sizing {
    Sizing::Factor(2.0)
}
fn default_in() -> Sizing {
    Sizing::Step(1)
}
fn default_out_cooldown() -> i64 {
    300
}
fn default_in_cooldown() -> i64 {
    3600
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Out,
    In,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmRule {
    /// Exact alarm name, or...
    #[serde(default)]
    pub alarm: Option<String>,
    /// ...an alarm name prefix.
    #[serde(default)]
    pub alarm_prefix: Option<String>,
    pub target: String,
    pub direction: Direction,
}

impl AlarmRule {
    pub fn matches(&self, alarm: &str) -> bool {
        self.alarm.as_deref() == Some(alarm)
            || self
                .alarm_prefix
                .as_deref()
                .is_some_and(|p| alarm.starts_with(p))
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Policies {
    pub targets: Vec<TargetPolicy>,
    pub rules: Vec<AlarmRule>,
}

impl Policies {
    pub fn parse(json: &str) -> Result<Self, String> {
        let raw: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("scaling policies: {e}"))?;
        for t in raw["targets"].as_array().into_iter().flatten() {
            for k in t.as_object().into_iter().flat_map(|o| o.keys()) {
                if !TARGET_KEYS.contains(&k.as_str()) {
                    return Err(format!(
                        "scaling policies: target {}: unknown field `{k}`, expected one of {}",
                        t["id"],
                        TARGET_KEYS.join(", ")
                    ));
                }
            }
        }
        let p: Policies =
            serde_json::from_str(json).map_err(|e| format!("scaling policies: {e}"))?;
        p.validate()?;
        Ok(p)
    }

    pub fn validate(&self) -> Result<(), String> {
        let mut ids = BTreeSet::new();
        for t in &self.targets {
            if t.id.is_empty() || !ids.insert(t.id.as_str()) {
                return Err(format!("target id {:?} is empty or used twice", t.id));
            }
            if t.min == 0 || t.min > t.max {
                return Err(format!(
                    "target {}: need 1 <= min <= max, got min {} max {}",
                    t.id, t.min, t.max
                ));
            }
            for (what, s) in [("scale_out", t.scale_out), ("scale_in", t.scale_in)] {
                match s {
                    Sizing::Step(0) => {
                        return Err(format!("target {}: {what} step must be at least 1", t.id));
                    }
                    Sizing::Factor(f) if !(f > 1.0 && f <= 10.0) => {
                        return Err(format!(
                            "target {}: {what} factor must be above 1 and at most 10, got {f}",
                            t.id
                        ));
                    }
                    _ => {}
                }
            }
            if let TargetKind::FlinkJob {
                rest_url,
                mode,
                jar_id,
                ..
            } = &t.kind
            {
                streamops_shared::http::parse_endpoint(rest_url)
                    .map_err(|e| format!("target {}: {e}", t.id))?;
                if *mode == FlinkRescaleMode::Savepoint && jar_id.is_none() {
                    return Err(format!(
                        "target {}: savepoint mode resubmits a jar: give jar_id",
                        t.id
                    ));
                }
            }
            if let TargetKind::FlinkJob {
                rest_url,
                mode,
                jar_id,
                ..
            } = &t.kind
            {
                streamops_shared::http::parse_endpoint(rest_url)
                    .map_err(|e| format!("target {}: {e}", t.id))?;
                if *mode == FlinkRescaleMode::Savepoint && jar_id.is_none() {
                    return Err(format!(
                        "target {}: savepoint mode resubmits a jar: give jar_id",
                        t.id
                    ));
                }
            }
            if t.scale_out_cooldown_seconds < 0 || t.scale_in_cooldown_seconds < 0 {
                return Err(format!("target {}: cooldowns cannot be negative", t.id));
            }
        }
        for r in &self.rules {
            if r.alarm.is_none() == r.alarm_prefix.is_none() {
                return Err(format!(
                    "rule for target {}: give exactly one of alarm and alarm_prefix",
                    r.target
                ));
            }
            if !ids.contains(r.target.as_str()) {
                return Err(format!("rule names unknown target {:?}", r.target));
            }
        }
        Ok(())
    }

    pub fn target(&self, id: &str) -> Option<&TargetPolicy> {
        self.targets.iter().find(|t| t.id == id)
    }

    /// Every (target, direction) an alarm maps to, each target once (the first rule wins).
    pub fn rules_for(&self, alarm: &str) -> Vec<&AlarmRule> {
        let mut seen = BTreeSet::new();
        self.rules
            .iter()
            .filter(|r| r.matches(alarm) && seen.insert(r.target.as_str()))
            .collect()
    }
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
    pub version: Option<u64>,
}

/// The target as its service reports it now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "observed", rename_all = "snake_case")]
pub enum Observed {
    Ready {
        size: u32,
    },
    /// Changing already (stream UPDATING, group RESIZING, cluster not RUNNING/WAITING).
    Busy {
        detail: String,
    },
    /// Nothing to scale (an on-demand stream).
    Unsupported {
        detail: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    Duplicate,
    Paused,
    Cooldown,
    AtBound,
    Busy,
    Unsupported,
    QuotaExhausted,
    NotAlarm,
    Concurrent,
    /// The alarm's metric, re-read now, no longer breaches.
    Recovered,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum ScalingDecision {
    Act {
        target: String,
        from: u32,
        to: u32,
        reason: String,
    },
    Skip {
        target: String,
        reason: SkipReason,
        detail: String,
    },
}

impl ScalingDecision {
    pub fn skip(target: &str, reason: SkipReason, detail: impl Into<String>) -> Self {
        ScalingDecision::Skip {
            target: target.to_string(),
            reason,
            detail: detail.into(),
        }
    }
}

/// The size `sizing` leads to from `current`, before bounds and service limits.
pub fn next_size(current: u32, direction: Direction, sizing: Sizing) -> u32 {
    match (direction, sizing) {
        (Direction::Out, Sizing::Step(s)) => current.saturating_add(s),
        (Direction::Out, Sizing::Factor(f)) => {
            ((current as f64 * f).ceil() as u32).max(current + 1)
        }
        (Direction::In, Sizing::Step(s)) => current.saturating_sub(s),
        (Direction::In, Sizing::Factor(f)) => {
            ((current as f64 / f).floor() as u32).min(current.saturating_sub(1))
        }
    }
}

/// Decides one target's action for one alarm direction.
pub fn decide(
    policy: &TargetPolicy,
    state: &TargetState,
    observed: &Observed,
    direction: Direction,
    why: &str,
    now: DateTime<Utc>,
) -> ScalingDecision {
    let id = policy.id.as_str();
    if state.paused {
        return ScalingDecision::skip(
            id,
            SkipReason::Paused,
            "the target is paused (ops command resume)",
        );
    }
    let current = match observed {
        Observed::Ready { size } => *size,
        Observed::Busy { detail } => {
            return ScalingDecision::skip(id, SkipReason::Busy, detail.clone());
        }
        Observed::Unsupported { detail } => {
            return ScalingDecision::skip(id, SkipReason::Unsupported, detail.clone());
        }
    };
    if let Some(last) = state.last_action_at {
        let cooldown = match direction {
            Direction::Out => policy.scale_out_cooldown_seconds,
            Direction::In => policy.scale_in_cooldown_seconds,
        };
        let until = last + Duration::seconds(cooldown);
        if now < until {
            return ScalingDecision::skip(
                id,
                SkipReason::Cooldown,
                format!(
                    "last action at {last}; no scale-{} before {until}",
                    if direction == Direction::Out {
                        "out"
                    } else {
                        "in"
                    }
                ),
            );
        }
    }
    let sizing = match direction {
        Direction::Out => policy.scale_out,
        Direction::In => policy.scale_in,
    };
    let mut to = next_size(current, direction, sizing);
    if direction == Direction::In {
        // Never more than 40% down in one step.
        let floor = (current as f64 * (1.0 - MAX_SCALE_IN_FRACTION)).ceil() as u32;
        to = to.max(floor);
    }
    let mut limits = Vec::new();
    if let crate::policy::TargetKind::KinesisStream { .. } = policy.kind {
        // UpdateShardCount: at most double, at least half the open shards per call.
        let (lo, hi) = (current.div_ceil(2), current.saturating_mul(2));
        if to > hi || to < lo {
            limits.push("UpdateShardCount allows half to double per call");
        }
        to = to.clamp(lo, hi);
        let recent = state
            .kinesis_calls
            .iter()
            .filter(|t| now - **t < Duration::hours(24))
            .count();
        if recent >= KINESIS_CALLS_PER_DAY {
            return ScalingDecision::skip(
                id,
                SkipReason::QuotaExhausted,
                format!(
                    "{recent} UpdateShardCount calls in the last 24 h (limit {KINESIS_CALLS_PER_DAY})"
                ),
            );
        }
    }
    let bounded = to.clamp(policy.min, policy.max);
    if bounded != to {
        limits.push(if bounded < to { "max" } else { "min" });
    }
    if bounded == current {
        return ScalingDecision::skip(
            id,
            SkipReason::AtBound,
            format!(
                "size {current} is at the policy bound (min {}, max {})",
                policy.min, policy.max
            ),
        );
    }
    let note = if limits.is_empty() {
        String::new()
    } else {
        format!(" (limited by {})", limits.join(", "))
    };
    ScalingDecision::Act {
        target: id.to_string(),
        from: current,
        to: bounded,
        reason: format!("{why}{note}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinesis() -> TargetPolicy {
        serde_json::from_str(
            r#"{"id": "raw", "kind": "kinesis_stream", "stream": "s", "min": 2, "max": 10}"#,
        )
        .unwrap()
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    #[test]
    fn scale_out_doubles_within_bounds_and_api_limits() {
        let p = kinesis();
        let d = decide(
            &p,
            &TargetState::default(),
            &Observed::Ready { size: 2 },
            Direction::Out,
            "iterator age",
            now(),
        );
        assert!(
            matches!(d, ScalingDecision::Act { from: 2, to: 4, .. }),
            "{d:?}"
        );
        let d = decide(
            &p,
            &TargetState::default(),
            &Observed::Ready { size: 8 },
            Direction::Out,
            "x",
            now(),
        );
        assert!(
            matches!(
                d,
                ScalingDecision::Act {
                    from: 8,
                    to: 10,
                    ..
                }
            ),
            "capped by max: {d:?}"
        );
        let d = decide(
            &p,
            &TargetState::default(),
            &Observed::Ready { size: 10 },
            Direction::Out,
            "x",
            now(),
        );
        assert!(matches!(
            d,
            ScalingDecision::Skip {
                reason: SkipReason::AtBound,
                ..
            }
        ));
    }

    #[test]
    fn scale_in_is_slow_and_bounded() {
        let mut p = kinesis();
        p.scale_in = Sizing::Factor(4.0);
        let d = decide(
            &p,
            &TargetState::default(),
            &Observed::Ready { size: 10 },
            Direction::In,
            "idle",
            now(),
        );
        assert!(
            matches!(
                d,
                ScalingDecision::Act {
                    from: 10,
                    to: 6,
                    ..
                }
            ),
            "at most 40% down: {d:?}"
        );
        let d = decide(
            &p,
            &TargetState::default(),
            &Observed::Ready { size: 2 },
            Direction::In,
            "idle",
            now(),
        );
        assert!(matches!(
            d,
            ScalingDecision::Skip {
                reason: SkipReason::AtBound,
                ..
            }
        ));
    }

    #[test]
    fn cooldowns_pause_busy_unsupported_and_quota() {
        let p = kinesis();
        let recent = TargetState {
            last_action_at: Some(now() - Duration::minutes(2)),
            ..Default::default()
        };
        let d = decide(
            &p,
            &recent,
            &Observed::Ready { size: 4 },
            Direction::Out,
            "x",
            now(),
        );
        assert!(matches!(
            d,
            ScalingDecision::Skip {
                reason: SkipReason::Cooldown,
                ..
            }
        ));
        let later = TargetState {
            last_action_at: Some(now() - Duration::minutes(30)),
            ..Default::default()
        };
        assert!(matches!(
            decide(
                &p,
                &later,
                &Observed::Ready { size: 4 },
                Direction::Out,
                "x",
                now()
            ),
            ScalingDecision::Act { .. }
        ));
        assert!(
            matches!(
                decide(
                    &p,
                    &later,
                    &Observed::Ready { size: 4 },
                    Direction::In,
                    "x",
                    now()
                ),
                ScalingDecision::Skip {
                    reason: SkipReason::Cooldown,
                    ..
                }
            ),
            "the scale-in stabilisation window is longer"
        );
        let paused = TargetState {
            paused: true,
            ..Default::default()
        };
        assert!(matches!(
            decide(
                &p,
                &paused,
                &Observed::Ready { size: 4 },
                Direction::Out,
                "x",
                now()
            ),
            ScalingDecision::Skip {
                reason: SkipReason::Paused,
                ..
            }
        ));
        let busy = Observed::Busy {
            detail: "UPDATING".into(),
        };
        assert!(matches!(
            decide(
                &p,
                &TargetState::default(),
                &busy,
                Direction::Out,
                "x",
                now()
            ),
            ScalingDecision::Skip {
                reason: SkipReason::Busy,
                ..
            }
        ));
        let od = Observed::Unsupported {
            detail: "on-demand".into(),
        };
        assert!(matches!(
            decide(&p, &TargetState::default(), &od, Direction::Out, "x", now()),
            ScalingDecision::Skip {
                reason: SkipReason::Unsupported,
                ..
            }
        ));
        let quota = TargetState {
            kinesis_calls: vec![now() - Duration::hours(1); 10],
            ..Default::default()
        };
        assert!(matches!(
            decide(
                &p,
                &quota,
                &Observed::Ready { size: 4 },
                Direction::Out,
                "x",
                now()
            ),
            ScalingDecision::Skip {
                reason: SkipReason::QuotaExhausted,
                ..
            }
        ));
        let old_calls = TargetState {
            kinesis_calls: vec![now() - Duration::hours(25); 10],
            ..Default::default()
        };
        assert!(matches!(
            decide(
                &p,
                &old_calls,
                &Observed::Ready { size: 4 },
                Direction::Out,
                "x",
                now()
            ),
            ScalingDecision::Act { .. }
        ));
    }

    #[test]
    fn policies_validate_with_clear_errors() {
        let ok = r#"{"targets": [{"id": "raw", "kind": "kinesis_stream", "stream": "s", "min": 1, "max": 4}],
                     "rules": [{"alarm_prefix": "streamops-raw-", "target": "raw", "direction": "out"}]}"#;
        let p = Policies::parse(ok).unwrap();
        assert_eq!(p.rules_for("streamops-raw-iterator-age").len(), 1);
        assert!(p.rules_for("other").is_empty());
        let bad = |s: &str| Policies::parse(s).unwrap_err();
        assert!(bad(&ok.replace("\"min\": 1", "\"min\": 5")).contains("min <= max"));
        assert!(
            bad(&ok.replace("\"target\": \"raw\"", "\"target\": \"nope\""))
                .contains("unknown target")
        );
        assert!(bad(&ok.replace("alarm_prefix", "alarmz")).contains("unknown field"));
        assert!(
            bad(&ok.replace("\"max\": 4}", "\"max\": 4, \"maximum\": 9}"))
                .contains("unknown field `maximum`")
        );
        assert!(
            bad(&ok.replace(
                "\"max\": 4}",
                "\"max\": 4, \"scale_out\": {\"factor\": 0.5}}"
            ))
            .contains("factor")
        );
    }
}
