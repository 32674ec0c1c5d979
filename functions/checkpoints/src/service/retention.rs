//! `prune`: the pipeline's retention policy applied to its points ([`crate::book::plan_retention`]
//! decides), and orphaned `chk-<n>` directories removed.
//!
//! A point is deleted in three steps: marked `pruning` (only if it is still in the status the
//! plan saw and not pinned: a pin or a status change since the plan keeps it), its directory
//! deleted, then marked `pruned`. A prune that stops half-way leaves `pruning` points, never
//! offered for restore, which the next prune finishes.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use streamops_shared::AwsCallError;

use super::{CheckpointsError, CheckpointsService};
use crate::book::{CheckpointRecord, PointStatus, Scope, orphaned_checkpoints, plan_retention};
use crate::claims::claimed_points;
use crate::layout::FlinkObject;
use crate::ports::{BookStore, CheckpointObjects, FlinkRest};

impl<B: BookStore, O: CheckpointObjects, F: FlinkRest, N> CheckpointsService<B, O, F, N> {
    pub(super) async fn prune(
        &self,
        scope: &Scope,
        dry_run: bool,
        now: DateTime<Utc>,
    ) -> Result<Value, CheckpointsError> {
        let (pipeline, lineage) = self.jobs(scope).await?;
        let points = self.points(scope, &lineage).await?;
        let mut jobs: Vec<String> = points.iter().map(|p| p.job_id.clone()).collect();
        jobs.sort();
        jobs.dedup();
        let latest = self.latest_locations(&jobs, &pipeline).await?;
        let policy = self.config.retention.for_pipeline(&pipeline).clone();
        let claimed = claimed_points(&points, &lineage);
        let decisions = plan_retention(&points, &lineage, &claimed, &latest, &policy, now);
        let orphans = self.orphans(&jobs).await?;

        let mut deleted_objects = 0usize;
        let mut changed = Vec::new();
        if !dry_run {
            for d in decisions.iter().filter(|d| d.prune) {
                // plan_retention makes one decision per point, with its location.
                let p = points
                    .iter()
                    .find(|p| p.location == d.location)
                    .expect("decisions come from points");
                match self.prune_point(p).await? {
                    Some(n) => deleted_objects += n,
                    None => changed.push(p.location.clone()),
                }
            }
            for (_, dir) in &orphans {
                deleted_objects += self.bucket.delete_dir(dir).await?;
                tracing::info!(dir = %dir, "orphaned checkpoint directory deleted");
            }
        }
        let pruned: Vec<&String> = decisions
            .iter()
            .filter(|d| d.prune)
            .map(|d| &d.location)
            .collect();
        Ok(json!({
            "pipeline": pipeline,
            "dry_run": dry_run,
            "policy": policy,
            "prune": pruned,
            "changed_since_plan": changed,
            "orphaned_directories": orphans.iter().map(|(id, dir)| json!({"checkpoint_id": id, "dir": dir})).collect::<Vec<_>>(),
            "decisions": decisions,
            "deleted_objects": deleted_objects,
        }))
    }

    /// The locations the latest pointers of these jobs and of the pipeline name.
    async fn latest_locations(
        &self,
        jobs: &[String],
        pipeline: &str,
    ) -> Result<HashSet<String>, AwsCallError> {
        let mut latest = HashSet::new();
        let scopes = jobs
            .iter()
            .map(|j| Scope::Job(j.clone()))
            .chain([Scope::Pipeline(pipeline.to_string())]);
        for scope in scopes {
            if let Some(pointer) = self.book.latest(&scope).await? {
                latest.insert(pointer.location);
            }
        }
        Ok(latest)
    }

    /// `chk-<n>` directories with files but no `_metadata`, older than the newest completed.
    async fn orphans(&self, jobs: &[String]) -> Result<Vec<(u64, String)>, AwsCallError> {
        let mut orphans = Vec::new();
        for j in jobs.iter().filter(|j| j.len() == 32) {
            let mut dirs: BTreeMap<u64, String> = BTreeMap::new();
            let mut completed: HashSet<u64> = HashSet::new();
            let prefix = format!("{}{j}/", self.config.locations.checkpoint_prefix);
            for o in self.bucket.list_objects(&prefix).await? {
                match self.config.locations.classify(&o.key) {
                    FlinkObject::Checkpoint {
                        checkpoint_id, dir, ..
                    } => {
                        completed.insert(checkpoint_id);
                        dirs.insert(checkpoint_id, dir);
                    }
                    FlinkObject::CheckpointFile {
                        checkpoint_id, dir, ..
                    } => {
                        dirs.insert(checkpoint_id, dir);
                    }
                    _ => {}
                }
            }
            orphans.extend(orphaned_checkpoints(&dirs, &completed));
        }
        Ok(orphans)
    }

    /// Deletes one point the plan let go: the objects deleted, or `None` when the point changed
    /// since the plan (pinned, or its status moved) and is kept.
    async fn prune_point(&self, p: &CheckpointRecord) -> Result<Option<usize>, AwsCallError> {
        let id = p.id();
        if p.status != PointStatus::Pruning && !self.book.mark_pruning(&id, p.status).await? {
            tracing::warn!(location = %p.location, "changed since the prune was planned; kept");
            return Ok(None);
        }
        let deleted = self.bucket.delete_dir(&p.dir).await?;
        self.book
            .set_status(&id, PointStatus::Pruning, PointStatus::Pruned)
            .await?;
        tracing::info!(location = %p.location, "pruned");
        Ok(Some(deleted))
    }
}
