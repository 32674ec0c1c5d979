//! Checkpoint health of one pipeline, pure: how old its latest completed checkpoint is, how many
//! checkpoints failed since, and the verdict, from the book's latest checkpoint and, when the
//! JobManager answered, Flink's checkpoint statistics ([`crate::flink_rest::flink_stats`]).
//! Nothing here talks to AWS or Flink; the service gathers the inputs and sends the event.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Thresholds of one pipeline (`CHECKPOINTS_HEALTH`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthPolicy {
    /// Late once no checkpoint completed for this many intervals.
    #[serde(default = "default_missed_intervals")]
    pub missed_intervals: u32,
    /// The checkpoint interval when Flink's REST API does not give it (unreachable, or
    /// checkpointing not configured on the job).
    #[serde(default = "default_interval_seconds")]
    pub interval_seconds: u64,
    /// Failing once this many checkpoints in a row failed (counted from Flink's REST API only).
    #[serde(default = "default_failures")]
    pub consecutive_failures: u32,
}

fn default_missed_intervals() -> u32 {
    3
}

fn default_interval_seconds() -> u64 {
    60
}

fn default_failures() -> u32 {
    3
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self {
            missed_intervals: default_missed_intervals(),
            interval_seconds: default_interval_seconds(),
            consecutive_failures: default_failures(),
        }
    }
}

impl HealthPolicy {
    /// Why the policy cannot be used (a zero interval or threshold would make every pipeline
    /// late, or failing, at once).
    pub fn problem(&self) -> Option<&'static str> {
        if self.missed_intervals == 0 {
            Some("missed_intervals must be at least 1")
        } else if self.interval_seconds == 0 {
            Some("interval_seconds must be at least 1")
        } else if self.consecutive_failures == 0 {
            Some("consecutive_failures must be at least 1")
        } else {
            None
        }
    }
}

/// A completed checkpoint, as the book or Flink knows it: the last good point an alert names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoodPoint {
    pub checkpoint_id: Option<u64>,
    pub location: String,
    pub completed_at: DateTime<Utc>,
    pub known_from: Source,
}

/// Where a fact came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Book,
    FlinkRest,
}

/// A failed checkpoint as Flink reports it (`latest.failed`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedCheckpoint {
    pub id: u64,
    pub failed_at: Option<DateTime<Utc>>,
    pub message: Option<String>,
}

/// What Flink's REST API says about a job's checkpoints, reduced to what health needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlinkStats {
    pub latest_completed: Option<GoodPoint>,
    /// Failed checkpoints newer than the latest completed one, as far as Flink's history
    /// (`web.checkpoints.history`, 10 by default) reaches.
    pub consecutive_failures: u32,
    pub latest_failed: Option<FailedCheckpoint>,
    /// The job's configured interval (`/checkpoints/config`), when Flink gave it.
    pub interval_seconds: Option<u64>,
}

/// What health is judged from, besides the book.
#[derive(Debug, Clone, PartialEq)]
pub enum Evidence {
    Flink(FlinkStats),
    /// Flink's REST API was not asked or did not answer: why.
    BookOnly {
        why: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Verdict {
    Healthy,
    /// No checkpoint completed for `intervals_missed` intervals (at least the policy's N).
    Late {
        intervals_missed: u64,
    },
    /// `consecutive` checkpoints in a row failed (at least the policy's threshold).
    Failing {
        consecutive: u32,
    },
    /// Nothing to judge from: no completed checkpoint known anywhere.
    Unknown {
        why: String,
    },
}

impl Verdict {
    pub fn is_unhealthy(&self) -> bool {
        matches!(self, Verdict::Late { .. } | Verdict::Failing { .. })
    }
}

/// The health of one pipeline: the `health` command's answer, the metrics and the event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthReport {
    pub pipeline: String,
    pub verdict: Verdict,
    /// Seconds since the latest completed checkpoint; `None` when none is known.
    pub age_seconds: Option<i64>,
    /// `None` when Flink's REST API did not answer: the book does not see failed checkpoints.
    pub consecutive_failures: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failures_unknown_because: Option<String>,
    pub interval_seconds: u64,
    pub interval_from: IntervalFrom,
    pub last_good: Option<GoodPoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_failed: Option<FailedCheckpoint>,
    /// The job asked about (the pipeline's newest registered job, else its latest point's).
    pub job_id: Option<String>,
    pub evaluated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IntervalFrom {
    /// `interval` of `GET /jobs/<id>/checkpoints/config`.
    FlinkConfig,
    /// The policy's `interval_seconds`.
    Policy,
}

/// The newer of two completed checkpoints (the book lags Flink by an S3 event).
fn newest(a: Option<GoodPoint>, b: Option<GoodPoint>) -> Option<GoodPoint> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.completed_at > a.completed_at {
            b
        } else {
            a
        }),
        (a, b) => a.or(b),
    }
}

/// Judges one pipeline at `now`.
pub fn evaluate(
    pipeline: &str,
    job_id: Option<String>,
    book_latest: Option<GoodPoint>,
    evidence: Evidence,
    policy: &HealthPolicy,
    now: DateTime<Utc>,
) -> HealthReport {
    let (flink_latest, failures, failures_unknown, latest_failed, flink_interval) = match evidence {
        Evidence::Flink(s) => (
            s.latest_completed,
            Some(s.consecutive_failures),
            None,
            s.latest_failed,
            s.interval_seconds.filter(|i| *i > 0),
        ),
        Evidence::BookOnly { why } => (None, None, Some(why), None, None),
    };
    let (interval_seconds, interval_from) = match flink_interval {
        Some(i) => (i, IntervalFrom::FlinkConfig),
        None => (policy.interval_seconds, IntervalFrom::Policy),
    };
    let last_good = newest(book_latest, flink_latest);
    // A clock a little behind the completion time is not a negative age.
    let age_seconds = last_good
        .as_ref()
        .map(|p| (now - p.completed_at).num_seconds().max(0));
    let verdict = judge(age_seconds, failures, interval_seconds, policy);
    HealthReport {
        pipeline: pipeline.to_string(),
        verdict,
        age_seconds,
        consecutive_failures: failures,
        failures_unknown_because: failures_unknown,
        interval_seconds,
        interval_from,
        last_good,
        latest_failed,
        job_id,
        evaluated_at: now,
    }
}

/// Failing before late: failures say why the checkpoints stopped.
fn judge(
    age_seconds: Option<i64>,
    failures: Option<u32>,
    interval_seconds: u64,
    policy: &HealthPolicy,
) -> Verdict {
    if let Some(n) = failures.filter(|n| *n >= policy.consecutive_failures) {
        return Verdict::Failing { consecutive: n };
    }
    let Some(age) = age_seconds else {
        return Verdict::Unknown {
            why: "no completed checkpoint of the pipeline in the book or in Flink".into(),
        };
    };
    let intervals_missed = age.unsigned_abs() / interval_seconds;
    let allowed = u64::from(policy.missed_intervals) * interval_seconds;
    if age.unsigned_abs() > allowed {
        Verdict::Late { intervals_missed }
    } else {
        Verdict::Healthy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn point(id: u64, at_: &str, from: Source) -> GoodPoint {
        GoodPoint {
            checkpoint_id: Some(id),
            location: format!("s3://b/flink/checkpoints/j/chk-{id}/"),
            completed_at: at(at_),
            known_from: from,
        }
    }

    fn stats(latest: Option<GoodPoint>, failures: u32, interval: Option<u64>) -> Evidence {
        Evidence::Flink(FlinkStats {
            latest_completed: latest,
            consecutive_failures: failures,
            latest_failed: None,
            interval_seconds: interval,
        })
    }

    const NOW: &str = "2026-11-20T10:10:00Z";

    #[test]
    fn late_after_n_intervals_and_not_before() {
        let policy = HealthPolicy::default(); // 3 intervals of 60 s
        let book = |ago: i64| {
            Some(GoodPoint {
                completed_at: at(NOW) - Duration::seconds(ago),
                ..point(7, NOW, Source::Book)
            })
        };
        let why = || Evidence::BookOnly { why: "x".into() };
        let r = evaluate("p", None, book(180), why(), &policy, at(NOW));
        assert_eq!(
            r.verdict,
            Verdict::Healthy,
            "exactly N intervals is not late"
        );
        let r = evaluate("p", None, book(181), why(), &policy, at(NOW));
        assert_eq!(
            r.verdict,
            Verdict::Late {
                intervals_missed: 3
            }
        );
        assert_eq!(r.age_seconds, Some(181));
        assert_eq!(r.consecutive_failures, None);
        assert_eq!(r.failures_unknown_because.as_deref(), Some("x"));
        assert_eq!(r.interval_from, IntervalFrom::Policy);
    }

    #[test]
    fn flink_gives_the_interval_the_failures_and_a_newer_point() {
        let policy = HealthPolicy::default();
        let book = Some(point(7, "2026-11-20T09:00:00Z", Source::Book));
        let flink = Some(point(9, "2026-11-20T10:05:00Z", Source::FlinkRest));
        let r = evaluate(
            "p",
            None,
            book,
            stats(flink, 2, Some(600)),
            &policy,
            at(NOW),
        );
        assert_eq!(r.verdict, Verdict::Healthy);
        assert_eq!(r.last_good.as_ref().unwrap().checkpoint_id, Some(9));
        assert_eq!(r.last_good.unwrap().known_from, Source::FlinkRest);
        assert_eq!(
            (r.interval_seconds, r.interval_from),
            (600, IntervalFrom::FlinkConfig)
        );
        assert_eq!(r.consecutive_failures, Some(2));
        let r = evaluate("p", None, None, stats(None, 3, Some(0)), &policy, at(NOW));
        assert_eq!(r.verdict, Verdict::Failing { consecutive: 3 });
        assert_eq!(
            r.interval_from,
            IntervalFrom::Policy,
            "a zero interval is none"
        );
    }

    #[test]
    fn nothing_completed_anywhere_is_unknown_not_healthy() {
        let r = evaluate(
            "p",
            None,
            None,
            stats(None, 0, None),
            &HealthPolicy::default(),
            at(NOW),
        );
        assert!(matches!(r.verdict, Verdict::Unknown { .. }));
        assert!(!r.verdict.is_unhealthy());
        assert_eq!(r.age_seconds, None);
    }

    #[test]
    fn a_zero_threshold_is_refused() {
        let zero = HealthPolicy {
            missed_intervals: 0,
            ..Default::default()
        };
        assert!(zero.problem().is_some());
        assert!(HealthPolicy::default().problem().is_none());
    }
}
