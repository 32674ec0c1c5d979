//! A Flink rescale by savepoint is a state machine stored with the target, so one that cannot
//! finish in an invocation (a slow savepoint, a job slow to start) resumes on the next, and a
//! job is never left stopped without a resubmission or an alert. Pure: states and transitions.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct FlinkRescale {
    /// The job being stopped (the old one).
    pub job_id: String,
    pub from: u32,
    pub to: u32,
    pub started_at: DateTime<Utc>,
    pub phase: RescalePhase,
    /// The stop's trigger id, which also names an EMR resubmission step (idempotency).
    #[serde(default)]
    pub trigger_id: String,
    /// The savepoint timeout has been reported once already.
    #[serde(default)]
    pub timeout_reported: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum RescalePhase {
    /// `POST /jobs/:id/stop` sent with this client-chosen trigger id; waiting for the savepoint.
    Stopping { trigger_id: String },
    /// The savepoint exists and the old job is stopped: submit at `parallelism`. `rollback`:
    /// the submission at the new parallelism failed with `failure`, this one restores the old.
    Submitting {
        savepoint: String,
        parallelism: u32,
        rollback: bool,
        #[serde(default)]
        failure: Option<String>,
    },
    /// Submitted: waiting for the job to run at `parallelism`.
    Confirming {
        savepoint: String,
        parallelism: u32,
        rollback: bool,
        #[serde(default)]
        failure: Option<String>,
    },
}

impl RescalePhase {
    /// The phase's name, as its `phase` tag says it.
    pub fn name(&self) -> &'static str {
        match self {
            RescalePhase::Stopping { .. } => "stopping",
            RescalePhase::Submitting { .. } => "submitting",
            RescalePhase::Confirming { .. } => "confirming",
        }
    }

    /// The savepoint the job is (re)submitted from, once there is one.
    pub fn savepoint(&self) -> Option<&str> {
        match self {
            RescalePhase::Stopping { .. } => None,
            RescalePhase::Submitting { savepoint, .. }
            | RescalePhase::Confirming { savepoint, .. } => Some(savepoint),
        }
    }
}

pub use streamops_shared::flink::{SavepointStatus, savepoint_status};

/// Where one step of the machine left it.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    /// Moved to the next phase: save it and go on.
    Advanced,
    /// Nothing to do until later (savepoint or job still on its way); the schedule resumes it.
    Waiting(String),
    /// The savepoint is over its timeout: reported once, and still watched (the job keeps
    /// running; if the savepoint completes late, the rescale goes on from it).
    SavepointOverdue(String),
    /// Done: the job runs at the new parallelism.
    Done {
        job_id: String,
        savepoint: String,
        parallelism: u32,
    },
    /// Did not rescale; the job runs as before (failed savepoint, or resubmitted at the old
    /// parallelism after the new one failed).
    Failed(String),
    /// The job is stopped and could not be resubmitted: a human must act now.
    Stranded(String),
}

impl FlinkRescale {
    pub fn new(job_id: &str, from: u32, to: u32, trigger_id: String, now: DateTime<Utc>) -> Self {
        FlinkRescale {
            job_id: job_id.to_string(),
            from,
            to,
            started_at: now,
            phase: RescalePhase::Stopping {
                trigger_id: trigger_id.clone(),
            },
            trigger_id,
            timeout_reported: false,
        }
    }

    /// The transition on a savepoint status read while stopping.
    pub fn on_savepoint(
        &mut self,
        status: SavepointStatus,
        timeout_seconds: i64,
        now: DateTime<Utc>,
    ) -> StepOutcome {
        match status {
            SavepointStatus::Completed(savepoint) => {
                self.phase = RescalePhase::Submitting {
                    savepoint,
                    parallelism: self.to,
                    rollback: false,
                    failure: None,
                };
                StepOutcome::Advanced
            }
            SavepointStatus::Failed(cause) => StepOutcome::Failed(format!(
                "stop-with-savepoint of job {} failed, the job keeps running at parallelism {}: {cause}",
                self.job_id, self.from
            )),
            SavepointStatus::InProgress => {
                let overdue = now - self.started_at > Duration::seconds(timeout_seconds);
                if overdue && !self.timeout_reported {
                    self.timeout_reported = true;
                    StepOutcome::SavepointOverdue(format!(
                        "the savepoint of job {} is not complete after {timeout_seconds} s; \
                         the job keeps running at parallelism {} and the rescale to {} resumes if it completes",
                        self.job_id, self.from, self.to
                    ))
                } else {
                    StepOutcome::Waiting(format!(
                        "savepoint of job {} in progress since {}",
                        self.job_id, self.started_at
                    ))
                }
            }
        }
    }

    /// The transition on a submission's result.
    pub fn on_submitted(&mut self, result: Result<(), String>) -> StepOutcome {
        let RescalePhase::Submitting {
            savepoint,
            parallelism,
            rollback,
            failure,
        } = self.phase.clone()
        else {
            return StepOutcome::Waiting("not submitting".into());
        };
        match (result, rollback) {
            (Ok(()), _) => {
                self.phase = RescalePhase::Confirming {
                    savepoint,
                    parallelism,
                    rollback,
                    failure,
                };
                StepOutcome::Advanced
            }
            (Err(e), false) => {
                self.phase = RescalePhase::Submitting {
                    savepoint,
                    parallelism: self.from,
                    rollback: true,
                    failure: Some(format!("resubmit at parallelism {} failed: {e}", self.to)),
                };
                StepOutcome::Advanced
            }
            (Err(e), true) => StepOutcome::Stranded(format!(
                "{}; resubmitting at the old parallelism {} failed too ({e}): the job is STOPPED, \
                 restore it from {savepoint}",
                failure.unwrap_or_default(),
                self.from
            )),
        }
    }

    /// The transition when, while confirming, the submission turns out to have failed (the new
    /// job failed, or the EMR step that was to submit it): like a refused submission.
    pub fn on_submission_failed(&mut self, detail: String) -> StepOutcome {
        if let RescalePhase::Confirming {
            savepoint,
            parallelism,
            rollback,
            failure,
        } = self.phase.clone()
        {
            self.phase = RescalePhase::Submitting {
                savepoint,
                parallelism,
                rollback,
                failure,
            };
        }
        self.on_submitted(Err(detail))
    }

    /// The transition once the job runs at the expected parallelism.
    pub fn on_running(&self, job_id: String) -> StepOutcome {
        match &self.phase {
            RescalePhase::Confirming {
                savepoint,
                parallelism,
                rollback: false,
                ..
            } => StepOutcome::Done {
                job_id,
                savepoint: savepoint.clone(),
                parallelism: *parallelism,
            },
            RescalePhase::Confirming {
                savepoint, failure, ..
            } => StepOutcome::Failed(format!(
                "{}; the job was resubmitted from {savepoint} at its old parallelism {} and runs as {job_id}",
                failure.clone().unwrap_or_default(),
                self.from
            )),
            _ => StepOutcome::Waiting("not confirming".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000 + s, 0).unwrap()
    }

    #[test]
    fn the_machine_walks_every_path() {
        let mut r = FlinkRescale::new("old", 2, 4, "trig".into(), t(0));
        assert!(matches!(
            r.on_savepoint(SavepointStatus::InProgress, 60, t(10)),
            StepOutcome::Waiting(_)
        ));
        assert!(matches!(
            r.on_savepoint(SavepointStatus::InProgress, 60, t(61)),
            StepOutcome::SavepointOverdue(_)
        ));
        assert!(
            matches!(
                r.on_savepoint(SavepointStatus::InProgress, 60, t(90)),
                StepOutcome::Waiting(_)
            ),
            "reported once"
        );
        assert_eq!(
            r.on_savepoint(SavepointStatus::Completed("sp".into()), 60, t(100)),
            StepOutcome::Advanced
        );
        assert!(matches!(
            r.phase,
            RescalePhase::Submitting {
                parallelism: 4,
                rollback: false,
                ..
            }
        ));
        // The new parallelism fails: back to the old one from the same savepoint.
        assert_eq!(
            r.on_submitted(Err("HTTP 500".into())),
            StepOutcome::Advanced
        );
        assert!(matches!(
            r.phase,
            RescalePhase::Submitting {
                parallelism: 2,
                rollback: true,
                ..
            }
        ));
        let mut stranded = r.clone();
        assert!(matches!(
            stranded.on_submitted(Err("again".into())),
            StepOutcome::Stranded(m) if m.contains("STOPPED") && m.contains("sp")
        ));
        assert_eq!(r.on_submitted(Ok(())), StepOutcome::Advanced);
        assert!(matches!(
            r.on_running("new".into()),
            StepOutcome::Failed(m) if m.contains("HTTP 500") && m.contains("old parallelism 2")
        ));
        let mut ok = FlinkRescale::new("old", 2, 4, "trig".into(), t(0));
        ok.on_savepoint(SavepointStatus::Completed("sp".into()), 60, t(1));
        ok.on_submitted(Ok(()));
        // The new job failing while confirming rolls back like a refused submission.
        let mut failed_job = ok.clone();
        assert_eq!(
            failed_job.on_submission_failed("job x went FAILED".into()),
            StepOutcome::Advanced
        );
        assert!(matches!(
            &failed_job.phase,
            RescalePhase::Submitting { parallelism: 2, rollback: true, failure: Some(f), .. }
                if f.contains("went FAILED")
        ));
        assert_eq!(
            ok.on_running("new".into()),
            StepOutcome::Done {
                job_id: "new".into(),
                savepoint: "sp".into(),
                parallelism: 4
            }
        );
        let mut bad = FlinkRescale::new("old", 2, 4, "trig".into(), t(0));
        assert!(matches!(
            bad.on_savepoint(SavepointStatus::Failed("denied".into()), 60, t(1)),
            StepOutcome::Failed(m) if m.contains("keeps running at parallelism 2")
        ));
    }
}
