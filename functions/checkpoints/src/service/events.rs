//! Object events into the book: a `_metadata` created records its point (restorable or corrupt)
//! and moves the latest pointers forward; a `_metadata` removed marks its point subsumed. `rescan`
//! records what events never told, both ways: points the book misses, and points whose
//! `_metadata` is gone though no removal event said so.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use streamops_shared::AwsCallError;
use streamops_shared::dynamo::WriteOutcome;
use streamops_shared::object_event::{Change, Item, Skip};

use super::outcome::{Action, Outcome};
use super::{CheckpointsError, CheckpointsService};
use crate::book::{CheckpointRecord, PointId, PointStatus, Scope};
use crate::layout::{FlinkObject, MetadataVerdict, PointKind, check_header, is_job_id};
use crate::ports::{BookStore, CheckpointObjects, FlinkRest, ListedObject};

/// How much older than the invocation a point must be for a rescan to take its missing
/// `_metadata` for gone: completion times are whole seconds (S3 event and LastModified
/// times), and clocks differ a little.
const VANISHED_MARGIN_SECONDS: i64 = 5;

/// A `_metadata` seen, by an event or a listing.
pub(super) struct Sighting {
    pub key: String,
    pub size: Option<i64>,
    pub etag: Option<String>,
    pub time: DateTime<Utc>,
}

/// Where a `_metadata` belongs.
struct Located {
    kind: PointKind,
    job_id: String,
    checkpoint_id: Option<u64>,
    dir: String,
}

/// What the first bytes of a `_metadata` say.
struct Header {
    status: PointStatus,
    checkpoint_id: Option<u64>,
    detail: Option<String>,
    size: i64,
}

impl<B: BookStore, O: CheckpointObjects, F: FlinkRest, N> CheckpointsService<B, O, F, N> {
    pub(super) async fn object_event(&self, item: Item) -> Result<Outcome, AwsCallError> {
        let e = match item {
            Item::Object(e) => e,
            Item::Skipped(Skip::UndecodableKey { raw_key, error, .. }) => {
                return Ok(Outcome::ignored(
                    &raw_key,
                    &format!("undecodable_key: {error}"),
                ));
            }
            Item::Skipped(skip) => return Ok(Outcome::ignored("", skip.as_str())),
        };
        if e.bucket != self.bucket.name() {
            let why = format!("bucket {} is not {}", e.bucket, self.bucket.name());
            return Ok(Outcome::ignored(&e.key, &why));
        }
        match e.change {
            Change::Created => {
                self.created(&Sighting {
                    key: e.key,
                    size: e.size,
                    etag: e.etag,
                    time: e.event_time,
                })
                .await
            }
            Change::Removed => self.removed(&e.key).await,
        }
    }

    pub(super) async fn created(&self, s: &Sighting) -> Result<Outcome, AwsCallError> {
        let found = match self.locate(&s.key).await? {
            Ok(found) => found,
            Err(ignored) => return Ok(ignored),
        };
        let Some(header) = self.read_header(s).await? else {
            // Deleted before this event was handled (a late or reordered delivery): there is
            // nothing to restore from, and its removal event tells the book (or told it).
            return Ok(Outcome::ignored(&s.key, "object_gone"));
        };
        let pipeline = self
            .book
            .pipeline_of(&found.job_id)
            .await?
            .unwrap_or_else(|| found.job_id.clone());
        let mut record = CheckpointRecord {
            pipeline,
            job_id: found.job_id,
            kind: found.kind,
            checkpoint_id: found.checkpoint_id.or(header.checkpoint_id),
            location: format!("s3://{}/{}", self.bucket.name(), found.dir),
            dir: found.dir,
            size: header.size,
            completed_at: s.time,
            etag: s.etag.clone(),
            status: header.status,
            pinned: false,
            detail: header.detail,
            trigger: None,
        };
        if record.kind == PointKind::Savepoint {
            // Taken by the `savepoint` command: its trigger, whether the command or this
            // object's event books the point first.
            record.trigger = self.book.trigger_of(&record.dir).await?;
        }
        let first = self.book.record(&record).await? == WriteOutcome::Written;
        if !first {
            // Known point: the book's first sighting is the truth (a rescan sees LastModified,
            // an event its event time; a pruned or subsumed point must not come back as latest).
            if let Some(stored) = self.book.point(&record.id()).await? {
                if let (None, Some(t)) = (&stored.trigger, &record.trigger) {
                    self.book.set_trigger(&record.id(), t).await?;
                }
                record.completed_at = stored.completed_at;
                if stored.status != PointStatus::Restorable {
                    return Ok(Outcome::new(&s.key, Action::AlreadyRecorded, stored.detail));
                }
            }
        }
        if record.status != PointStatus::Restorable {
            let action = if first {
                Action::Corrupt
            } else {
                Action::AlreadyRecorded
            };
            return Ok(Outcome::new(&s.key, action, record.detail));
        }
        let (job_moved, pipeline_moved) = self.advance_pointers(&record).await?;
        let action = match (first, job_moved || pipeline_moved) {
            (true, true) => Action::RecordedLatest,
            (true, false) => Action::Recorded,
            (false, true) => Action::LatestRepaired,
            (false, false) => Action::AlreadyRecorded,
        };
        let mut outcome = Outcome::new(&s.key, action, Some(record.location));
        outcome.advanced_pipeline = pipeline_moved.then_some(record.pipeline);
        Ok(outcome)
    }

    /// The point a key is the `_metadata` of, or the outcome saying why it is ignored.
    async fn locate(&self, key: &str) -> Result<Result<Located, Outcome>, AwsCallError> {
        Ok(Ok(match self.config.locations.classify(key) {
            FlinkObject::Checkpoint {
                job_id,
                checkpoint_id,
                dir,
            } => {
                self.book.index_job(&job_id).await?;
                Located {
                    kind: PointKind::Checkpoint,
                    job_id,
                    checkpoint_id: Some(checkpoint_id),
                    dir,
                }
            }
            FlinkObject::Savepoint {
                job_prefix, dir, ..
            } => Located {
                kind: PointKind::Savepoint,
                job_id: self.savepoint_job(&job_prefix).await?,
                checkpoint_id: None,
                dir,
            },
            FlinkObject::CheckpointFile { .. } => {
                return Ok(Err(Outcome::ignored(key, "state_file")));
            }
            FlinkObject::Ignored(r) => return Ok(Err(Outcome::ignored(key, r.as_str()))),
        }))
    }

    /// Reads the first bytes (unless the event says the object is empty) and judges them;
    /// `None` when the object is gone.
    async fn read_header(&self, s: &Sighting) -> Result<Option<Header>, AwsCallError> {
        let size = s.size.unwrap_or(-1);
        let head = if size == 0 {
            Vec::new()
        } else {
            match self.bucket.head_bytes(&s.key).await? {
                Some(head) => head,
                None => return Ok(None),
            }
        };
        let known = if size < 0 { head.len() as i64 } else { size };
        let (status, checkpoint_id, detail) = match check_header(known, &head) {
            MetadataVerdict::Valid { checkpoint_id, .. } => {
                (PointStatus::Restorable, checkpoint_id, None)
            }
            MetadataVerdict::Empty => (
                PointStatus::Corrupt,
                None,
                Some("zero-byte _metadata".into()),
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
        Ok(Some(Header {
            status,
            checkpoint_id,
            detail,
            size: size.max(head.len() as i64),
        }))
    }

    /// Moves the job's and the pipeline's latest pointers to `record` where it is newer. Also on
    /// a redelivery: if the first delivery died between the writes, this one completes it;
    /// `put_if_newer` makes a repeat a no-op. Whether the job's and whether the pipeline's
    /// pointer moved.
    async fn advance_pointers(
        &self,
        record: &CheckpointRecord,
    ) -> Result<(bool, bool), AwsCallError> {
        let job = Scope::Job(record.job_id.clone());
        let pipeline = Scope::Pipeline(record.pipeline.clone());
        let job_moved = self.book.advance_latest(&job, record).await? == WriteOutcome::Written;
        let pipeline_moved =
            self.book.advance_latest(&pipeline, record).await? == WriteOutcome::Written;
        Ok((job_moved, pipeline_moved))
    }

    async fn removed(&self, key: &str) -> Result<Outcome, AwsCallError> {
        let object = self.config.locations.classify(key);
        let Some(id) = self.point_of(object).await? else {
            return Ok(Outcome::ignored(key, "not a _metadata object"));
        };
        let changed = self
            .book
            .set_status(&id, PointStatus::Restorable, PointStatus::Subsumed)
            .await?;
        let action = if changed {
            Action::Subsumed
        } else {
            Action::Unchanged
        };
        Ok(Outcome::new(key, action, Some(id.to_string())))
    }

    /// The book id of a checkpoint's or savepoint's `_metadata`.
    pub(super) async fn point_of(
        &self,
        object: FlinkObject,
    ) -> Result<Option<PointId>, AwsCallError> {
        Ok(match object {
            FlinkObject::Checkpoint {
                job_id,
                checkpoint_id,
                dir,
            } => Some(PointId::new(
                &job_id,
                PointKind::Checkpoint,
                Some(checkpoint_id),
                &dir,
            )),
            FlinkObject::Savepoint {
                job_prefix, dir, ..
            } => {
                let job = self.savepoint_job(&job_prefix).await?;
                Some(PointId::new(&job, PointKind::Savepoint, None, &dir))
            }
            _ => None,
        })
    }

    /// The job a savepoint directory belongs to: the one registered job with that id prefix
    /// (`unresolved-<prefix>` when there is none, or more than one).
    async fn savepoint_job(&self, job_prefix: &str) -> Result<String, AwsCallError> {
        let mut jobs = self.book.jobs_with_prefix(job_prefix).await?;
        Ok(match (jobs.pop(), jobs.is_empty()) {
            (Some(job), true) => job,
            _ => format!("unresolved-{job_prefix}"),
        })
    }

    /// Books under `job` the savepoints booked under `unresolved-<its prefix>` (their events
    /// came before the job was registered, or raced its registration), once `job` is the one
    /// registered job with that prefix: recorded under it (pointers moved as by their event),
    /// then the unresolved entry forgotten. Returns how many moved.
    pub(super) async fn adopt_unresolved(&self, job: &str) -> Result<usize, AwsCallError> {
        let Some(prefix) = job.get(..6).filter(|_| is_job_id(job)) else {
            return Ok(0);
        };
        let orphans = self.book.points(&format!("unresolved-{prefix}")).await?;
        if orphans.is_empty() || self.savepoint_job(prefix).await? != job {
            return Ok(0);
        }
        let pipeline = self
            .book
            .pipeline_of(job)
            .await?
            .unwrap_or_else(|| job.to_string());
        for orphan in &orphans {
            let mut record = orphan.clone();
            record.job_id = job.to_string();
            record.pipeline = pipeline.clone();
            // Already booked under the job (a rescan saw it): the job's entry stands.
            self.book.record(&record).await?;
            if record.status == PointStatus::Restorable {
                self.advance_pointers(&record).await?;
            }
            self.book.forget(&orphan.id()).await?;
            tracing::info!(location = %record.location, job, "savepoint adopted by its job");
        }
        Ok(orphans.len())
    }

    /// Lists the checkpoint (one job's, or all) and savepoint prefixes, records every
    /// `_metadata` the book misses (known points change nothing), and marks subsumed the
    /// restorable points of the listed jobs whose `_metadata` is no longer there.
    pub(super) async fn rescan(
        &self,
        job: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Value, CheckpointsError> {
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
        let present: HashSet<String> = listed.iter().map(|o| o.key.clone()).collect();
        let jobs = self.listed_jobs(job, &listed).await?;
        let mut counts: BTreeMap<Action, usize> = BTreeMap::new();
        let mut found = Vec::new();
        for o in listed.into_iter().filter(|o| o.key.ends_with("/_metadata")) {
            let sighting = Sighting {
                key: o.key,
                size: Some(o.size),
                etag: o.etag,
                time: o.last_modified,
            };
            let outcome = self.created(&sighting).await?;
            *counts.entry(outcome.action).or_default() += 1;
            if !matches!(outcome.action, Action::AlreadyRecorded | Action::Ignored) {
                found.push(outcome);
            }
        }
        let vanished = self.mark_vanished(&jobs, &present, now).await?;
        let mut adopted = 0;
        for j in &jobs {
            adopted += self.adopt_unresolved(j).await?;
        }
        tracing::info!(?counts, vanished = vanished.len(), adopted, "rescan done");
        Ok(json!({
            "scanned": counts.values().sum::<usize>(), "counts": counts, "recorded": found,
            "subsumed": vanished, "adopted": adopted,
        }))
    }

    /// The jobs a rescan answers for: the one asked, or every job with objects under the
    /// checkpoint prefix (Flink keeps `shared/` and the retained `chk-<n>/` while a job has
    /// state) or a savepoint in the listing.
    async fn listed_jobs(
        &self,
        job: Option<&str>,
        listed: &[ListedObject],
    ) -> Result<BTreeSet<String>, AwsCallError> {
        if let Some(j) = job {
            return Ok(BTreeSet::from([j.to_string()]));
        }
        let locations = &self.config.locations;
        let mut jobs = BTreeSet::new();
        let mut prefixes = BTreeSet::new();
        for o in listed {
            if let Some(rest) = o.key.strip_prefix(locations.checkpoint_prefix.as_str())
                && let Some(j) = rest.split('/').next().filter(|j| is_job_id(j))
            {
                jobs.insert(j.to_string());
            }
            if let FlinkObject::Savepoint { job_prefix, .. } = locations.classify(&o.key) {
                prefixes.insert(job_prefix);
            }
        }
        for p in prefixes {
            jobs.insert(self.savepoint_job(&p).await?);
        }
        Ok(jobs)
    }

    /// Marks subsumed the restorable points of `jobs` whose `_metadata` is not in the listing
    /// (their removal event was lost). Only points completed well before the invocation began,
    /// hence before the listing: one whose object appeared after it is not taken for gone.
    async fn mark_vanished(
        &self,
        jobs: &BTreeSet<String>,
        present: &HashSet<String>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, AwsCallError> {
        let listed_after = now - Duration::seconds(VANISHED_MARGIN_SECONDS);
        let mut vanished = Vec::new();
        for j in jobs {
            for p in self.book.points(j).await? {
                let gone = p.status == PointStatus::Restorable
                    && p.completed_at < listed_after
                    && !present.contains(&format!("{}_metadata", p.dir));
                if gone
                    && self
                        .book
                        .set_status(&p.id(), PointStatus::Restorable, PointStatus::Subsumed)
                        .await?
                {
                    tracing::info!(location = %p.location, "no _metadata in the bucket: subsumed");
                    vanished.push(p.location);
                }
            }
        }
        Ok(vanished)
    }
}
