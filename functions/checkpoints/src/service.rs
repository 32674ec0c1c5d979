//! The handler: S3 object events (direct notifications or EventBridge) become entries in the
//! book; ops commands read it, link jobs to pipelines, pin points and prune.

use std::collections::{BTreeMap, HashSet};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::s3::S3Event;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use streamops_shared::ErrorClass;
use streamops_shared::dynamo::WriteOutcome;
use streamops_shared::harness::Classified;
use streamops_shared::s3key::decode_key;
use streamops_shared::{AwsCallError, Metrics};

use crate::book::{
    CheckpointRecord, JobLineage, PointStatus, orphaned_checkpoints, plan_retention,
};
use crate::config::CheckpointsConfig;
use crate::flink_rest;
use crate::layout::{FlinkObject, MetadataVerdict, PointKind, check_header};
use crate::objects::CheckpointBucket;
use crate::ops::{CheckpointsCommand, Scope, parse_command, scope};
use crate::store::{Book, job_pk, pipeline_pk, point_sk};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointsError {
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    BadCommand(String),
    #[error("{0}")]
    Aws(#[from] AwsCallError),
    #[error("Flink REST API: {0}")]
    Flink(String),
}

impl Classified for CheckpointsError {
    fn class(&self) -> ErrorClass {
        match self {
            CheckpointsError::Aws(e) => e.class,
            CheckpointsError::Input(_) | CheckpointsError::BadCommand(_) => ErrorClass::Permanent,
            // The JobManager unreachable or busy: worth another try.
            CheckpointsError::Flink(_) => ErrorClass::Retryable,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            CheckpointsError::Aws(_) => "AwsCall",
            CheckpointsError::Input(_) => "BadInput",
            CheckpointsError::BadCommand(_) => "BadCommand",
            CheckpointsError::Flink(_) => "FlinkRest",
        }
    }
}

/// One object event, whatever way it came.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectEvent {
    pub created: bool,
    pub bucket: String,
    /// Decoded.
    pub key: String,
    pub size: Option<i64>,
    pub etag: Option<String>,
    pub time: DateTime<Utc>,
}

/// What happened to one object event.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub key: String,
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

pub struct CheckpointsService {
    pub config: CheckpointsConfig,
    pub book: Book,
    pub bucket: CheckpointBucket,
}

/// Reads a payload as S3 object events, or says it is something else.
pub fn parse_events(payload: &Value) -> Result<Vec<ObjectEvent>, String> {
    if payload.get("Records").is_some() {
        // S3 notifications relayed by some tools omit userIdentity/requestParameters, which
        // the event type requires; they carry nothing we use.
        let mut v = payload.clone();
        for r in v["Records"].as_array_mut().into_iter().flatten() {
            for field in ["userIdentity", "requestParameters", "responseElements"] {
                if r.get(field).is_none_or(Value::is_null) {
                    r[field] = json!({});
                }
            }
        }
        let event: S3Event =
            serde_json::from_value(v).map_err(|e| format!("not an S3 event: {e}"))?;
        let mut out = Vec::new();
        for r in event.records {
            let name = r.event_name.unwrap_or_default();
            let raw = r.s3.object.key.unwrap_or_default();
            let key = decode_key(&raw).map_err(|e| format!("object key {raw:?}: {e}"))?;
            out.push(ObjectEvent {
                created: name.starts_with("ObjectCreated"),
                bucket: r.s3.bucket.name.unwrap_or_default(),
                key,
                size: r.s3.object.size,
                etag: r.s3.object.e_tag,
                time: r.event_time,
            });
        }
        return Ok(out);
    }
    if payload.get("detail-type").is_some() {
        let e: EventBridgeEvent<Value> = serde_json::from_value(payload.clone())
            .map_err(|e| format!("not an EventBridge event: {e}"))?;
        let created = match e.detail_type.as_str() {
            "Object Created" => true,
            "Object Deleted" => false,
            other => {
                return Err(format!(
                    "EventBridge detail-type {other:?} is not an S3 object event"
                ));
            }
        };
        let raw = e.detail["object"]["key"]
            .as_str()
            .ok_or("EventBridge S3 event without detail.object.key")?;
        let key = decode_key(raw).map_err(|err| format!("object key {raw:?}: {err}"))?;
        return Ok(vec![ObjectEvent {
            created,
            bucket: e.detail["bucket"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            key,
            size: e.detail["object"]["size"].as_i64(),
            etag: e.detail["object"]["etag"].as_str().map(str::to_string),
            time: e.time.unwrap_or_else(Utc::now),
        }]);
    }
    let keys = payload
        .as_object()
        .map(|m| m.keys().cloned().collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    Err(format!(
        "payload is neither an S3 event (`Records`), an EventBridge S3 event (`detail-type`) nor an ops command (`command`); keys seen: {keys}"
    ))
}

impl CheckpointsService {
    pub async fn handle(
        &self,
        payload: Value,
        now: DateTime<Utc>,
        metrics: &mut Metrics,
    ) -> Result<Value, CheckpointsError> {
        if let Some(cmd) = parse_command(&payload) {
            let cmd = cmd.map_err(CheckpointsError::BadCommand)?;
            return self.command(cmd, now).await;
        }
        let events = parse_events(&payload).map_err(CheckpointsError::Input)?;
        let mut outcomes = Vec::with_capacity(events.len());
        for e in &events {
            let o = if e.bucket != self.bucket.name() {
                Outcome {
                    key: e.key.clone(),
                    action: "ignored",
                    detail: Some(format!("bucket {} is not {}", e.bucket, self.bucket.name())),
                }
            } else if e.created {
                self.created(e).await?
            } else {
                self.removed(e).await?
            };
            metrics.count_by("ObjectEvents", "action", o.action, 1);
            tracing::info!(key = %o.key, action = o.action, detail = o.detail.as_deref().unwrap_or(""), "object event");
            outcomes.push(o);
        }
        Ok(json!({ "outcomes": outcomes }))
    }

    async fn rescan(&self, job: Option<&str>) -> Result<Value, CheckpointsError> {
        let locations = &self.config.locations;
        let checkpoint_scope = match job {
            Some(j) => format!("{}{j}/", locations.checkpoint_prefix),
            None => locations.checkpoint_prefix.clone(),
        };
        let mut listed = self.bucket.list_objects(&checkpoint_scope).await?;
        if locations.savepoint_prefix != locations.checkpoint_prefix {
            listed.extend(
                self.bucket
                    .list_objects(&locations.savepoint_prefix)
                    .await?,
            );
        }
        let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
        let mut found = Vec::new();
        for o in listed.into_iter().filter(|o| o.key.ends_with("/_metadata")) {
            let event = ObjectEvent {
                created: true,
                bucket: self.bucket.name().to_string(),
                key: o.key,
                size: Some(o.size),
                etag: o.etag,
                time: o.last_modified,
            };
            let outcome = self.created(&event).await?;
            *counts.entry(outcome.action).or_default() += 1;
            if outcome.action != "already_recorded" && outcome.action != "ignored" {
                found.push(outcome);
            }
        }
        tracing::info!(?counts, "rescan done");
        Ok(
            json!({ "scanned": counts.values().sum::<usize>(), "counts": counts, "recorded": found }),
        )
    }

    /// The book key (job id, sort key) of a checkpoint's or savepoint's `_metadata`.
    async fn point_key(
        &self,
        object: FlinkObject,
    ) -> Result<Option<(String, String)>, AwsCallError> {
        Ok(match object {
            FlinkObject::Checkpoint {
                job_id,
                checkpoint_id,
                dir,
            } => Some((
                job_id,
                point_sk(PointKind::Checkpoint, Some(checkpoint_id), &dir),
            )),
            FlinkObject::Savepoint {
                job_prefix, dir, ..
            } => {
                let job = self
                    .savepoint_job(&job_prefix)
                    .await?
                    .unwrap_or_else(|| format!("unresolved-{job_prefix}"));
                Some((job, point_sk(PointKind::Savepoint, None, &dir)))
            }
            _ => None,
        })
    }

    /// The job a savepoint directory belongs to: the one registered job with that id prefix.
    async fn savepoint_job(&self, job_prefix: &str) -> Result<Option<String>, AwsCallError> {
        let jobs = self.book.jobs_with_prefix(job_prefix).await?;
        Ok(if jobs.len() == 1 {
            jobs.into_iter().next()
        } else {
            None
        })
    }

    async fn created(&self, e: &ObjectEvent) -> Result<Outcome, AwsCallError> {
        let (kind, job_id, checkpoint_id, dir) = match self.config.locations.classify(&e.key) {
            FlinkObject::Checkpoint {
                job_id,
                checkpoint_id,
                dir,
            } => {
                self.book.index_job(&job_id).await?;
                (PointKind::Checkpoint, job_id, Some(checkpoint_id), dir)
            }
            FlinkObject::Savepoint {
                job_prefix, dir, ..
            } => {
                let job = self
                    .savepoint_job(&job_prefix)
                    .await?
                    .unwrap_or_else(|| format!("unresolved-{job_prefix}"));
                (PointKind::Savepoint, job, None, dir)
            }
            FlinkObject::CheckpointFile { .. } => {
                return Ok(Outcome {
                    key: e.key.clone(),
                    action: "ignored",
                    detail: Some("state_file".into()),
                });
            }
            FlinkObject::Ignored(r) => {
                return Ok(Outcome {
                    key: e.key.clone(),
                    action: "ignored",
                    detail: Some(r.as_str().into()),
                });
            }
        };
        let size = e.size.unwrap_or(-1);
        let head = if size == 0 {
            Vec::new()
        } else {
            self.bucket.head_bytes(&e.key).await?
        };
        let (status, header_id, detail) =
            match check_header(if size < 0 { head.len() as i64 } else { size }, &head) {
                MetadataVerdict::Valid { checkpoint_id, .. } => {
                    (PointStatus::Restorable, checkpoint_id, None)
                }
                MetadataVerdict::Empty => (
                    PointStatus::Corrupt,
                    None,
                    Some("zero-byte _metadata".to_string()),
                ),
                MetadataVerdict::BadMagic(m) => (
                    PointStatus::Corrupt,
                    None,
                    Some(format!("not Flink metadata (magic {m:#010x})")),
                ),
                MetadataVerdict::TooShort(n) => (
                    PointStatus::Corrupt,
                    None,
                    Some(format!("_metadata is only {n} bytes")),
                ),
            };
        let pipeline = self
            .book
            .pipeline_of(&job_id)
            .await?
            .unwrap_or_else(|| job_id.clone());
        let mut record = CheckpointRecord {
            pipeline: pipeline.clone(),
            job_id: job_id.clone(),
            kind,
            checkpoint_id: checkpoint_id.or(header_id),
            location: format!("s3://{}/{}", self.bucket.name(), dir),
            dir,
            size: size.max(head.len() as i64),
            completed_at: e.time,
            etag: e.etag.clone(),
            status,
            pinned: false,
            detail: detail.clone(),
        };
        let first = self.book.record(&record).await? == WriteOutcome::Written;
        if !first {
            // Known point: the book's first sighting is the truth (a rescan sees LastModified,
            // an event its event time; a pruned or subsumed point must not come back as latest).
            let sk = point_sk(record.kind, record.checkpoint_id, &record.dir);
            if let Some(stored) = self.book.point(&job_id, &sk).await? {
                record.completed_at = stored.completed_at;
                if stored.status != PointStatus::Restorable {
                    return Ok(Outcome {
                        key: e.key.clone(),
                        action: "already_recorded",
                        detail: stored.detail,
                    });
                }
            }
        }
        if status != PointStatus::Restorable {
            return Ok(Outcome {
                key: e.key.clone(),
                action: if first { "corrupt" } else { "already_recorded" },
                detail,
            });
        }
        // Also on a redelivery: if the first delivery died between the two writes, this one
        // completes it; `put_if_newer` makes a repeat a no-op.
        let job_moved =
            self.book.advance_latest(job_pk(&job_id), &record).await? == WriteOutcome::Written;
        let pipeline_moved = self
            .book
            .advance_latest(pipeline_pk(&pipeline), &record)
            .await?
            == WriteOutcome::Written;
        let action = match (first, job_moved || pipeline_moved) {
            (true, true) => "recorded_latest",
            (true, false) => "recorded",
            (false, true) => "latest_repaired",
            (false, false) => "already_recorded",
        };
        Ok(Outcome {
            key: e.key.clone(),
            action,
            detail: Some(record.location),
        })
    }

    async fn removed(&self, e: &ObjectEvent) -> Result<Outcome, AwsCallError> {
        let Some((job, sk)) = self
            .point_key(self.config.locations.classify(&e.key))
            .await?
        else {
            return Ok(Outcome {
                key: e.key.clone(),
                action: "ignored",
                detail: Some("not a _metadata object".into()),
            });
        };
        let changed = self
            .book
            .set_status(&job, &sk, PointStatus::Restorable, PointStatus::Subsumed)
            .await?;
        Ok(Outcome {
            key: e.key.clone(),
            action: if changed { "subsumed" } else { "unchanged" },
            detail: Some(format!("{job} {sk}")),
        })
    }

    async fn command(
        &self,
        cmd: CheckpointsCommand,
        now: DateTime<Utc>,
    ) -> Result<Value, CheckpointsError> {
        match cmd {
            CheckpointsCommand::Latest {
                pipeline,
                job_id,
                prefer,
            } => {
                let scope = scope(&pipeline, &job_id).map_err(CheckpointsError::BadCommand)?;
                let best = self.latest(&scope, prefer.map(|p| p.kind())).await?;
                Ok(match best {
                    Some(p) => json!({
                        "location": p.location, "kind": p.kind, "job_id": p.job_id, "pipeline": p.pipeline,
                        "checkpoint_id": p.checkpoint_id, "completed_at": p.completed_at,
                        "age_seconds": (now - p.completed_at).num_seconds(),
                    }),
                    None => {
                        json!({ "location": null, "message": "no restorable point in the book" })
                    }
                })
            }
            CheckpointsCommand::List {
                pipeline,
                job_id,
                limit,
            } => {
                let scope = scope(&pipeline, &job_id).map_err(CheckpointsError::BadCommand)?;
                let mut points = self.points(&scope).await?;
                points.sort_by_key(|p| std::cmp::Reverse(p.order()));
                points.truncate(limit);
                Ok(json!({ "points": points }))
            }
            CheckpointsCommand::RegisterJob {
                pipeline,
                job_id,
                restored_from,
                restore_mode,
            } => {
                if job_id.len() != 32 || !job_id.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(CheckpointsError::BadCommand(format!(
                        "job_id {job_id:?} is not a Flink job id (32 hex digits)"
                    )));
                }
                let lineage = JobLineage {
                    pipeline,
                    job_id,
                    restored_from,
                    restore_mode,
                    registered_at: now,
                };
                self.book.register_job(&lineage).await?;
                Ok(json!({ "registered": lineage }))
            }
            CheckpointsCommand::Pin { location } => self.pin(&location, true).await,
            CheckpointsCommand::Unpin { location } => self.pin(&location, false).await,
            CheckpointsCommand::Rescan { job_id } => self.rescan(job_id.as_deref()).await,
            CheckpointsCommand::Verify {
                job_id,
                flink_rest_url,
            } => self.verify(&job_id, flink_rest_url).await,
            CheckpointsCommand::Prune {
                pipeline,
                job_id,
                dry_run,
            } => {
                let scope = scope(&pipeline, &job_id).map_err(CheckpointsError::BadCommand)?;
                self.prune(&scope, dry_run, now).await
            }
        }
    }

    async fn verify(&self, job: &str, url: Option<String>) -> Result<Value, CheckpointsError> {
        let url = url
            .or_else(|| self.config.flink_rest_url.clone())
            .ok_or_else(|| {
                CheckpointsError::BadCommand(
                    "no Flink REST endpoint: set CHECKPOINTS_FLINK_REST_URL or pass flink_rest_url"
                        .into(),
                )
            })?;
        let stats = flink_rest::get_json(&url, &format!("/jobs/{job}/checkpoints"))
            .await
            .map_err(CheckpointsError::Flink)?;
        let flink = flink_rest::flink_view(&stats);
        let scope = Scope::Job(job.to_string());
        let cp = self.latest(&scope, Some(PointKind::Checkpoint)).await?;
        let sp = self.latest(&scope, Some(PointKind::Savepoint)).await?;
        let cp_anchor = &self.config.locations.checkpoint_prefix;
        let sp_anchor = &self.config.locations.savepoint_prefix;
        let mut differences = Vec::new();
        if flink.latest_completed_id != cp.as_ref().and_then(|p| p.checkpoint_id) {
            differences.push(format!(
                "latest completed checkpoint: Flink {:?}, book {:?}",
                flink.latest_completed_id,
                cp.as_ref().and_then(|p| p.checkpoint_id)
            ));
        }
        let rel =
            |p: Option<&str>, anchor: &str| p.and_then(|p| flink_rest::relative_to(p, anchor));
        if rel(flink.latest_completed_path.as_deref(), cp_anchor)
            != rel(cp.as_ref().map(|p| p.location.as_str()), cp_anchor)
        {
            differences.push("latest completed checkpoint path differs".into());
        }
        if flink.latest_savepoint_id.is_some()
            && rel(flink.latest_savepoint_path.as_deref(), sp_anchor)
                != rel(sp.as_ref().map(|p| p.location.as_str()), sp_anchor)
        {
            differences.push("latest savepoint path differs".into());
        }
        Ok(json!({
            "job_id": job,
            "in_sync": differences.is_empty(),
            "differences": differences,
            "flink": flink,
            "book": {
                "checkpoint_id": cp.as_ref().and_then(|p| p.checkpoint_id),
                "checkpoint_location": cp.as_ref().map(|p| p.location.clone()),
                "savepoint_id": sp.as_ref().and_then(|p| p.checkpoint_id),
                "savepoint_location": sp.as_ref().map(|p| p.location.clone()),
            },
        }))
    }

    async fn jobs(&self, scope: &Scope) -> Result<(String, Vec<JobLineage>), AwsCallError> {
        match scope {
            Scope::Job(j) => {
                let pipeline = self.book.pipeline_of(j).await?.unwrap_or_else(|| j.clone());
                Ok((pipeline, Vec::new()))
            }
            Scope::Pipeline(p) => Ok((p.clone(), self.book.lineage(p).await?)),
        }
    }

    async fn points(&self, scope: &Scope) -> Result<Vec<CheckpointRecord>, AwsCallError> {
        let job_ids: Vec<String> = match scope {
            Scope::Job(j) => vec![j.clone()],
            Scope::Pipeline(p) => {
                let mut ids: Vec<String> = self
                    .book
                    .lineage(p)
                    .await?
                    .into_iter()
                    .map(|j| j.job_id)
                    .collect();
                if ids.is_empty() {
                    ids.push(p.clone()); // an unregistered job is its own pipeline
                }
                ids
            }
        };
        let mut out = Vec::new();
        for j in job_ids {
            out.extend(self.book.points(&j).await?);
        }
        Ok(out)
    }

    /// The pointer when it still names a restorable point of the wanted kind; otherwise the
    /// newest restorable point in the history (e.g. after the pointed-to directory was removed).
    async fn latest(
        &self,
        scope: &Scope,
        kind: Option<PointKind>,
    ) -> Result<Option<CheckpointRecord>, AwsCallError> {
        if kind.is_none() {
            let pk = match scope {
                Scope::Job(j) => job_pk(j),
                Scope::Pipeline(p) => pipeline_pk(p),
            };
            if let Some((_, job, sk)) = self.book.latest(pk).await?
                && let Some(p) = self.book.point(&job, &sk).await?
                && p.status == PointStatus::Restorable
            {
                return Ok(Some(p));
            }
        }
        Ok(self
            .points(scope)
            .await?
            .into_iter()
            .filter(|p| p.status == PointStatus::Restorable && kind.is_none_or(|k| p.kind == k))
            .max_by_key(CheckpointRecord::order))
    }

    async fn pin(&self, location: &str, pinned: bool) -> Result<Value, CheckpointsError> {
        let prefix = format!("s3://{}/", self.bucket.name());
        let dir = location.strip_prefix(&prefix).ok_or_else(|| {
            CheckpointsError::BadCommand(format!("location {location:?} is not in {prefix}"))
        })?;
        let dir = if dir.ends_with('/') {
            dir.to_string()
        } else {
            format!("{dir}/")
        };
        let Some((job, sk)) = self
            .point_key(self.config.locations.classify(&format!("{dir}_metadata")))
            .await?
        else {
            return Err(CheckpointsError::BadCommand(format!(
                "{location:?} is not a checkpoint or savepoint directory"
            )));
        };
        if !self.book.set_pinned(&job, &sk, pinned).await? {
            return Err(CheckpointsError::BadCommand(format!(
                "{location:?} is not in the book"
            )));
        }
        Ok(json!({ "location": format!("{prefix}{dir}"), "pinned": pinned }))
    }

    async fn prune(
        &self,
        scope: &Scope,
        dry_run: bool,
        now: DateTime<Utc>,
    ) -> Result<Value, CheckpointsError> {
        let (pipeline, lineage) = self.jobs(scope).await?;
        let points = self.points(scope).await?;
        let mut latest = HashSet::new();
        let mut jobs: Vec<String> = points.iter().map(|p| p.job_id.clone()).collect();
        jobs.sort();
        jobs.dedup();
        for j in &jobs {
            if let Some((loc, ..)) = self.book.latest(job_pk(j)).await? {
                latest.insert(loc);
            }
        }
        if let Some((loc, ..)) = self.book.latest(pipeline_pk(&pipeline)).await? {
            latest.insert(loc);
        }
        let policy = self.config.retention.for_pipeline(&pipeline).clone();
        let decisions = plan_retention(&points, &lineage, &latest, &policy, now);

        // Orphans: chk-N directories with files but no _metadata, older than the newest completed.
        let mut orphans = Vec::new();
        for j in jobs.iter().filter(|j| j.len() == 32) {
            let mut dirs: BTreeMap<u64, String> = BTreeMap::new();
            let mut completed: HashSet<u64> = HashSet::new();
            for key in self
                .bucket
                .list(&format!("{}{j}/", self.config.locations.checkpoint_prefix))
                .await?
            {
                match self.config.locations.classify(&key) {
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

        let mut deleted_objects = 0usize;
        if !dry_run {
            for d in decisions.iter().filter(|d| d.prune) {
                let p = points
                    .iter()
                    .find(|p| p.location == d.location)
                    .expect("decisions come from points");
                deleted_objects += self.bucket.delete_dir(&p.dir).await?;
                self.book
                    .set_status(
                        &p.job_id,
                        &point_sk(p.kind, p.checkpoint_id, &p.dir),
                        p.status,
                        PointStatus::Pruned,
                    )
                    .await?;
                tracing::info!(location = %p.location, "pruned");
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
            "orphaned_directories": orphans.iter().map(|(id, dir)| json!({"checkpoint_id": id, "dir": dir})).collect::<Vec<_>>(),
            "decisions": decisions,
            "deleted_objects": deleted_objects,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_eventbridge_and_unknown_payloads() {
        let s3 = json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-11-24T10:00:00.000Z", "eventName": "ObjectCreated:Put",
            "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "b", "arn": "arn:aws:s3:::b"},
                   "object": {"key": "flink/savepoints/savepoint-a1b2c3-0123456789ab/my+dir%3Dx/_metadata", "size": 10, "eTag": "e"}}}]});
        let e = parse_events(&s3).unwrap();
        assert_eq!(
            e[0].key,
            "flink/savepoints/savepoint-a1b2c3-0123456789ab/my dir=x/_metadata"
        );
        assert!(e[0].created);
        let eb = json!({"version": "0", "id": "1", "detail-type": "Object Deleted", "source": "aws.s3", "account": "1",
            "time": "2026-11-24T10:00:00Z", "region": "us-east-1", "resources": [],
            "detail": {"bucket": {"name": "b"}, "object": {"key": "k", "size": 3}}});
        assert!(!parse_events(&eb).unwrap()[0].created);
        assert!(
            parse_events(&json!({"hello": 1}))
                .unwrap_err()
                .contains("hello")
        );
    }
}
