//! The `health` command (run by hand, and by the health schedule): every pipeline of the book
//! (or one) judged by [`crate::health::evaluate`] from the book's latest checkpoint and Flink's
//! checkpoint statistics when the JobManager answers; published as metrics and, unless
//! `notify` is false, as health events for the alerts function.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use streamops_shared::metrics::Unit;
use streamops_shared::{AwsCallError, Metrics};

use super::{CheckpointsError, CheckpointsService};
use crate::book::{CheckpointRecord, JobLineage, Scope};
use crate::flink_rest::flink_stats;
use crate::health::{Evidence, GoodPoint, HealthReport, Source, evaluate};
use crate::health_event;
use crate::layout::PointKind;
use crate::ports::{BookStore, CheckpointObjects, FlinkRest, HealthNotifier};

/// How one `health` command runs.
pub(super) struct Run {
    /// Send health events (metrics are published either way).
    pub notify: bool,
    /// Instead of `CHECKPOINTS_FLINK_REST_URL`.
    pub flink_rest_url: Option<String>,
}

/// Savepoints whose job is not registered yet are booked under this pipeline-like name
/// (`events::savepoint_job`); they have no checkpoints to judge.
const UNRESOLVED: &str = "unresolved-";

impl<B: BookStore, O: CheckpointObjects, F: FlinkRest, N: HealthNotifier>
    CheckpointsService<B, O, F, N>
{
    pub(super) async fn health(
        &self,
        pipeline: Option<String>,
        run: &Run,
        now: DateTime<Utc>,
        metrics: &mut Metrics,
    ) -> Result<Value, CheckpointsError> {
        let url = run
            .flink_rest_url
            .as_deref()
            .or(self.config.flink_rest_url.as_deref());
        let pipelines = match pipeline {
            Some(p) => vec![p],
            None => self.book.pipelines().await?,
        };
        let mut reports = Vec::new();
        for p in pipelines.iter().filter(|p| !p.starts_with(UNRESOLVED)) {
            let report = self.pipeline_health(p, url, now).await?;
            publish_metrics(&report, metrics);
            tracing::info!(pipeline = %p, verdict = ?report.verdict, age_seconds = ?report.age_seconds, "checkpoint health");
            reports.push(report);
        }
        let notified = if run.notify {
            self.notify(&reports).await?
        } else {
            0
        };
        let unhealthy = reports.iter().filter(|r| r.verdict.is_unhealthy()).count();
        Ok(json!({ "pipelines": reports, "unhealthy": unhealthy, "events_sent": notified }))
    }

    async fn pipeline_health(
        &self,
        pipeline: &str,
        url: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<HealthReport, AwsCallError> {
        let scope = Scope::Pipeline(pipeline.to_string());
        let (_, lineage) = self.jobs(&scope).await?;
        let latest = self.latest(&scope, Some(PointKind::Checkpoint)).await?;
        let job = running_job(&lineage, latest.as_ref());
        let evidence = self.flink_evidence(url, job.as_deref()).await;
        let policy = self.config.health.for_pipeline(pipeline);
        let book_latest = latest.map(|p| GoodPoint {
            checkpoint_id: p.checkpoint_id,
            location: p.location,
            completed_at: p.completed_at,
            known_from: Source::Book,
        });
        Ok(evaluate(pipeline, job, book_latest, evidence, policy, now))
    }

    /// Flink's statistics of `job`, or why health goes on from the book alone.
    async fn flink_evidence(&self, url: Option<&str>, job: Option<&str>) -> Evidence {
        let Some(url) = url else {
            return Evidence::BookOnly {
                why: "no Flink REST endpoint (CHECKPOINTS_FLINK_REST_URL)".into(),
            };
        };
        let Some(job) = job else {
            return Evidence::BookOnly {
                why: "no job of the pipeline is known to ask Flink about".into(),
            };
        };
        let stats = match self.flink.job_checkpoints(url, job).await {
            Ok(s) => s,
            Err(e) => {
                return Evidence::BookOnly {
                    why: format!("Flink REST API unreachable: {e}"),
                };
            }
        };
        // Checkpointing switched off answers 404 here: the policy's interval stands in.
        let config = self.flink.checkpoint_config(url, job).await.ok();
        match flink_stats(&stats, config.as_ref()) {
            Ok(s) => Evidence::Flink(s),
            Err(e) => Evidence::BookOnly {
                why: format!("Flink REST API: {e}"),
            },
        }
    }

    /// Sends every judged report's event; every one is tried, the first failure is returned
    /// (a retry resends the rest too, which alerts sees as redeliveries or repeats).
    async fn notify(&self, reports: &[HealthReport]) -> Result<usize, AwsCallError> {
        let mut sent = 0;
        let mut first_error = None;
        for r in reports {
            let allowed = self
                .config
                .health
                .for_pipeline(&r.pipeline)
                .missed_intervals;
            let Some(event) = health_event::event(r, &self.config.function_name, allowed) else {
                continue;
            };
            match self.notifier.publish(&event).await {
                Ok(()) => sent += 1,
                Err(e) => {
                    tracing::warn!(pipeline = %r.pipeline, error = %e, "health event not sent");
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(sent), Err)
    }
}

/// The job Flink is asked about: the pipeline's newest registered job (a restored job may not
/// have checkpointed yet), else the job of its latest checkpoint (an unregistered job is its
/// own pipeline).
pub(super) fn running_job(
    lineage: &[JobLineage],
    latest: Option<&CheckpointRecord>,
) -> Option<String> {
    lineage
        .iter()
        .max_by_key(|j| j.registered_at)
        .map(|j| j.job_id.clone())
        .or_else(|| latest.map(|p| p.job_id.clone()))
}

/// Per pipeline, and without the pipeline dimension too: the template's one alarm watches the
/// maximum of that series over every pipeline (a static alarm cannot name each pipeline).
fn publish_metrics(r: &HealthReport, metrics: &mut Metrics) {
    if let Some(age) = r.age_seconds {
        metrics.record_by(
            "CheckpointAgeSeconds",
            "pipeline",
            &r.pipeline,
            Unit::Seconds,
            age as f64,
        );
        metrics.record("CheckpointAgeSeconds", Unit::Seconds, age as f64);
    }
    if let Some(n) = r.consecutive_failures {
        metrics.record_by(
            "CheckpointConsecutiveFailures",
            "pipeline",
            &r.pipeline,
            Unit::Count,
            f64::from(n),
        );
        metrics.record("CheckpointConsecutiveFailures", Unit::Count, f64::from(n));
    }
}
