//! Savepoints this function takes itself (the `savepoint` command, by hand or on a pipeline's
//! schedule). Pure: which job, the trigger request, the claim that makes a retried invocation
//! follow the savepoint it started instead of taking another, where the result lands in the
//! book, and the event alerts reads when a savepoint could not be taken.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::layout::relative_to;

/// Who asked for a savepoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// The pipeline's schedule (`schedule_time` given).
    Scheduled,
    /// Anyone else: a person, a script.
    Manual,
}

impl TriggerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Scheduled => "scheduled",
            TriggerKind::Manual => "manual",
        }
    }
}

/// What the book keeps of why a savepoint exists: on its point, and on the claim.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SavepointTrigger {
    pub kind: TriggerKind,
    /// Flink's trigger id (chosen by us, so a repeated trigger finds the same operation).
    pub trigger_id: String,
    /// The schedule's ARN, or what the caller named; `manual` by default.
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
}

/// How Flink writes the savepoint (`formatType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SavepointFormat {
    /// Portable across state backends.
    #[default]
    Canonical,
    /// The state backend's own format: faster to take and restore, tied to the backend.
    Native,
}

impl SavepointFormat {
    fn rest_name(self) -> &'static str {
        match self {
            SavepointFormat::Canonical => "CANONICAL",
            SavepointFormat::Native => "NATIVE",
        }
    }
}

/// Where a claimed savepoint stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ClaimState {
    /// Claimed; `posted` once Flink acknowledged the trigger.
    Triggered {
        posted: bool,
    },
    Completed {
        location: String,
    },
    Failed {
        reason: String,
    },
}

/// One savepoint of a pipeline, claimed in the book before it is triggered: the schedule slot
/// (`scheduled-<time>`) or the manual request (`manual-<trigger id>`) is taken once, so a
/// retried invocation finds the claim and follows its trigger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SavepointClaim {
    pub pipeline: String,
    pub slot: String,
    pub job_id: String,
    pub trigger: SavepointTrigger,
    pub state: ClaimState,
}

impl SavepointClaim {
    pub fn posted(&self) -> bool {
        !matches!(self.state, ClaimState::Triggered { posted: false })
    }
}

/// The slot a request takes: its schedule time, or (by hand) its trigger id.
pub fn slot(schedule_time: Option<DateTime<Utc>>, trigger_id: &str) -> String {
    match schedule_time {
        Some(t) => format!("scheduled-{}", t.to_rfc3339()),
        None => format!("manual-{trigger_id}"),
    }
}

/// A Flink trigger id (32 hex digits) derived from `seed`: the same schedule slot of the same
/// pipeline always gives the same id.
pub fn trigger_id(seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// A job as `GET /jobs/overview` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOverview {
    pub id: String,
    pub name: String,
    pub state: String,
}

pub fn parse_overview(v: &Value) -> Result<Vec<JobOverview>, String> {
    let jobs = v["jobs"]
        .as_array()
        .ok_or_else(|| "GET /jobs/overview: no `jobs` list".to_string())?;
    Ok(jobs
        .iter()
        .filter_map(|j| {
            Some(JobOverview {
                id: j["jid"].as_str()?.to_string(),
                name: j["name"].as_str().unwrap_or_default().to_string(),
                state: j["state"].as_str().unwrap_or_default().to_string(),
            })
        })
        .collect())
}

/// How the job to savepoint was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobSource {
    /// The command named it.
    Asked,
    /// The pipeline's newest registered job in the book (or the job of its latest checkpoint).
    Book,
    /// The one running job the JobManager lists under the pipeline's name (as the scaler's
    /// FlinkJobName): the book's job is gone (restarted outside the suite, not registered).
    JobName,
}

/// The running job to savepoint: the one asked for; else the book's job if Flink runs it; else
/// the one running job named as the pipeline. `Err` says why there is none.
pub fn choose_job(
    asked: Option<&str>,
    book_job: Option<&str>,
    pipeline: &str,
    jobs: &[JobOverview],
) -> Result<(String, JobSource), String> {
    let state = |id: &str| jobs.iter().find(|j| j.id == id).map(|j| j.state.as_str());
    if let Some(id) = asked {
        return match state(id) {
            Some("RUNNING") => Ok((id.to_string(), JobSource::Asked)),
            Some(s) => Err(format!("job {id} is {s}, not RUNNING")),
            None => Err(format!("job {id} is not known to the JobManager")),
        };
    }
    if let Some(id) = book_job
        && state(id) == Some("RUNNING")
    {
        return Ok((id.to_string(), JobSource::Book));
    }
    let named: Vec<&JobOverview> = jobs
        .iter()
        .filter(|j| j.name == pipeline && j.state == "RUNNING")
        .collect();
    let book = match book_job {
        Some(id) => format!(
            "the book's job {id} is {}",
            state(id).unwrap_or("not known to the JobManager")
        ),
        None => "the book knows no job of the pipeline".to_string(),
    };
    match named.as_slice() {
        [one] => Ok((one.id.clone(), JobSource::JobName)),
        [] => Err(format!("{book}, and no running job is named {pipeline:?}")),
        more => Err(format!(
            "{book}, and {} running jobs are named {pipeline:?}",
            more.len()
        )),
    }
}

/// The body of `POST /jobs/:id/savepoints`: the job keeps running.
pub fn trigger_body(target_directory: &str, format: SavepointFormat, trigger_id: &str) -> Value {
    json!({
        "target-directory": target_directory,
        "cancel-job": false,
        "formatType": format.rest_name(),
        "triggerId": trigger_id,
    })
}

/// The savepoint's directory key in the checkpoint bucket (`<prefix>savepoint-…/`) from the
/// path Flink answers (any scheme: `s3://`, `s3a://`, `file://` in the local tests), or `None`
/// when it is not directly under the savepoint prefix (the book does not track it).
pub fn savepoint_dir(location: &str, savepoint_prefix: &str) -> Option<String> {
    let rel = relative_to(location, savepoint_prefix)?;
    let name = rel.strip_prefix(savepoint_prefix)?;
    (name.starts_with("savepoint-") && !name.contains('/')).then(|| format!("{rel}/"))
}

/// What a `savepoint` command did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SavepointOutcome {
    /// Which job, where, and what retention would prune; nothing triggered.
    DryRun,
    /// Taken now (or followed to completion after an earlier invocation triggered it).
    Completed,
    /// The slot's savepoint was completed by an earlier invocation: nothing new.
    AlreadyCompleted,
    /// Flink failed it, no job runs, or Flink lost the trigger (a savepoint event was sent).
    Failed,
    /// The slot's savepoint failed in an earlier invocation: nothing new.
    AlreadyFailed,
}

impl SavepointOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            SavepointOutcome::DryRun => "dry_run",
            SavepointOutcome::Completed => "completed",
            SavepointOutcome::AlreadyCompleted => "already_completed",
            SavepointOutcome::Failed => "failed",
            SavepointOutcome::AlreadyFailed => "already_failed",
        }
    }
}

/// The event's `detail-type` (source: [`crate::health_event::SOURCE`]).
pub const DETAIL_TYPE: &str = "Savepoint";

/// Why a savepoint was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// No running job of the pipeline to savepoint.
    JobNotRunning,
    /// Flink answered the trigger with a failure.
    SavepointFailed,
    /// Flink no longer knows the trigger (its operation cache expired, or the JobManager
    /// restarted) and the book has no savepoint for it.
    TriggerLost,
}

/// A savepoint that could not be taken, for the alerts function (read by
/// functions/alerts/src/normalize/savepoint.rs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SavepointEvent {
    /// The claim's identity: the same for a resent event.
    pub event_id: String,
    pub function: String,
    pub pipeline: String,
    pub failure: Failure,
    pub reason: String,
    pub trigger: TriggerKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    pub requested_by: String,
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, name: &str, state: &str) -> JobOverview {
        JobOverview {
            id: id.into(),
            name: name.into(),
            state: state.into(),
        }
    }

    #[test]
    fn the_job_is_the_books_if_running_else_the_one_named_as_the_pipeline() {
        let jobs = [
            job("old", "clicks", "CANCELED"),
            job("new", "clicks", "RUNNING"),
            job("other", "views", "RUNNING"),
        ];
        assert_eq!(
            choose_job(None, Some("new"), "clicks", &jobs),
            Ok(("new".into(), JobSource::Book))
        );
        assert_eq!(
            choose_job(None, Some("old"), "clicks", &jobs),
            Ok(("new".into(), JobSource::JobName))
        );
        let e = choose_job(None, Some("old"), "carts", &jobs).unwrap_err();
        assert_eq!(
            e,
            "the book's job old is CANCELED, and no running job is named \"carts\""
        );
        let e = choose_job(Some("old"), None, "clicks", &jobs).unwrap_err();
        assert_eq!(e, "job old is CANCELED, not RUNNING");
        assert_eq!(
            choose_job(Some("other"), Some("new"), "clicks", &jobs),
            Ok(("other".into(), JobSource::Asked))
        );
        let twice = [job("a", "clicks", "RUNNING"), job("b", "clicks", "RUNNING")];
        let e = choose_job(None, None, "clicks", &twice).unwrap_err();
        assert!(e.contains("2 running jobs"), "{e}");
    }

    #[test]
    fn a_slot_gives_one_trigger_id_and_a_savepoint_path_its_directory() {
        let at: DateTime<Utc> = "2026-12-02T05:00:00Z".parse().unwrap();
        let s = slot(Some(at), "ignored");
        assert_eq!(s, "scheduled-2026-12-02T05:00:00+00:00");
        assert_eq!(slot(None, "abc"), "manual-abc");
        let id = trigger_id(&format!("clicks/{s}"));
        assert_eq!(id.len(), 32);
        assert_eq!(id, trigger_id(&format!("clicks/{s}")));
        assert_ne!(id, trigger_id(&format!("views/{s}")));
        let p = "flink/savepoints/";
        assert_eq!(
            savepoint_dir("s3a://b/flink/savepoints/savepoint-a1b2c3-0123456789ab", p),
            Some("flink/savepoints/savepoint-a1b2c3-0123456789ab/".into())
        );
        assert_eq!(
            savepoint_dir(
                "file:///tmp/s/flink/savepoints/savepoint-a1b2c3-0123456789ab/",
                p
            ),
            Some("flink/savepoints/savepoint-a1b2c3-0123456789ab/".into())
        );
        assert_eq!(savepoint_dir("s3://b/elsewhere/savepoint-a1-b", p), None);
        assert_eq!(
            savepoint_dir("s3://b/flink/savepoints/x/savepoint-a1-b", p),
            None
        );
        let body = trigger_body("s3://b/flink/savepoints/", SavepointFormat::Native, &id);
        assert_eq!(body["cancel-job"], false);
        assert_eq!(body["formatType"], "NATIVE");
        assert_eq!(body["triggerId"], id.as_str());
    }

    /// What a real Flink 2.3 answered (events/checkpoints/flink/): the overview of a running
    /// job, and a trigger sent twice with our trigger id, answered with the same operation
    /// both times (what makes a retried trigger safe).
    #[test]
    fn the_answers_of_a_real_flink_read_as_recorded() {
        use streamops_shared::flink::{SavepointStatus, savepoint_status};
        use streamops_test_support::fixture;
        let jobs = parse_overview(&fixture("checkpoints/flink/jobs-overview.json")).unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            (jobs[0].name.as_str(), jobs[0].state.as_str()),
            ("streamops-counting-job", "RUNNING")
        );
        assert_eq!(
            choose_job(None, None, "streamops-counting-job", &jobs),
            Ok((jobs[0].id.clone(), JobSource::JobName))
        );
        let first = fixture("checkpoints/flink/savepoint-trigger.json");
        let again = fixture("checkpoints/flink/savepoint-trigger-repeated.json");
        assert_eq!(first["request-id"], "5a7e0c1d2b3f40516273849a0b1c2d3e");
        assert_eq!(again, first);
        let done = savepoint_status(&fixture("checkpoints/flink/savepoint-completed.json"));
        let SavepointStatus::Completed(location) = done else {
            panic!("{done:?}")
        };
        assert!(location.starts_with("file:/"), "{location}");
        let dir = savepoint_dir(&location, "flink/savepoints/").unwrap();
        assert!(
            dir.starts_with("flink/savepoints/savepoint-8f85c8-"),
            "{dir}"
        );
        assert_eq!(
            savepoint_status(&fixture("checkpoints/flink/savepoint-in-progress.json")),
            SavepointStatus::InProgress
        );
    }

    #[test]
    fn the_overview_reads_as_flink_lists_it() {
        let v = json!({"jobs": [{"jid": "j1", "name": "clicks", "state": "RUNNING"}, {"name": "no id"}]});
        assert_eq!(
            parse_overview(&v).unwrap(),
            vec![job("j1", "clicks", "RUNNING")]
        );
        assert!(parse_overview(&json!({"errors": ["x"]})).is_err());
    }
}
