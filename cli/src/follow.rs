//! Following a Flink rescale by savepoint that a `scaler scale --apply` started and left
//! running: the scaler carries it on (its schedule's tick every two minutes, or any later
//! invocation on the target), and the CLI reads where it is with the read-only `status`
//! command until it is done, failed, stranded, or the wait runs out.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::commands::Wait;
use crate::error::CliError;
use crate::lambda::Invoke;

/// Time for the follow loop: real time in the CLI, a scripted clock in the tests.
pub trait Clock {
    /// Time since the follow began.
    fn elapsed(&self) -> Duration;
    fn sleep(&self, d: Duration) -> impl Future<Output = ()>;
}

/// The real clock.
pub struct Wall(pub std::time::Instant);

impl Clock for Wall {
    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// Where a target's rescale is, as one `status` answer shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// Still running: the phase (stopping, submitting, confirming) and what the scaler said of
    /// it last (waiting for the savepoint, the savepoint overdue and still watched, ...).
    Running { phase: String, detail: String },
    /// Done: the job runs at the new parallelism (the audit entry).
    Done(Value),
    /// Failed (the job runs as before) or stranded (stopped, not resubmitted: act now).
    Failed(Value),
    /// No rescale any more, and no outcome of it among the recent decisions.
    Unknown,
}

/// How a follow ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Followed {
    Done { entry: Value, elapsed: Duration },
    Failed { entry: Value, elapsed: Duration },
    Unknown { elapsed: Duration },
    TimedOut { phase: String, elapsed: Duration },
}

impl Followed {
    /// The outcome as the answer's `rescale` field (shown in the table or the JSON).
    pub fn to_json(&self) -> Value {
        let secs = |d: &Duration| d.as_secs();
        match self {
            Followed::Done { entry, elapsed } => {
                json!({"state": "done", "elapsed_seconds": secs(elapsed), "outcome": entry})
            }
            Followed::Failed { entry, elapsed } => {
                let state = entry["decision"].as_str().unwrap_or("failed");
                json!({"state": state, "elapsed_seconds": secs(elapsed), "outcome": entry})
            }
            Followed::Unknown { elapsed } => json!({
                "state": "unknown", "elapsed_seconds": secs(elapsed),
                "note": "the rescale ended but its outcome is not among the target's recent decisions; see the audit trail"
            }),
            Followed::TimedOut { phase, elapsed } => json!({
                "state": "still_running", "phase": phase, "elapsed_seconds": secs(elapsed),
                "note": "the wait ran out; the scaler carries the rescale on (streamops scaler status)"
            }),
        }
    }

    /// The run's result: done is success; anything else an error with its own exit code.
    pub fn result(&self, target: &str) -> Result<(), CliError> {
        match self {
            Followed::Done { .. } => Ok(()),
            Followed::Failed { entry, .. } => Err(CliError::RescaleFailed(format!(
                "the rescale of {target} {}: {}",
                entry["decision"].as_str().unwrap_or("failed"),
                entry["error"].as_str().unwrap_or("see the audit trail")
            ))),
            Followed::Unknown { .. } => Err(CliError::RescaleFailed(format!(
                "the rescale of {target} ended without an outcome in its recent decisions; see `streamops scaler status`"
            ))),
            Followed::TimedOut { phase, elapsed } => Err(CliError::RescaleTimedOut(format!(
                "the rescale of {target} was still {phase} after {} s; it may still finish (`streamops scaler status`)",
                elapsed.as_secs()
            ))),
        }
    }
}

/// Whether a scale's answer left a rescale running: its progress says in progress, or that
/// the savepoint is overdue and still watched (a failure entry that keeps its phase).
pub fn left_running(answer: &Value) -> bool {
    answer["progress"].as_array().is_some_and(|entries| {
        entries.iter().any(|e| {
            e["decision"] == "rescale_in_progress"
                || (e["decision"] == "failed" && !e["phase"].is_null())
        })
    })
}

/// Where `target`'s rescale is in a `status` answer: its `rescale_in_progress` and the newest
/// of its recent decisions (newest first) at or after `since`, the scale's decision time.
pub fn seen(status: &Value, target: &str, since: DateTime<Utc>) -> Result<Seen, String> {
    let t = status["targets"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["target"] == target))
        .ok_or_else(|| format!("the scaler's status has no target {target:?}"))?;
    let newest = t["recent_decisions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| at(e).is_some_and(|a| a >= since))
        .find(|e| {
            matches!(
                e["decision"].as_str(),
                Some("rescaled" | "failed" | "stranded" | "rescale_in_progress")
            )
        });
    let kind = newest.and_then(|e| e["decision"].as_str());
    let running = &t["rescale_in_progress"];
    if !running.is_null() {
        // A stranded rescale stays in the state (every invocation retries the resubmission),
        // but it is not on its way to done: a human must act.
        if let (Some("stranded"), Some(e)) = (kind, newest) {
            return Ok(Seen::Failed(e.clone()));
        }
        let phase = running["phase"]["phase"].as_str().unwrap_or("running");
        let detail = newest
            .and_then(|e| e["detail"].as_str().or(e["error"].as_str()))
            .unwrap_or("");
        return Ok(Seen::Running {
            phase: phase.to_string(),
            detail: detail.to_string(),
        });
    }
    Ok(match (kind, newest) {
        (Some("rescaled"), Some(e)) => Seen::Done(e.clone()),
        (Some("failed" | "stranded"), Some(e)) => Seen::Failed(e.clone()),
        _ => Seen::Unknown,
    })
}

fn at(entry: &Value) -> Option<DateTime<Utc>> {
    let at = entry["at"].as_str()?;
    DateTime::parse_from_rfc3339(at).ok().map(|t| t.to_utc())
}

/// Asks the scaler's status every `wait.interval` until the rescale of `target` that began at
/// `since` ends or `wait.timeout` passes; each look is reported through `progress`.
pub async fn follow(
    scaler: &impl Invoke,
    clock: &impl Clock,
    wait: Wait,
    (target, since): (&str, DateTime<Utc>),
    progress: &mut impl FnMut(&str),
) -> Result<Followed, CliError> {
    let status = json!({"command": "status"});
    let mut last = String::from("running");
    loop {
        let elapsed = clock.elapsed();
        if elapsed >= wait.timeout {
            return Ok(Followed::TimedOut {
                phase: last,
                elapsed,
            });
        }
        clock.sleep(wait.interval.min(wait.timeout - elapsed)).await;
        let elapsed = clock.elapsed();
        match look(scaler, &status, target, since).await? {
            Seen::Running { phase, detail } => {
                let detail = if detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({detail})")
                };
                progress(&format!(
                    "rescale of {target}: {phase}{detail}, {} s",
                    elapsed.as_secs()
                ));
                last = phase;
            }
            Seen::Done(entry) => return Ok(Followed::Done { entry, elapsed }),
            Seen::Failed(entry) => return Ok(Followed::Failed { entry, elapsed }),
            Seen::Unknown => return Ok(Followed::Unknown { elapsed }),
        }
    }
}

async fn look(
    scaler: &impl Invoke,
    status: &Value,
    target: &str,
    since: DateTime<Utc>,
) -> Result<Seen, CliError> {
    let answer = scaler.invoke(status).await?.into_result()?;
    seen(&answer, target, since).map_err(CliError::Call)
}
