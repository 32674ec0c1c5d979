//! The policies' validation at cold start: every error names the target (or the rule) and what
//! is wrong with it.

use std::collections::BTreeSet;

use super::config::{EmrStepSubmit, FlinkRescaleMode, Policies, Sizing, TargetKind, TargetPolicy};

impl Policies {
    pub fn validate(&self) -> Result<(), String> {
        let mut ids = BTreeSet::new();
        for t in &self.targets {
            if t.id.is_empty() || !ids.insert(t.id.as_str()) {
                return Err(format!("target id {:?} is empty or used twice", t.id));
            }
            validate_target(t).map_err(|what| format!("target {}: {what}", t.id))?;
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
}

/// The longest cooldown, delay or timeout: ten years. Times are added to instants, and an
/// instant beyond chrono's range (a policy of `i64::MAX` seconds) would end the decision in a
/// panic; nothing real waits longer.
const MAX_SECONDS: i64 = 10 * 365 * 86_400;

fn validate_target(t: &TargetPolicy) -> Result<(), String> {
    if t.min == 0 || t.min > t.max {
        return Err(format!(
            "need 1 <= min <= max, got min {} max {}",
            t.min, t.max
        ));
    }
    for (what, s) in [("scale_out", t.scale_out), ("scale_in", t.scale_in)] {
        validate_sizing(what, s, t.load.is_some())?;
    }
    validate_kind(&t.kind)?;
    measured_restart_needs_savepoints(t)?;
    let mut names = BTreeSet::new();
    if let Some(p) = t.excluded_periods.iter().find(|p| !names.insert(p.name())) {
        return Err(format!(
            "excluded_periods: two periods are named {:?}",
            p.name()
        ));
    }
    let periods = [
        t.scale_out_cooldown_seconds,
        t.scale_in_cooldown_seconds,
        t.scale_in_delay_seconds,
    ];
    if periods.iter().any(|s| !(0..=MAX_SECONDS).contains(s)) {
        return Err(format!(
            "cooldowns and delays cannot be negative or longer than ten years ({MAX_SECONDS} s)"
        ));
    }
    if !(0.0..=1.0).contains(&t.min_effectiveness) {
        return Err(format!(
            "min_effectiveness must be in [0, 1], got {}",
            t.min_effectiveness
        ));
    }
    Ok(())
}

fn validate_sizing(what: &str, s: Sizing, has_load: bool) -> Result<(), String> {
    match s {
        Sizing::Step(0) => Err(format!("{what} step must be at least 1")),
        Sizing::Factor(f) if !(f > 1.0 && f <= 10.0) => Err(format!(
            "{what} factor must be above 1 and at most 10, got {f}"
        )),
        Sizing::Proportional(p) => {
            p.validate().map_err(|e| format!("{what}: {e}"))?;
            if !has_load {
                return Err(format!(
                    "{what} is proportional: give `load` (input_rate, processing_rate)"
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Only a savepoint rescale stops the job and is measured: on another target a
/// `measured_restart` would never have a measurement and silently stay the fallback.
fn measured_restart_needs_savepoints(t: &TargetPolicy) -> Result<(), String> {
    let measured = [t.scale_out, t.scale_in]
        .iter()
        .any(|s| matches!(s, Sizing::Proportional(p) if p.measured_restart.is_some()));
    let savepoints = matches!(
        t.kind,
        TargetKind::FlinkJob {
            mode: FlinkRescaleMode::Savepoint,
            ..
        }
    );
    if measured && !savepoints {
        return Err(
            "proportional measured_restart needs a flink_job in savepoint mode \
             (only its rescales stop and restart the job, and are measured)"
                .into(),
        );
    }
    Ok(())
}

fn validate_kind(kind: &TargetKind) -> Result<(), String> {
    match kind {
        TargetKind::FlinkJob {
            rest_url,
            mode,
            jar_id,
            savepoint_timeout_seconds,
            emr_step,
            ..
        } => {
            streamops_shared::http::parse_endpoint(rest_url)
                .map_err(|e| format!("rest_url: {e}"))?;
            if *mode == FlinkRescaleMode::Savepoint
                && jar_id.as_deref().is_none_or(str::is_empty)
                && emr_step.is_none()
            {
                return Err(
                    "savepoint mode resubmits the job: give jar_id (session cluster) or emr_step"
                        .into(),
                );
            }
            if emr_step.as_ref().is_some_and(incomplete_step) {
                return Err("emr_step needs cluster_id, jar and a command".into());
            }
            if !(1..=MAX_SECONDS).contains(savepoint_timeout_seconds) {
                return Err(format!(
                    "savepoint_timeout_seconds must be at least 1 and at most {MAX_SECONDS}"
                ));
            }
            Ok(())
        }
        TargetKind::EmrInstanceGroup {
            yarn_rm_url,
            hdfs_max_utilisation_percent,
            decommission_timeout_seconds,
            ..
        } => {
            if let Some(u) = yarn_rm_url {
                streamops_shared::http::parse_endpoint(u)
                    .map_err(|e| format!("yarn_rm_url: {e}"))?;
            }
            if !(*hdfs_max_utilisation_percent > 0.0 && *hdfs_max_utilisation_percent <= 100.0) {
                return Err("hdfs_max_utilisation_percent must be in (0, 100]".into());
            }
            if *decommission_timeout_seconds < 0 {
                return Err("decommission_timeout_seconds cannot be negative".into());
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn incomplete_step(step: &EmrStepSubmit) -> bool {
    step.cluster_id.is_empty() || step.jar.is_empty() || step.command.is_empty()
}
