//! The handler: an alarm state change becomes, per matching rule, a claimed, leased, decided,
//! acted and audited scaling decision (`alarms`, `evaluate`, `act`); Flink savepoint rescales
//! carry on across invocations (`rescale`); the schedule's tick resumes what could not finish
//! and re-evaluates open decisions (`tick`); decisions reach the audit trail and, when worth a
//! look, the alerts function (`record`). Ops commands are handled in `commands`. Generic over
//! the [`Ports`]: the AWS SDK in the function, in-memory fakes in the tests.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use streamops_shared::ErrorClass;
use streamops_shared::harness::Classified;
use streamops_shared::{AwsCallError, Metrics};
use tokio::time::Instant;

pub use crate::alarm::{AlarmChange, Disposition, parse_alarm, parse_alarms};
use crate::config::ScalerConfig;
use crate::ops::parse_command;
use crate::policy::{Direction, ScalingDecision, SkipReason, TargetPolicy, TargetState, Wakeup};
use crate::ports::{Ports, StateStore};

mod act;
mod alarms;
mod evaluate;
mod record;
mod rescale;
mod tick;

#[derive(Debug, thiserror::Error)]
pub enum ScalerError {
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    BadCommand(String),
    #[error("{0}")]
    Aws(#[from] AwsCallError),
}

impl Classified for ScalerError {
    fn class(&self) -> ErrorClass {
        match self {
            ScalerError::Aws(e) => e.class,
            ScalerError::Input(_) | ScalerError::BadCommand(_) => ErrorClass::Permanent,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            ScalerError::Aws(_) => "AwsCall",
            ScalerError::Input(_) => "BadInput",
            ScalerError::BadCommand(_) => "BadCommand",
        }
    }
}

pub struct ScalerService<P> {
    pub config: ScalerConfig,
    pub ports: P,
}

/// What a decision is asked for: an alarm (with its direction and wake-up), or a size by hand.
#[derive(Debug, Clone)]
pub(crate) enum Ask {
    Alarm(Wakeup),
    ByHand(u32),
}

impl Ask {
    fn direction(&self) -> Direction {
        match self {
            Ask::Alarm(w) => w.direction,
            Ask::ByHand(_) => Direction::Out,
        }
    }
}

/// How long a target's lease lasts: longer than any invocation (15 min), so a crashed holder
/// blocks the target only until then.
pub const LEASE: chrono::Duration = chrono::Duration::minutes(16);

impl<P: Ports> ScalerService<P> {
    /// `until`: when this invocation must have finished its work (the Lambda deadline less a
    /// margin); a Flink rescale still running then resumes on the next invocation.
    pub async fn handle(
        &self,
        payload: Value,
        now: DateTime<Utc>,
        until: Instant,
        metrics: &mut Metrics,
    ) -> Result<Value, ScalerError> {
        if let Some(cmd) = parse_command(&payload) {
            return self
                .command(cmd.map_err(ScalerError::BadCommand)?, now, until, metrics)
                .await;
        }
        let alarms = parse_alarms(&payload).map_err(ScalerError::Input)?;
        let mut decisions = Vec::new();
        for alarm in &alarms {
            decisions.extend(self.on_alarm(alarm, now, until, true, metrics).await?);
        }
        let names: Vec<&str> = alarms.iter().map(|a| a.name.as_str()).collect();
        let states: Vec<&str> = alarms.iter().map(|a| a.state.as_str()).collect();
        Ok(json!({ "alarm": names.join(", "), "state": states.join(", "), "decisions": decisions }))
    }

    /// Writes the state if nobody else did since it was read (then `state` holds the new
    /// version); false on a concurrent change.
    pub(crate) async fn save(
        &self,
        target: &str,
        state: &mut TargetState,
        now: DateTime<Utc>,
    ) -> Result<bool, ScalerError> {
        let written = self.ports.store().put_state(target, state, now).await?;
        if written {
            state.version = Some(state.version.map_or(1, |v| v + 1));
        }
        Ok(written)
    }

    pub(crate) fn policy(&self, id: &str) -> Result<&TargetPolicy, ScalerError> {
        self.config.policies.target(id).ok_or_else(|| {
            let known: Vec<&str> = self
                .config
                .policies
                .targets
                .iter()
                .map(|t| t.id.as_str())
                .collect();
            ScalerError::BadCommand(format!(
                "unknown target {id:?}; targets: {}",
                known.join(", ")
            ))
        })
    }
}

/// Skip reasons that leave the decision open for the schedule to re-evaluate while the alarm
/// stays in ALARM (EventBridge reports a transition once, not a lasting state).
fn keeps_wakeup(decision: &ScalingDecision) -> bool {
    match decision {
        ScalingDecision::Defer { .. } => true,
        ScalingDecision::Skip { reason, .. } => matches!(
            reason,
            SkipReason::Stabilising
                | SkipReason::Cooldown
                | SkipReason::QuotaExhausted
                | SkipReason::ExcludedPeriod
        ),
        ScalingDecision::Act { .. } => false,
    }
}

fn concurrent(target: &str) -> ScalingDecision {
    ScalingDecision::skip(
        target,
        SkipReason::Concurrent,
        "another invocation changed this target at the same time",
    )
}

/// A lease owner token: unique enough to tell invocations apart.
fn lease_token(target: &str, now: DateTime<Utc>) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        target,
        now.timestamp_nanos_opt(),
        std::process::id(),
        std::time::SystemTime::now(),
        std::thread::current().id(),
    )
        .hash(&mut h);
    format!("{:x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        streamops_test_support::fixture(&format!("scaler/{name}"))
    }

    #[test]
    fn sns_and_eventbridge_deliveries_of_one_transition_read_the_same() {
        let eb = parse_alarms(&fixture("alarm-raw-iterator-age.json")).unwrap();
        let sns = parse_alarms(&fixture("sns-alarm-raw-iterator-age.json")).unwrap();
        assert_eq!(sns.len(), 1);
        assert_eq!(
            (&sns[0].name, &sns[0].state, &sns[0].state_time),
            (&eb[0].name, &eb[0].state, &eb[0].state_time),
            "same claim key both ways"
        );
        let check = sns[0].check.as_ref().unwrap();
        assert_eq!(
            (
                check.namespace.as_str(),
                check.stat.as_str(),
                check.threshold,
                check.breach_above
            ),
            ("AWS/Kinesis", "Maximum", 60000.0, true)
        );
        assert_eq!(
            check.dimensions,
            vec![("StreamName".to_string(), "streamops-raw".to_string())]
        );
        let mut bad = fixture("sns-alarm-raw-iterator-age.json");
        bad["Records"][0]["Sns"]["Message"] = json!("{\"hello\": 1}");
        assert!(
            parse_alarms(&bad)
                .unwrap_err()
                .contains("not a CloudWatch alarm notification")
        );
    }
}
