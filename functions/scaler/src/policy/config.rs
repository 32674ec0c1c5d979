//! The policies as configured (`SCALER_POLICIES`): what the targets are, how they are sized and
//! bounded, and which alarm moves which target in which direction. Validation is in
//! `validate`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use streamops_shared::window::TimeWindow;

use crate::metric::LoadMetrics;
use crate::sizing::Proportional;

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
    "excluded_periods",
    "scale_out_during_exclusion",
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
    /// Recurring periods (`{name, cron, duration, time_zone}`: `streamops_shared::window`)
    /// during which the target is not scaled in, nor out unless `scale_out_during_exclusion`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_periods: Vec<TimeWindow>,
    #[serde(default)]
    pub scale_out_during_exclusion: bool,
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
            // Read here first so that a bad period's error names its target and position.
            for (i, p) in t["excluded_periods"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                if let Err(e) = TimeWindow::deserialize(p) {
                    return Err(format!(
                        "scaling policies: target {}: excluded_periods[{i}]: {e}",
                        t["id"]
                    ));
                }
            }
        }
        let p: Policies =
            serde_json::from_str(json).map_err(|e| format!("scaling policies: {e}"))?;
        p.validate()?;
        Ok(p)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measured_restart_is_refused_where_no_rescale_is_measured() {
        let policy = |kind: &str| {
            format!(
                r#"{{"targets": [{{"id": "t", {kind}, "min": 1, "max": 8,
                    "load": {{"input_rate": {{"namespace": "n", "name": "in"}}, "processing_rate": {{"namespace": "n", "name": "out"}}}},
                    "scale_out": {{"proportional": {{"target_utilisation": 0.7, "catch_up_seconds": 600,
                        "restart_seconds": 120, "measured_restart": {{"max_seconds": 600}}}}}}}}], "rules": []}}"#
            )
        };
        let flink = |mode: &str| {
            format!(
                r#""kind": "flink_job", "rest_url": "http://127.0.0.1:8081", "job_name": "j", "mode": "{mode}", "jar_id": "jar""#
            )
        };
        let ok = Policies::parse(&policy(&flink("savepoint")));
        assert!(ok.is_ok(), "{ok:?}");
        for kind in [
            flink("adaptive"),
            r#""kind": "kinesis_stream", "stream": "s""#.to_string(),
        ] {
            let e = Policies::parse(&policy(&kind)).unwrap_err();
            assert!(
                e.contains("measured_restart needs a flink_job in savepoint mode"),
                "{e}"
            );
        }
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

    /// A cooldown past what `chrono::Duration::seconds` holds used to panic at every decision
    /// for the target; over ten years is refused when the policies are read.
    #[test]
    fn cooldowns_delays_and_timeouts_over_ten_years_are_refused() {
        let target = |extra: &str| {
            format!(
                r#"{{"targets": [{{"id": "raw", "kind": "kinesis_stream", "stream": "s", "min": 1, "max": 4{extra}}}],
                     "rules": [{{"alarm": "a", "target": "raw", "direction": "out"}}]}}"#
            )
        };
        for field in [
            "scale_out_cooldown_seconds",
            "scale_in_cooldown_seconds",
            "scale_in_delay_seconds",
        ] {
            let e = Policies::parse(&target(&format!(", \"{field}\": 9223372036854775807")))
                .unwrap_err();
            assert!(
                e.contains("target raw") && e.contains("ten years"),
                "{field}: {e}"
            );
            assert!(Policies::parse(&target(&format!(", \"{field}\": 31622400"))).is_ok());
        }
    }

    #[test]
    fn excluded_periods_are_read_and_their_errors_name_the_target_and_the_field() {
        let with = |periods: &str| {
            format!(
                r#"{{"targets": [{{"id": "raw", "kind": "kinesis_stream", "stream": "s", "min": 1, "max": 4,
                     "excluded_periods": {periods}}}],
                     "rules": [{{"alarm": "a", "target": "raw", "direction": "out"}}]}}"#
            )
        };
        let nightly = r#"{"name": "nightly", "cron": "0 1 * * ? *", "duration": "3h", "time_zone": "Europe/Paris"}"#;
        let p = Policies::parse(&with(&format!("[{nightly}]"))).unwrap();
        let t = p.target("raw").unwrap();
        assert_eq!(t.excluded_periods[0].name(), "nightly");
        assert!(!t.scale_out_during_exclusion, "the default");
        let e = Policies::parse(&with(&format!(
            "[{nightly}, {}]",
            nightly.replace("Paris", "Pariss")
        )))
        .unwrap_err();
        assert!(
            e.starts_with(r#"scaling policies: target "raw": excluded_periods[1]: time_zone "Europe/Pariss": not an IANA time zone name"#),
            "{e}"
        );
        let e = Policies::parse(&with(&format!("[{nightly}, {nightly}]"))).unwrap_err();
        assert!(
            e.contains(r#"target raw: excluded_periods: two periods are named "nightly""#),
            "{e}"
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
