//! Scaling policies and the decision they lead to. Pure: the target's observed size, its load
//! and remembered state, and the alarm's direction in; a `ScalingDecision` out (and the state's
//! bookkeeping updated: pending scale-in window, effectiveness record).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::sizing::{Alignment, LoadSample, Proportional, align, proportional_size};

/// Kinesis allows 10 `UpdateShardCount` calls per stream in a rolling 24 hours.
pub const KINESIS_CALLS_PER_DAY: usize = 10;
/// One scale-in step goes at most down to 40% of the current size (the Flink autoscaler's
/// default `scale-down.max-factor` of 0.6).
pub const SCALE_IN_FLOOR: f64 = 0.4;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetKind {
    KinesisStream {
        stream: String,
    },
    EmrInstanceGroup {
        cluster_id: String,
        instance_group_id: String,
        /// Core groups hold HDFS: resized only when the policy says so.
        #[serde(default)]
        allow_core: bool,
        /// A core group is never shrunk so far that HDFS would be fuller than this.
        #[serde(default = "default_hdfs_max")]
        hdfs_max_utilisation_percent: f64,
        /// YARN ResourceManager (http://master:8088): a scale-in terminates the nodes running
        /// no containers, instead of letting YARN decommission busy ones for up to an hour.
        #[serde(default)]
        yarn_rm_url: Option<String>,
        /// YARN graceful decommission timeout of a scale-in.
        #[serde(default = "default_decommission")]
        decommission_timeout_seconds: i32,
    },
    EmrInstanceFleet {
        cluster_id: String,
        instance_fleet_id: String,
        /// Which target capacity the scaler sets: `on_demand` or `spot`.
        market: FleetMarket,
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
        /// Where the savepoint goes (default: the cluster's `state.savepoints.dir`).
        #[serde(default)]
        savepoint_dir: Option<String>,
        /// A savepoint not complete after this long is reported; the job keeps running.
        #[serde(default = "default_savepoint_timeout")]
        savepoint_timeout_seconds: i64,
        /// The Kinesis stream the job's source reads: parallelism aligns to its shard count.
        #[serde(default)]
        source_stream: Option<String>,
        /// Resubmit through an EMR step (`flink run -s <savepoint> -p <n>` on the cluster)
        /// instead of the session cluster's `POST /jars/:id/run`.
        #[serde(default)]
        emr_step: Option<EmrStepSubmit>,
    },
}

/// How savepoint mode resubmits a job on EMR: a `command-runner.jar` step running
/// `command... -s <savepoint> -p <n> [-c entry_class] jar args...`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmrStepSubmit {
    pub cluster_id: String,
    /// The job's jar, as the cluster sees it (`s3://...` or a local path on the master).
    pub jar: String,
    #[serde(default)]
    pub args: Vec<String>,
    /// The Flink CLI call before the savepoint and parallelism options, e.g. `["flink", "run",
    /// "-d", "-t", "yarn-session"]` for the cluster's YARN session.
    #[serde(default = "default_flink_command")]
    pub command: Vec<String>,
}

fn default_flink_command() -> Vec<String> {
    ["flink", "run", "-d"].map(String::from).to_vec()
}

impl EmrStepSubmit {
    /// The step's arguments for `command-runner.jar`.
    pub fn step_args(
        &self,
        savepoint: &str,
        parallelism: u32,
        entry_class: Option<&str>,
    ) -> Vec<String> {
        let mut a = self.command.clone();
        a.extend([
            "-s".into(),
            savepoint.into(),
            "-p".into(),
            parallelism.to_string(),
        ]);
        if let Some(c) = entry_class {
            a.extend(["-c".into(), c.into()]);
        }
        a.push(self.jar.clone());
        a.extend(self.args.iter().cloned());
        a
    }
}

impl TargetKind {
    /// Scale-up grows nodes before parallelism; scale-down shrinks parallelism before nodes.
    pub fn layer(&self) -> u8 {
        match self {
            TargetKind::EmrInstanceGroup { .. } | TargetKind::EmrInstanceFleet { .. } => 0,
            TargetKind::FlinkJob { .. } => 1,
            TargetKind::KinesisStream { .. } => 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FleetMarket {
    OnDemand,
    Spot,
}

fn default_hdfs_max() -> f64 {
    80.0
}
fn default_decommission() -> i32 {
    120
}
fn default_savepoint_timeout() -> i64 {
    300
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
    /// Size for the measured load (needs `load`): see `sizing`.
    Proportional(Proportional),
}

/// One CloudWatch metric, read with `GetMetricData`; the value is multiplied by `scale` (e.g.
/// 1/60 turns a per-minute Sum into a per-second rate).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricRef {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    #[serde(default = "default_stat")]
    pub stat: String,
    #[serde(default = "default_period")]
    pub period: i32,
    #[serde(default = "default_scale")]
    pub scale: f64,
}

fn default_stat() -> String {
    "Average".into()
}
fn default_period() -> i32 {
    60
}
fn default_scale() -> f64 {
    1.0
}

/// Where a target's load is measured.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoadMetrics {
    /// Records per second arriving.
    pub input_rate: MetricRef,
    /// Records per second the target processes.
    pub processing_rate: MetricRef,
    /// Busy fraction 0..1 (e.g. Flink busyTimeMsPerSecond with scale 0.001).
    #[serde(default)]
    pub busy_ratio: Option<MetricRef>,
    /// Lag in milliseconds (Kinesis iterator age, `millisBehindLatest`), turned into records
    /// with the input rate...
    #[serde(default)]
    pub lag_ms: Option<MetricRef>,
    /// ...or the backlog in records directly (Kafka consumer lag).
    #[serde(default)]
    pub backlog_records: Option<MetricRef>,
}

/// Keys a target may have (serde cannot deny unknown fields next to a flattened enum, so
/// `Policies::parse` checks them).
const TARGET_KEYS: &[&str] = &[
    "id",
    "kind",
    "stream",
    "cluster_id",
    "instance_group_id",
    "allow_core",
    "hdfs_max_utilisation_percent",
    "yarn_rm_url",
    "decommission_timeout_seconds",
    "instance_fleet_id",
    "market",
    "rest_url",
    "job_name",
    "mode",
    "jar_id",
    "entry_class",
    "pipeline",
    "savepoint_dir",
    "savepoint_timeout_seconds",
    "source_stream",
    "emr_step",
    "min",
    "max",
    "scale_out",
    "scale_in",
    "scale_out_cooldown_seconds",
    "scale_in_cooldown_seconds",
    "scale_in_delay_seconds",
    "scale_in_max_backlog_seconds",
    "min_effectiveness",
    "respect_other_autoscalers",
    "load",
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
    /// After any action, no scale-in for this long (the stabilisation window after a change).
    #[serde(default = "default_in_cooldown")]
    pub scale_in_cooldown_seconds: i64,
    /// A scale-in waits this long after it is first recommended, then goes to the highest size
    /// recommended in that time (a scale-out recommendation cancels it).
    #[serde(default = "default_in_delay")]
    pub scale_in_delay_seconds: i64,
    /// No scale-in while the backlog would take longer than this to drain.
    #[serde(default = "default_max_backlog")]
    pub scale_in_max_backlog_seconds: f64,
    /// A scale-up that achieved less than this fraction of its expected throughput gain blocks
    /// further scale-ups of the target (until `resume` or a scale by hand). 0 disables.
    #[serde(default = "default_effectiveness")]
    pub min_effectiveness: f64,
    /// Skip targets another autoscaler owns (EMR managed scaling, Flink's autoscaler, reactive
    /// mode) instead of fighting it.
    #[serde(default = "default_true")]
    pub respect_other_autoscalers: bool,
    #[serde(default)]
    pub load: Option<LoadMetrics>,
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
fn default_in_delay() -> i64 {
    3600
}
fn default_max_backlog() -> f64 {
    30.0
}
fn default_effectiveness() -> f64 {
    0.1
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Out,
    In,
}

impl Direction {
    pub fn word(self) -> &'static str {
        match self {
            Direction::Out => "out",
            Direction::In => "in",
        }
    }
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
            let fail = |what: String| Err(format!("target {}: {what}", t.id));
            if t.min == 0 || t.min > t.max {
                return fail(format!(
                    "need 1 <= min <= max, got min {} max {}",
                    t.min, t.max
                ));
            }
            for (what, s) in [("scale_out", t.scale_out), ("scale_in", t.scale_in)] {
                match s {
                    Sizing::Step(0) => return fail(format!("{what} step must be at least 1")),
                    Sizing::Factor(f) if !(f > 1.0 && f <= 10.0) => {
                        return fail(format!(
                            "{what} factor must be above 1 and at most 10, got {f}"
                        ));
                    }
                    Sizing::Proportional(p) => {
                        if let Err(e) = p.validate() {
                            return fail(format!("{what}: {e}"));
                        }
                        if t.load.is_none() {
                            return fail(format!(
                                "{what} is proportional: give `load` (input_rate, processing_rate)"
                            ));
                        }
                    }
                    _ => {}
                }
            }
            match &t.kind {
                TargetKind::FlinkJob {
                    rest_url,
                    mode,
                    jar_id,
                    savepoint_timeout_seconds,
                    emr_step,
                    ..
                } => {
                    if let Err(e) = streamops_shared::http::parse_endpoint(rest_url) {
                        return fail(e);
                    }
                    if *mode == FlinkRescaleMode::Savepoint
                        && jar_id.as_deref().is_none_or(str::is_empty)
                        && emr_step.is_none()
                    {
                        return fail(
                            "savepoint mode resubmits the job: give jar_id (session cluster) or emr_step"
                                .into(),
                        );
                    }
                    if let Some(step) = emr_step
                        && (step.cluster_id.is_empty()
                            || step.jar.is_empty()
                            || step.command.is_empty())
                    {
                        return fail("emr_step needs cluster_id, jar and a command".into());
                    }
                    if *savepoint_timeout_seconds < 1 {
                        return fail("savepoint_timeout_seconds must be at least 1".into());
                    }
                }
                TargetKind::EmrInstanceGroup {
                    yarn_rm_url,
                    hdfs_max_utilisation_percent,
                    decommission_timeout_seconds,
                    ..
                } => {
                    if let Some(u) = yarn_rm_url {
                        if let Err(e) = streamops_shared::http::parse_endpoint(u) {
                            return fail(format!("yarn_rm_url: {e}"));
                        }
                    }
                    if !(*hdfs_max_utilisation_percent > 0.0
                        && *hdfs_max_utilisation_percent <= 100.0)
                    {
                        return fail("hdfs_max_utilisation_percent must be in (0, 100]".into());
                    }
                    if *decommission_timeout_seconds < 0 {
                        return fail("decommission_timeout_seconds cannot be negative".into());
                    }
                }
                _ => {}
            }
            if t.scale_out_cooldown_seconds < 0
                || t.scale_in_cooldown_seconds < 0
                || t.scale_in_delay_seconds < 0
            {
                return fail("cooldowns and delays cannot be negative".into());
            }
            if !(0.0..=1.0).contains(&t.min_effectiveness) {
                return fail(format!(
                    "min_effectiveness must be in [0, 1], got {}",
                    t.min_effectiveness
                ));
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

    /// Every (target, direction) an alarm maps to, each target once (the first rule wins),
    /// ordered across layers: nodes before parallelism on the way up, parallelism before nodes
    /// on the way down.
    pub fn rules_for(&self, alarm: &str) -> Vec<&AlarmRule> {
        let mut seen = BTreeSet::new();
        let mut rules: Vec<&AlarmRule> = self
            .rules
            .iter()
            .filter(|r| r.matches(alarm) && seen.insert(r.target.as_str()))
            .collect();
        rules.sort_by_key(|r| {
            let layer = self.target(&r.target).map(|t| t.kind.layer()).unwrap_or(9);
            match r.direction {
                Direction::Out => layer as i16,
                Direction::In => -(layer as i16),
            }
        });
        rules
    }
}

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
    pub check: Option<crate::metrics::MetricCheck>,
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
    pub rescale: Option<crate::rescale::FlinkRescale>,
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

/// The target as its service reports it now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "observed", rename_all = "snake_case")]
pub enum Observed {
    Ready {
        size: u32,
        alignment: Alignment,
        /// A hard ceiling of the target itself (a Flink job's max parallelism, a stream's shards
        /// within the account's shard quota).
        max_size: Option<u32>,
        /// HDFS utilisation of a core group's cluster, which bounds how far it may shrink.
        hdfs_percent: Option<f64>,
    },
    /// Changing already (stream UPDATING, group RESIZING, cluster not RUNNING/WAITING).
    Busy { detail: String },
    /// Nothing to scale (an on-demand stream).
    Unsupported { detail: String },
    /// Another autoscaler owns the target (EMR managed scaling, Flink's autoscaler).
    OwnedElsewhere { detail: String },
}

impl Observed {
    pub fn ready(size: u32) -> Self {
        Observed::Ready {
            size,
            alignment: Alignment::None,
            max_size: None,
            hdfs_percent: None,
        }
    }
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
    /// A scale-in waits for its delay window to pass.
    Stabilising,
    /// No scale-in while a backlog is being drained.
    Draining,
    /// An earlier scale-up did not raise throughput as expected.
    Ineffective,
    /// Proportional sizing finds the current size enough (out) or needed (in).
    Sufficient,
    /// The load metrics proportional sizing needs have no recent data.
    NoData,
    /// Another autoscaler owns the target.
    OwnedElsewhere,
    /// Shrinking would leave HDFS fuller than the policy allows.
    HdfsProtection,
    /// CloudWatch suppressed the alarm's actions for this transition (composite alarm with an
    /// actions suppressor in ALARM, or inside its wait or extension period).
    ActionsSuppressed,
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
    /// Not now, but not dropped: the schedule re-evaluates it (busy target, no load data yet).
    Defer {
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

    pub fn defer(target: &str, reason: SkipReason, detail: impl Into<String>) -> Self {
        ScalingDecision::Defer {
            target: target.to_string(),
            reason,
            detail: detail.into(),
        }
    }
}

/// The size `sizing` leads to from `current`, before bounds and service limits; `None` when
/// proportional sizing has no load to work from.
pub fn next_size(
    current: u32,
    direction: Direction,
    sizing: Sizing,
    load: Option<&LoadSample>,
) -> Option<u32> {
    Some(match (direction, sizing) {
        (Direction::Out, Sizing::Step(s)) => current.saturating_add(s),
        (Direction::Out, Sizing::Factor(f)) => {
            ((current as f64 * f).ceil() as u32).max(current + 1)
        }
        (Direction::In, Sizing::Step(s)) => current.saturating_sub(s),
        (Direction::In, Sizing::Factor(f)) => {
            ((current as f64 / f).floor() as u32).min(current.saturating_sub(1))
        }
        (_, Sizing::Proportional(p)) => proportional_size(current, &p, load?)?,
    })
}

/// Whether a scale-up raised throughput by at least `min_fraction` of what it was expected to;
/// `None` when that cannot be judged (the target is not saturated, so its processed rate is
/// the input rate, not its capacity; or the check is off).
pub fn effectiveness(
    up: &ScaleUpRecord,
    load: &LoadSample,
    min_fraction: f64,
) -> Option<Result<(), String>> {
    if !load.saturated() || up.expected_rate <= up.rate_before || min_fraction <= 0.0 {
        return None;
    }
    let expected = up.expected_rate - up.rate_before;
    let actual = load.true_processing_rate() - up.rate_before;
    Some(if actual < min_fraction * expected {
        Err(format!(
            "the scale-up from {} to {} at {} raised throughput by {actual:.0} records/s, \
             less than {:.0}% of the expected {expected:.0}: scale-ups blocked until `resume`",
            up.from,
            up.to,
            up.at,
            min_fraction * 100.0
        ))
    } else {
        Ok(())
    })
}

/// Decides one target's action for one alarm direction, updating the state's bookkeeping
/// (pending scale-in, scale-up record, blocked scale-ups).
pub fn decide(
    policy: &TargetPolicy,
    state: &mut TargetState,
    observed: &Observed,
    direction: Direction,
    load: Option<&LoadSample>,
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
    let (current, alignment, max_size, hdfs_percent) = match observed {
        Observed::Ready {
            size,
            alignment,
            max_size,
            hdfs_percent,
        } => (*size, *alignment, *max_size, *hdfs_percent),
        Observed::Busy { detail } => {
            return ScalingDecision::defer(id, SkipReason::Busy, detail.clone());
        }
        Observed::Unsupported { detail } => {
            return ScalingDecision::skip(id, SkipReason::Unsupported, detail.clone());
        }
        Observed::OwnedElsewhere { detail } => {
            return ScalingDecision::skip(id, SkipReason::OwnedElsewhere, detail.clone());
        }
    };
    if direction == Direction::Out {
        // Any scale-out recommendation cancels a waiting scale-in.
        state.memo.pending_scale_in = None;
        if let Some(why_blocked) = &state.memo.blocked_scale_up {
            return ScalingDecision::skip(id, SkipReason::Ineffective, why_blocked.clone());
        }
    }
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
                    direction.word()
                ),
            );
        }
    }
    if direction == Direction::Out
        && let (Some(up), Some(load)) = (&state.memo.last_scale_up, load)
        && let Some(Err(detail)) = effectiveness(up, load, policy.min_effectiveness)
    {
        state.memo.blocked_scale_up = Some(detail.clone());
        return ScalingDecision::skip(id, SkipReason::Ineffective, detail);
    }
    let sizing = match direction {
        Direction::Out => policy.scale_out,
        Direction::In => policy.scale_in,
    };
    let Some(recommended) = next_size(current, direction, sizing, load) else {
        return ScalingDecision::defer(
            id,
            SkipReason::NoData,
            "proportional sizing has no recent input and processing rates to size from",
        );
    };
    let mut limits: Vec<String> = Vec::new();
    let mut to = recommended;
    let sufficient = match direction {
        Direction::Out => to <= current,
        Direction::In => to >= current,
    };
    if sufficient {
        return ScalingDecision::skip(
            id,
            SkipReason::Sufficient,
            format!(
                "the measured load needs {recommended}, the target has {current}: no scale-{}",
                direction.word()
            ),
        );
    }
    if direction == Direction::In {
        if let Some(load) = load {
            let secs = load.backlog_seconds();
            if secs > policy.scale_in_max_backlog_seconds {
                return ScalingDecision::skip(
                    id,
                    SkipReason::Draining,
                    format!(
                        "a backlog of {:.0} records takes {secs:.0} s to drain (limit {} s): no scale-in while draining",
                        load.backlog_records, policy.scale_in_max_backlog_seconds
                    ),
                );
            }
        }
        // Never below 40% of the current size in one step.
        let floor = (current as f64 * SCALE_IN_FLOOR).ceil() as u32;
        if to < floor {
            limits.push("40% floor".into());
            to = floor;
        }
        if let Some(pct) = hdfs_percent
            && let TargetKind::EmrInstanceGroup {
                hdfs_max_utilisation_percent: max_pct,
                ..
            } = &policy.kind
        {
            // Data stays; it spreads over fewer nodes.
            let hdfs_floor = (current as f64 * pct / max_pct).ceil() as u32;
            if hdfs_floor >= current {
                return ScalingDecision::skip(
                    id,
                    SkipReason::HdfsProtection,
                    format!(
                        "HDFS is {pct:.0}% full: {current} core nodes cannot shrink below {max_pct:.0}%"
                    ),
                );
            }
            if to < hdfs_floor {
                limits.push(format!("HDFS at {pct:.0}%"));
                to = hdfs_floor;
            }
        }
        // Wait out the delay window, then take the highest size recommended in it.
        let pending = match state.memo.pending_scale_in.take() {
            Some(p) => PendingScaleIn {
                since: p.since,
                highest: p.highest.max(to),
            },
            None => PendingScaleIn {
                since: now,
                highest: to,
            },
        };
        let due = pending.since + Duration::seconds(policy.scale_in_delay_seconds);
        if now < due {
            let detail = format!(
                "scale-in to {} recommended since {}; it waits until {due} and then goes to the highest size recommended meanwhile",
                pending.highest, pending.since
            );
            state.memo.pending_scale_in = Some(pending);
            return ScalingDecision::skip(id, SkipReason::Stabilising, detail);
        }
        if pending.highest > to {
            limits.push(format!("highest recommendation since {}", pending.since));
        }
        to = pending.highest;
    }
    to = align(
        to,
        alignment,
        max_size.unwrap_or(policy.max).min(policy.max),
    );
    if let Some(m) = max_size
        && to > m
    {
        limits.push(format!(
            "the target's own ceiling {m} (max parallelism, or shard quota)"
        ));
        to = m;
    }
    if let TargetKind::KinesisStream { .. } = policy.kind {
        // UpdateShardCount: at most double, at least half the open shards per call.
        let (lo, hi) = (current.div_ceil(2), current.saturating_mul(2));
        if to > hi || to < lo {
            limits.push("UpdateShardCount allows half to double per call".into());
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
        limits.push(if bounded < to { "max" } else { "min" }.into());
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
    let moved_in_direction = match direction {
        Direction::Out => bounded > current,
        Direction::In => bounded < current,
    };
    if !moved_in_direction {
        return ScalingDecision::skip(
            id,
            SkipReason::AtBound,
            format!(
                "limits ({}) leave no scale-{} from {current}",
                limits.join(", "),
                direction.word()
            ),
        );
    }
    state.memo.pending_scale_in = None;
    state.memo.last_scale_up = match (direction, load) {
        (Direction::Out, Some(load)) => Some(ScaleUpRecord {
            at: now,
            from: current,
            to: bounded,
            rate_before: load.true_processing_rate(),
            expected_rate: load.true_processing_rate() * bounded as f64 / current as f64,
            checked: false,
        }),
        _ => None,
    };
    let mut reason = why.to_string();
    if matches!(sizing, Sizing::Proportional(_))
        && let Some(load) = load
    {
        reason.push_str(&format!(
            "; load {:.0} records/s in, {:.0} processed (true {:.0}), backlog {:.0}: {recommended} needed",
            load.input_rate,
            load.processing_rate,
            load.true_processing_rate(),
            load.backlog_records
        ));
    }
    if !limits.is_empty() {
        reason.push_str(&format!(" (limited by {})", limits.join(", ")));
    }
    ScalingDecision::Act {
        target: id.to_string(),
        from: current,
        to: bounded,
        reason,
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

    /// Decides with a fresh copy of `state`, at `now() + at_minutes`.
    fn run(
        p: &TargetPolicy,
        state: &mut TargetState,
        size: u32,
        dir: Direction,
        load: Option<&LoadSample>,
        at_minutes: i64,
    ) -> ScalingDecision {
        decide(
            p,
            state,
            &Observed::ready(size),
            dir,
            load,
            "why",
            now() + Duration::minutes(at_minutes),
        )
    }

    fn d(p: &TargetPolicy, state: &TargetState, size: u32, dir: Direction) -> ScalingDecision {
        run(p, &mut state.clone(), size, dir, None, 0)
    }

    fn act(d: &ScalingDecision) -> Option<(u32, u32)> {
        match d {
            ScalingDecision::Act { from, to, .. } => Some((*from, *to)),
            _ => None,
        }
    }

    fn skipped(d: &ScalingDecision) -> Option<SkipReason> {
        match d {
            ScalingDecision::Skip { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    #[test]
    fn scale_out_doubles_within_bounds_and_api_limits() {
        let p = kinesis();
        let st = TargetState::default();
        assert_eq!(act(&d(&p, &st, 2, Direction::Out)), Some((2, 4)));
        assert_eq!(
            act(&d(&p, &st, 8, Direction::Out)),
            Some((8, 10)),
            "capped by max"
        );
        assert_eq!(
            skipped(&d(&p, &st, 10, Direction::Out)),
            Some(SkipReason::AtBound)
        );
    }

    #[test]
    fn scale_in_waits_for_its_delay_and_takes_the_highest_recommendation() {
        let mut p = kinesis();
        p.scale_in = Sizing::Factor(4.0);
        p.scale_in_delay_seconds = 3600;
        let mut st = TargetState::default();
        // First recommendation (10 / 4 -> 2, held at the 40% floor: 4) only starts the window.
        let first = run(&p, &mut st, 10, Direction::In, None, 0);
        assert_eq!(skipped(&first), Some(SkipReason::Stabilising), "{first:?}");
        assert_eq!(st.memo.pending_scale_in.as_ref().unwrap().highest, 4);
        // A later, higher recommendation (12 / 4 -> 3, floor 5) raises the target.
        let mid = run(&p, &mut st, 12, Direction::In, None, 30);
        assert_eq!(skipped(&mid), Some(SkipReason::Stabilising));
        assert_eq!(st.memo.pending_scale_in.as_ref().unwrap().highest, 5);
        // After the window: the highest recommendation, not the latest.
        let due = run(&p, &mut st, 10, Direction::In, None, 61);
        assert_eq!(act(&due), Some((10, 5)), "{due:?}");
        assert!(st.memo.pending_scale_in.is_none());
        // A scale-out recommendation cancels a waiting scale-in.
        let mut st = TargetState::default();
        run(&p, &mut st, 10, Direction::In, None, 0);
        run(&p, &mut st, 10, Direction::Out, None, 10);
        assert!(st.memo.pending_scale_in.is_none());
        // Without a delay: never below 40% of the current size in one step (4), and a stream
        // at most halves per UpdateShardCount (5); never below min.
        p.scale_in_delay_seconds = 0;
        assert_eq!(
            act(&d(&p, &TargetState::default(), 10, Direction::In)),
            Some((10, 5))
        );
        let mut group = p.clone();
        group.kind = TargetKind::EmrInstanceGroup {
            cluster_id: "j-1".into(),
            instance_group_id: "ig-1".into(),
            allow_core: false,
            hdfs_max_utilisation_percent: 80.0,
            yarn_rm_url: None,
            decommission_timeout_seconds: 120,
        };
        assert_eq!(
            act(&d(&group, &TargetState::default(), 10, Direction::In)),
            Some((10, 4))
        );
        assert_eq!(
            skipped(&d(&p, &TargetState::default(), 2, Direction::In)),
            Some(SkipReason::AtBound)
        );
        p.scale_in = Sizing::Step(1);
        p.min = 1;
        assert_eq!(
            act(&d(&p, &TargetState::default(), 2, Direction::In)),
            Some((2, 1)),
            "small targets can still shrink"
        );
    }

    #[test]
    fn no_scale_in_while_draining_a_backlog() {
        let mut p = kinesis();
        p.scale_in_delay_seconds = 0;
        let draining = LoadSample {
            input_rate: 100.0,
            processing_rate: 200.0,
            busy_ratio: None,
            backlog_records: 60_000.0,
        };
        let d = run(
            &p,
            &mut TargetState::default(),
            6,
            Direction::In,
            Some(&draining),
            0,
        );
        assert_eq!(skipped(&d), Some(SkipReason::Draining), "{d:?}");
        let drained = LoadSample {
            backlog_records: 0.0,
            ..draining
        };
        let d = run(
            &p,
            &mut TargetState::default(),
            6,
            Direction::In,
            Some(&drained),
            0,
        );
        assert_eq!(act(&d), Some((6, 5)));
    }

    #[test]
    fn proportional_sizing_aligns_and_reports_the_load() {
        let p: TargetPolicy = serde_json::from_str(
            r#"{"id": "job", "kind": "flink_job", "rest_url": "http://127.0.0.1:8081", "job_name": "j",
                "mode": "adaptive", "min": 1, "max": 64,
                "scale_out": {"proportional": {"target_utilisation": 0.5, "catch_up_seconds": 100, "restart_seconds": 10}},
                "load": {"input_rate": {"namespace": "n", "name": "in"}, "processing_rate": {"namespace": "n", "name": "out"}}}"#,
        )
        .unwrap();
        let load = LoadSample {
            input_rate: 1000.0,
            processing_rate: 1000.0,
            busy_ratio: None,
            backlog_records: 50_000.0,
        };
        let observed = Observed::Ready {
            size: 4,
            alignment: Alignment::KeyGroups {
                max_parallelism: 128,
            },
            max_size: Some(128),
            hdfs_percent: None,
        };
        let mut st = TargetState::default();
        let d = decide(
            &p,
            &mut st,
            &observed,
            Direction::Out,
            Some(&load),
            "lag",
            now(),
        );
        // 11 needed, aligned up to 16 (a divisor of 128).
        assert_eq!(act(&d), Some((4, 16)), "{d:?}");
        let ScalingDecision::Act { reason, .. } = &d else {
            unreachable!()
        };
        assert!(reason.contains("11 needed"), "{reason}");
        let rec = st.memo.last_scale_up.as_ref().unwrap();
        assert_eq!((rec.rate_before, rec.expected_rate), (1000.0, 4000.0));
        // Enough capacity already: no scale-out.
        let calm = LoadSample {
            processing_rate: 10_000.0,
            backlog_records: 0.0,
            ..load
        };
        let d = decide(
            &p,
            &mut TargetState::default(),
            &observed,
            Direction::Out,
            Some(&calm),
            "x",
            now(),
        );
        assert_eq!(skipped(&d), Some(SkipReason::Sufficient));
        // No data: deferred, not dropped.
        let d = decide(
            &p,
            &mut TargetState::default(),
            &observed,
            Direction::Out,
            None,
            "x",
            now(),
        );
        assert!(
            matches!(
                d,
                ScalingDecision::Defer {
                    reason: SkipReason::NoData,
                    ..
                }
            ),
            "{d:?}"
        );
        // Never above the job's max parallelism.
        let small = Observed::Ready {
            size: 4,
            alignment: Alignment::None,
            max_size: Some(6),
            hdfs_percent: None,
        };
        let d = decide(
            &p,
            &mut TargetState::default(),
            &small,
            Direction::Out,
            Some(&load),
            "x",
            now(),
        );
        assert_eq!(act(&d), Some((4, 6)));
    }

    #[test]
    fn an_ineffective_scale_up_blocks_the_next() {
        let mut p = kinesis();
        p.scale_out_cooldown_seconds = 60;
        let mut st = TargetState::default();
        let before = LoadSample {
            input_rate: 1000.0,
            processing_rate: 500.0,
            busy_ratio: None,
            backlog_records: 100_000.0,
        };
        assert_eq!(
            act(&run(&p, &mut st, 2, Direction::Out, Some(&before), 0)),
            Some((2, 4))
        );
        st.last_action_at = Some(now());
        // Twice the shards, but throughput barely moved (500 -> 520, expected 1000).
        let after = LoadSample {
            processing_rate: 520.0,
            ..before
        };
        let d = run(&p, &mut st, 4, Direction::Out, Some(&after), 10);
        assert_eq!(skipped(&d), Some(SkipReason::Ineffective), "{d:?}");
        assert!(st.memo.blocked_scale_up.is_some());
        assert_eq!(
            skipped(&run(&p, &mut st, 4, Direction::Out, Some(&before), 20)),
            Some(SkipReason::Ineffective),
            "stays blocked"
        );
        // An effective one is not blocked.
        let mut st = TargetState::default();
        run(&p, &mut st, 2, Direction::Out, Some(&before), 0);
        st.last_action_at = Some(now());
        let good = LoadSample {
            processing_rate: 950.0,
            ..before
        };
        assert!(act(&run(&p, &mut st, 4, Direction::Out, Some(&good), 10)).is_some());
    }

    #[test]
    fn core_groups_keep_hdfs_below_its_limit() {
        let mut p: TargetPolicy = serde_json::from_str(
            r#"{"id": "core", "kind": "emr_instance_group", "cluster_id": "j-1", "instance_group_id": "ig-1",
                "allow_core": true, "hdfs_max_utilisation_percent": 80, "min": 1, "max": 20,
                "scale_in": {"step": 5}, "scale_in_delay_seconds": 0}"#,
        )
        .unwrap();
        let at = |pct: f64| Observed::Ready {
            size: 10,
            alignment: Alignment::None,
            max_size: None,
            hdfs_percent: Some(pct),
        };
        let d = decide(
            &p,
            &mut TargetState::default(),
            &at(56.0),
            Direction::In,
            None,
            "x",
            now(),
        );
        assert_eq!(act(&d), Some((10, 7)), "56% on 10 nodes is 80% on 7: {d:?}");
        let d = decide(
            &p,
            &mut TargetState::default(),
            &at(79.0),
            Direction::In,
            None,
            "x",
            now(),
        );
        assert_eq!(skipped(&d), Some(SkipReason::HdfsProtection));
        p.scale_in = Sizing::Step(1);
        let d = decide(
            &p,
            &mut TargetState::default(),
            &at(10.0),
            Direction::In,
            None,
            "x",
            now(),
        );
        assert_eq!(act(&d), Some((10, 9)));
    }

    #[test]
    fn cooldowns_pause_busy_unsupported_and_quota() {
        let p = kinesis();
        let recent = TargetState {
            last_action_at: Some(now() - Duration::minutes(2)),
            ..Default::default()
        };
        assert_eq!(
            skipped(&d(&p, &recent, 4, Direction::Out)),
            Some(SkipReason::Cooldown)
        );
        let later = TargetState {
            last_action_at: Some(now() - Duration::minutes(30)),
            ..Default::default()
        };
        assert!(act(&d(&p, &later, 4, Direction::Out)).is_some());
        assert_eq!(
            skipped(&d(&p, &later, 4, Direction::In)),
            Some(SkipReason::Cooldown),
            "the scale-in stabilisation window is longer"
        );
        let paused = TargetState {
            paused: true,
            ..Default::default()
        };
        assert_eq!(
            skipped(&d(&p, &paused, 4, Direction::Out)),
            Some(SkipReason::Paused)
        );
        let busy = Observed::Busy {
            detail: "UPDATING".into(),
        };
        assert!(matches!(
            decide(
                &p,
                &mut TargetState::default(),
                &busy,
                Direction::Out,
                None,
                "x",
                now()
            ),
            ScalingDecision::Defer {
                reason: SkipReason::Busy,
                ..
            }
        ));
        for (observed, reason) in [
            (
                Observed::Unsupported {
                    detail: "on-demand".into(),
                },
                SkipReason::Unsupported,
            ),
            (
                Observed::OwnedElsewhere {
                    detail: "managed scaling".into(),
                },
                SkipReason::OwnedElsewhere,
            ),
        ] {
            let d = decide(
                &p,
                &mut TargetState::default(),
                &observed,
                Direction::Out,
                None,
                "x",
                now(),
            );
            assert_eq!(skipped(&d), Some(reason));
        }
        let quota = TargetState {
            kinesis_calls: vec![now() - Duration::hours(1); 10],
            ..Default::default()
        };
        assert_eq!(
            skipped(&d(&p, &quota, 4, Direction::Out)),
            Some(SkipReason::QuotaExhausted)
        );
        let old_calls = TargetState {
            kinesis_calls: vec![now() - Duration::hours(25); 10],
            ..Default::default()
        };
        assert!(act(&d(&p, &old_calls, 4, Direction::Out)).is_some());
    }

    #[test]
    fn kinesis_targets_prefer_quarter_steps() {
        let mut p = kinesis();
        p.max = 100;
        p.scale_out = Sizing::Step(1);
        let observed = Observed::Ready {
            size: 8,
            alignment: Alignment::QuarterSteps { current: 8 },
            max_size: None,
            hdfs_percent: None,
        };
        let d = decide(
            &p,
            &mut TargetState::default(),
            &observed,
            Direction::Out,
            None,
            "x",
            now(),
        );
        assert_eq!(act(&d), Some((8, 10)), "9 rounds up to 125%");
        // Only 3 shards left in the account's quota: doubling stops at 11.
        p.scale_out = Sizing::Factor(2.0);
        let quota = Observed::Ready {
            size: 8,
            alignment: Alignment::QuarterSteps { current: 8 },
            max_size: Some(11),
            hdfs_percent: None,
        };
        let d = decide(
            &p,
            &mut TargetState::default(),
            &quota,
            Direction::Out,
            None,
            "x",
            now(),
        );
        assert_eq!(act(&d), Some((8, 11)), "{d:?}");
        let ScalingDecision::Act { reason, .. } = &d else {
            unreachable!()
        };
        assert!(reason.contains("shard quota"), "{reason}");
    }

    #[test]
    fn alarm_rules_order_layers_by_direction() {
        let p = Policies::parse(
            r#"{"targets": [
                {"id": "job", "kind": "flink_job", "rest_url": "http://127.0.0.1:8081", "job_name": "j", "mode": "adaptive", "min": 1, "max": 8},
                {"id": "nodes", "kind": "emr_instance_group", "cluster_id": "j-1", "instance_group_id": "ig-1", "min": 1, "max": 8}],
               "rules": [
                {"alarm": "lag", "target": "job", "direction": "out"},
                {"alarm": "lag", "target": "nodes", "direction": "out"},
                {"alarm": "idle", "target": "nodes", "direction": "in"},
                {"alarm": "idle", "target": "job", "direction": "in"}]}"#,
        )
        .unwrap();
        let order =
            |a: &str| -> Vec<String> { p.rules_for(a).iter().map(|r| r.target.clone()).collect() };
        assert_eq!(order("lag"), ["nodes", "job"], "grow nodes first");
        assert_eq!(order("idle"), ["job", "nodes"], "shrink parallelism first");
    }

    #[test]
    fn an_emr_step_runs_the_flink_cli_from_the_savepoint() {
        let step: EmrStepSubmit = serde_json::from_str(
            r#"{"cluster_id": "j-1", "jar": "s3://a/job.jar", "args": ["--in", "x"]}"#,
        )
        .unwrap();
        assert_eq!(
            step.step_args("s3://sp/savepoint-1", 4, Some("com.example.Job")),
            [
                "flink",
                "run",
                "-d",
                "-s",
                "s3://sp/savepoint-1",
                "-p",
                "4",
                "-c",
                "com.example.Job",
                "s3://a/job.jar",
                "--in",
                "x"
            ]
        );
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
        assert!(
            bad(&ok.replace(
                "\"max\": 4}",
                "\"max\": 4, \"scale_out\": {\"proportional\": {}}}"
            ))
            .contains("give `load`")
        );
        assert!(
            bad(&ok.replace("\"max\": 4}", "\"max\": 4, \"min_effectiveness\": 2}"))
                .contains("min_effectiveness")
        );
    }
}
