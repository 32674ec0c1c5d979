//! The read side and the small writes of the ops commands: `latest`, `list`, `register-job`,
//! `pin`/`unpin`, `verify`.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use streamops_shared::AwsCallError;

use super::{CheckpointsError, CheckpointsService};
use crate::book::{CheckpointRecord, JobLineage, PointStatus, RestoreMode, Scope};
use crate::claims::apply_claims;
use crate::flink_rest::flink_view;
use crate::layout::PointKind;
use crate::layout::relative_to;
use crate::ports::{BookStore, CheckpointObjects, FlinkRest};

impl<B: BookStore, O: CheckpointObjects, F: FlinkRest, N> CheckpointsService<B, O, F, N> {
    pub(super) async fn latest_command(
        &self,
        scope: &Scope,
        prefer: Option<PointKind>,
        now: DateTime<Utc>,
    ) -> Result<Value, CheckpointsError> {
        Ok(match self.latest(scope, prefer).await? {
            Some(p) => json!({
                "location": p.location, "kind": p.kind, "job_id": p.job_id, "pipeline": p.pipeline,
                "checkpoint_id": p.checkpoint_id, "completed_at": p.completed_at,
                "age_seconds": (now - p.completed_at).num_seconds(),
            }),
            None => json!({ "location": null, "message": "no restorable point in the book" }),
        })
    }

    pub(super) async fn list(
        &self,
        scope: &Scope,
        limit: usize,
    ) -> Result<Value, CheckpointsError> {
        let (_, lineage) = self.jobs(scope).await?;
        let mut points = self.points(scope, &lineage).await?;
        let claimed = apply_claims(&mut points, &lineage);
        points.sort_by_key(|p| std::cmp::Reverse(p.order()));
        points.truncate(limit);
        let claimed: Vec<Value> = points
            .iter()
            .filter_map(|p| {
                let by = claimed.get(&p.location)?;
                Some(json!({"location": p.location, "claimed_by": by}))
            })
            .collect();
        Ok(json!({ "points": points, "claimed": claimed }))
    }

    pub(super) async fn register_job(
        &self,
        pipeline: String,
        job_id: String,
        restored_from: Option<String>,
        restore_mode: Option<RestoreMode>,
        now: DateTime<Utc>,
    ) -> Result<Value, CheckpointsError> {
        let lineage = JobLineage {
            pipeline,
            job_id,
            restored_from,
            restore_mode,
            registered_at: now,
        };
        self.book.register_job(&lineage).await?;
        let adopted = self.adopt_unresolved(&lineage.job_id).await?;
        Ok(json!({ "registered": lineage, "adopted_savepoints": adopted }))
    }

    pub(super) async fn pin(&self, dir: &str, pinned: bool) -> Result<Value, CheckpointsError> {
        let location = format!("s3://{}/{dir}", self.bucket.name());
        let object = self.config.locations.classify(&format!("{dir}_metadata"));
        let Some(id) = self.point_of(object).await? else {
            return Err(CheckpointsError::BadCommand(format!(
                "{location:?} is not a checkpoint or savepoint directory"
            )));
        };
        if !self.book.set_pinned(&id, pinned).await? {
            return Err(CheckpointsError::BadCommand(format!(
                "{location:?} is not in the book"
            )));
        }
        Ok(json!({ "location": location, "pinned": pinned }))
    }

    pub(super) async fn verify(
        &self,
        job: &str,
        url: Option<String>,
    ) -> Result<Value, CheckpointsError> {
        let url = self.rest_url(url)?;
        let stats = self
            .flink
            .job_checkpoints(&url, job)
            .await
            .map_err(CheckpointsError::Flink)?;
        let flink = flink_view(&stats);
        let scope = Scope::Job(job.to_string());
        // One read of the book for both kinds.
        let restorable = self.restorable(&scope, &self.jobs(&scope).await?.1).await?;
        let newest = |kind: PointKind| {
            restorable
                .iter()
                .filter(|p| p.kind == kind)
                .max_by_key(|p| p.order())
                .cloned()
        };
        let (cp, sp) = (newest(PointKind::Checkpoint), newest(PointKind::Savepoint));
        let cp_anchor = &self.config.locations.checkpoint_prefix;
        let sp_anchor = &self.config.locations.savepoint_prefix;
        let cp_id = cp.as_ref().and_then(|p| p.checkpoint_id);
        let mut differences = Vec::new();
        if flink.latest_completed_id != cp_id {
            differences.push(format!(
                "latest completed checkpoint: Flink {:?}, book {cp_id:?}",
                flink.latest_completed_id
            ));
        }
        let rel = |p: Option<&str>, anchor: &str| p.and_then(|p| relative_to(p, anchor));
        let location = |p: &Option<CheckpointRecord>| p.as_ref().map(|p| p.location.clone());
        if rel(flink.latest_completed_path.as_deref(), cp_anchor)
            != rel(location(&cp).as_deref(), cp_anchor)
        {
            differences.push("latest completed checkpoint path differs".into());
        }
        if flink.latest_savepoint_id.is_some()
            && rel(flink.latest_savepoint_path.as_deref(), sp_anchor)
                != rel(location(&sp).as_deref(), sp_anchor)
        {
            differences.push("latest savepoint path differs".into());
        }
        Ok(json!({
            "job_id": job,
            "in_sync": differences.is_empty(),
            "differences": differences,
            "flink": flink,
            "book": {
                "checkpoint_id": cp_id,
                "checkpoint_location": location(&cp),
                "savepoint_id": sp.as_ref().and_then(|p| p.checkpoint_id),
                "savepoint_location": location(&sp),
            },
        }))
    }

    /// The JobManager endpoint a command asks: its own, else `CHECKPOINTS_FLINK_REST_URL`.
    pub(super) fn rest_url(&self, url: Option<String>) -> Result<String, CheckpointsError> {
        url.or_else(|| self.config.flink_rest_url.clone())
            .ok_or_else(|| {
                CheckpointsError::BadCommand(
                    "no Flink REST endpoint: set CHECKPOINTS_FLINK_REST_URL or pass flink_rest_url"
                        .into(),
                )
            })
    }

    /// The pipeline a scope belongs to, and its registered jobs: a job scope plans with its
    /// pipeline's whole lineage too, so a point another job was restored from stays.
    pub(super) async fn jobs(
        &self,
        scope: &Scope,
    ) -> Result<(String, Vec<JobLineage>), AwsCallError> {
        match scope {
            Scope::Job(j) => match self.book.pipeline_of(j).await? {
                Some(pipeline) => {
                    let lineage = self.book.lineage(&pipeline).await?;
                    Ok((pipeline, lineage))
                }
                None => Ok((j.clone(), Vec::new())),
            },
            Scope::Pipeline(p) => Ok((p.clone(), self.book.lineage(p).await?)),
        }
    }

    /// Every point of the scope: of the job, or of every job in the pipeline's `lineage` (as
    /// [`Self::jobs`] read it: the book's lineage is read once per command).
    pub(super) async fn points(
        &self,
        scope: &Scope,
        lineage: &[JobLineage],
    ) -> Result<Vec<CheckpointRecord>, AwsCallError> {
        let job_ids: Vec<String> = match scope {
            Scope::Job(j) => vec![j.clone()],
            // An unregistered job is its own pipeline.
            Scope::Pipeline(p) if lineage.is_empty() => vec![p.clone()],
            Scope::Pipeline(_) => lineage.iter().map(|j| j.job_id.clone()).collect(),
        };
        let mut out = Vec::new();
        for j in job_ids {
            out.extend(self.book.points(&j).await?);
        }
        Ok(out)
    }

    /// The pointer when it still names a restorable point of the wanted kind; otherwise the
    /// newest restorable point in the history (e.g. after the pointed-to directory was removed).
    /// With a CLAIM restore in the lineage, always the history with the claims applied: the
    /// pointer may name a point another job now owns.
    pub(super) async fn latest(
        &self,
        scope: &Scope,
        kind: Option<PointKind>,
    ) -> Result<Option<CheckpointRecord>, AwsCallError> {
        let (_, lineage) = self.jobs(scope).await?;
        let any_claim = lineage
            .iter()
            .any(|j| j.restore_mode == Some(RestoreMode::Claim));
        if kind.is_none()
            && !any_claim
            && let Some(pointer) = self.book.latest(scope).await?
            && let Some(p) = self.book.point(&pointer.point).await?
            && p.status == PointStatus::Restorable
        {
            return Ok(Some(p));
        }
        Ok(self
            .restorable(scope, &lineage)
            .await?
            .into_iter()
            .filter(|p| kind.is_none_or(|k| p.kind == k))
            .max_by_key(CheckpointRecord::order))
    }

    /// The scope's points that can be restored once the claims in `lineage` are applied.
    async fn restorable(
        &self,
        scope: &Scope,
        lineage: &[JobLineage],
    ) -> Result<Vec<CheckpointRecord>, AwsCallError> {
        let mut points = self.points(scope, lineage).await?;
        apply_claims(&mut points, lineage);
        points.retain(|p| p.status == PointStatus::Restorable);
        Ok(points)
    }
}
