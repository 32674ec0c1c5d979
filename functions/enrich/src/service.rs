//! The handler: classify the payload, run records through the pipeline, quarantine poison, write
//! the enriched records, keep the ledger, and answer Lambda with exactly the records that must
//! be retried.
//!
//! Every input record ends in exactly one place: the enriched stream (`delivered`), the
//! quarantine (`quarantined`), or the failure list returned to Lambda (`failed`); `skipped`
//! records are ones a previous attempt already delivered or quarantined (see `ledger`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use aws_lambda_events::streams::KinesisEventResponse;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use streamops_shared::ErrorClass;
use streamops_shared::harness::Classified;
use streamops_shared::{AwsCallError, Metrics, Unit};
use tokio::time::Instant;

use crate::config::{EnrichConfig, MskFailureMode};
use crate::emit::EnrichedStream;
use crate::input::{InputRecord, Invocation, StreamBatch, parse_invocation};
use crate::ledger::{LaneAttempt, LaneLedger, LedgerStore};
use crate::ops::{EnrichCommand, dry_run_records, parse_command};
use crate::origin::{Poison, PoisonReason, SourceKind, cmp_position, is_position};
use crate::pipeline::{BatchContext, EnrichedRecord, Enricher, Lookup, Prepared, Stage};
use crate::quarantine::{
    QuarantineEntry, QuarantineStore, object_key, parse_ndjson, render_ndjson,
};
use crate::reference::{ReferenceCache, ReferenceTable};

#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    BadCommand(String),
    #[error("{0}")]
    Aws(#[from] AwsCallError),
    /// MSK in fail-batch mode: Lambda must retry the batch; the ledger skips what was done.
    #[error(
        "{failed} of {total} records could not be written (first: {first}); failing the batch so Lambda retries it"
    )]
    BatchIncomplete {
        failed: usize,
        total: usize,
        first: String,
    },
    #[error(
        "{0} record(s) failed and cannot be reported individually (no valid position); failing the batch"
    )]
    Unreportable(usize),
}

impl Classified for EnrichError {
    fn class(&self) -> ErrorClass {
        match self {
            EnrichError::Aws(e) => e.class,
            EnrichError::Input(_) | EnrichError::BadCommand(_) => ErrorClass::Permanent,
            // The whole batch again: the ledger skips what was delivered.
            EnrichError::BatchIncomplete { .. } | EnrichError::Unreportable(_) => {
                ErrorClass::Retryable
            }
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            EnrichError::Aws(_) => "AwsCall",
            EnrichError::Input(_) => "BadInput",
            EnrichError::BadCommand(_) => "BadCommand",
            EnrichError::BatchIncomplete { .. } => "BatchIncomplete",
            EnrichError::Unreportable(_) => "UnreportableFailures",
        }
    }
}

/// Records run through the pipeline together (one reference fetch per chunk).
pub const PIPELINE_CHUNK: usize = 256;

/// Per-invocation facts from the runtime.
pub struct InvocationContext {
    pub request_id: String,
    pub now: DateTime<Utc>,
    /// When retries must stop (the invocation deadline minus the configured margin).
    pub deadline: Instant,
}

/// Where one record ended up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Disposition {
    Delivered,
    Quarantined {
        reason: PoisonReason,
        message: String,
    },
    Failed {
        code: String,
        message: String,
    },
    Skipped,
}

pub struct EnrichService {
    pub config: EnrichConfig,
    pub enricher: Enricher,
    pub reference: Option<ReferenceTable>,
    pub cache: Mutex<ReferenceCache>,
    pub stream: EnrichedStream,
    pub ledger: LedgerStore,
    pub quarantine: QuarantineStore,
}

#[derive(Debug, Default, Serialize)]
pub struct BatchSummary {
    pub records: usize,
    pub delivered: usize,
    pub quarantined: usize,
    pub failed: usize,
    pub skipped: usize,
    pub quarantine_object: Option<String>,
}

impl BatchSummary {
    fn count(&mut self, d: &Disposition) {
        self.records += 1;
        match d {
            Disposition::Delivered => self.delivered += 1,
            Disposition::Quarantined { .. } => self.quarantined += 1,
            Disposition::Failed { .. } => self.failed += 1,
            Disposition::Skipped => self.skipped += 1,
        }
    }
}

impl EnrichService {
    pub async fn handle(
        &self,
        payload: &str,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Result<Value, EnrichError> {
        match parse_invocation(payload).map_err(|e| EnrichError::Input(e.to_string()))? {
            Invocation::Stream(batch) => self.handle_batch(batch, ctx, metrics).await,
            Invocation::Command(v) => {
                let command = parse_command(&v).map_err(EnrichError::BadCommand)?;
                match command {
                    EnrichCommand::DryRun { records, event } => {
                        let inputs = dry_run_records(&records, event.as_ref())
                            .map_err(EnrichError::BadCommand)?;
                        Ok(self.dry_run(&inputs, ctx, metrics).await)
                    }
                    EnrichCommand::Replay {
                        bucket,
                        key,
                        dry_run,
                    } => self.replay(bucket, &key, dry_run, ctx, metrics).await,
                }
            }
        }
    }

    /// Decode, validate, look up reference data, enrich. `skip` marks records a previous
    /// attempt already handled. No writes.
    pub async fn run_pipeline(
        &self,
        records: &[InputRecord],
        skip: impl Fn(&InputRecord) -> bool,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Vec<Stage> {
        let batch = BatchContext::new(ctx.now);
        let mut stages = Vec::with_capacity(records.len());
        let (mut hits, mut misses) = (0usize, 0usize);
        // In chunks, so only a chunk's parsed JSON trees are alive at once (peak memory stays
        // near input + output size); reference keys are fetched per chunk, through the cache.
        for chunk in records.chunks(PIPELINE_CHUNK) {
            let prepared = self.enricher.prepare_batch(chunk, &skip);
            let (lookup_failure, h, m) = self.load_reference(&prepared, metrics).await;
            hits += h;
            misses += m;
            let cache = self.cache.lock().expect("reference cache lock");
            let now = std::time::Instant::now();
            let unavailable = lookup_failure.unwrap_or_else(|| {
                (
                    "ReferenceLookupFailed".into(),
                    "reference item not loaded".into(),
                )
            });
            stages.extend(self.enricher.finish_batch(
                chunk,
                prepared,
                |key| match cache.get(key, now) {
                    Some(Some(attrs)) => Lookup::Found(attrs),
                    Some(None) => Lookup::Missing,
                    None => Lookup::Unavailable(unavailable.0.clone(), unavailable.1.clone()),
                },
                &batch,
            ));
        }
        if hits + misses > 0 {
            metrics.count("ReferenceCacheHits", hits as u64);
            metrics.count("ReferenceCacheMisses", misses as u64);
            metrics.record(
                "ReferenceCacheHitRate",
                Unit::Percent,
                100.0 * hits as f64 / (hits + misses) as f64,
            );
        }
        stages
    }

    /// Fills the cache for a chunk's reference keys. Returns the error (code, message) when the
    /// lookup failed (records whose key is still not cached are then failed, not guessed), and
    /// the chunk's cache hits and misses counted per record.
    async fn load_reference(
        &self,
        prepared: &[Result<Option<Prepared<'_>>, Poison>],
        metrics: &mut Metrics,
    ) -> (Option<(String, String)>, usize, usize) {
        let Some(table) = self.reference.as_ref() else {
            return (None, 0, 0);
        };
        let keys: Vec<&str> = prepared
            .iter()
            .filter_map(|p| {
                p.as_ref()
                    .ok()
                    .and_then(|p| p.as_ref())
                    .and_then(|p| p.reference_key.as_deref())
            })
            .collect();
        if keys.is_empty() {
            return (None, 0, 0);
        }
        let to_fetch = self
            .cache
            .lock()
            .expect("reference cache lock")
            .keys_to_fetch(keys.iter().copied(), std::time::Instant::now());
        let fetched: std::collections::HashSet<&str> =
            to_fetch.iter().map(String::as_str).collect();
        let misses = keys.iter().filter(|k| fetched.contains(**k)).count();
        let hits = keys.len() - misses;
        if to_fetch.is_empty() {
            return (None, hits, misses);
        }
        match table.fetch(&to_fetch).await {
            Ok(mut found) => {
                let mut cache = self.cache.lock().expect("reference cache lock");
                let now = std::time::Instant::now();
                for key in to_fetch {
                    let value = found.remove(&key);
                    cache.insert(key, value, now);
                }
                (None, hits, misses)
            }
            Err(e) => {
                tracing::error!(table = table.table(), keys = to_fetch.len(), error = %e, "reference lookup failed; records needing it are reported as failed");
                metrics.count("ReferenceLookupErrors", 1);
                (
                    Some((
                        e.code
                            .clone()
                            .unwrap_or_else(|| "ReferenceLookupFailed".into()),
                        e.to_string(),
                    )),
                    hits,
                    misses,
                )
            }
        }
    }

    /// Quarantines poison (one object) and writes the enriched records; returns each record's
    /// disposition and the quarantine object key.
    async fn deliver(
        &self,
        records: &[InputRecord],
        stages: Vec<Stage>,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> (Vec<Disposition>, Option<String>) {
        let mut out: Vec<Option<Disposition>> = vec![None; records.len()];
        let mut poison = Vec::new();
        let mut enriched: Vec<(usize, EnrichedRecord)> = Vec::new();
        for (i, stage) in stages.into_iter().enumerate() {
            match stage {
                Stage::Skipped => out[i] = Some(Disposition::Skipped),
                Stage::Failed { code, message } => {
                    out[i] = Some(Disposition::Failed { code, message })
                }
                Stage::Poison(p) => poison.push((i, p)),
                Stage::Enriched(e) => enriched.push((i, e)),
            }
        }
        let mut quarantine_object = None;
        if !poison.is_empty() {
            let entries: Vec<QuarantineEntry> = poison
                .iter()
                .map(|(i, p)| {
                    QuarantineEntry::new(
                        &records[*i],
                        p,
                        &self.enricher.spec().name,
                        ctx.now,
                        &ctx.request_id,
                    )
                })
                .collect();
            let key = object_key(
                self.quarantine.prefix(),
                &records[poison[0].0].origin,
                ctx.now,
                &ctx.request_id,
            );
            match self.quarantine.put(&key, render_ndjson(&entries)).await {
                Ok(()) => {
                    for (i, p) in &poison {
                        metrics.count_by("RecordsQuarantined", "Reason", p.reason.as_str(), 1);
                        tracing::warn!(
                            stream = %records[*i].origin.stream,
                            shard = %records[*i].origin.shard,
                            position = %records[*i].origin.position,
                            reason = p.reason.as_str(),
                            detail = %p.message,
                            object = %key,
                            "record quarantined"
                        );
                        out[*i] = Some(Disposition::Quarantined {
                            reason: p.reason,
                            message: p.message.clone(),
                        });
                    }
                    quarantine_object = Some(key);
                }
                Err(e) => {
                    tracing::error!(error = %e, records = poison.len(), "quarantine write failed; poison records are reported as failed so they are retried");
                    for (i, _) in &poison {
                        out[*i] = Some(Disposition::Failed {
                            code: e
                                .code
                                .clone()
                                .unwrap_or_else(|| "QuarantineWriteFailed".into()),
                            message: e.to_string(),
                        });
                    }
                }
            }
        }
        if !enriched.is_empty() {
            let refs: Vec<&EnrichedRecord> = enriched.iter().map(|(_, e)| e).collect();
            let report = self.stream.put_all(&refs, ctx.deadline).await;
            metrics.count("PutRecordsCalls", report.calls as u64);
            metrics.count("PutRecordsRetriedEntries", report.retried_entries as u64);
            let failed: HashMap<usize, (String, String)> = report
                .failed
                .into_iter()
                .map(|f| (f.index, (f.code, f.message)))
                .collect();
            for (k, (i, _)) in enriched.iter().enumerate() {
                out[*i] = Some(match failed.get(&k) {
                    None => Disposition::Delivered,
                    Some((code, message)) => Disposition::Failed {
                        code: code.clone(),
                        message: message.clone(),
                    },
                });
            }
        }
        (
            out.into_iter()
                .map(|d| d.expect("every record has a disposition"))
                .collect(),
            quarantine_object,
        )
    }

    async fn handle_batch(
        &self,
        batch: StreamBatch,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Result<Value, EnrichError> {
        let records = batch.records;
        metrics.property("source", batch.source.as_str());
        metrics.count("RecordsIn", records.len() as u64);
        let mut lanes: Vec<String> = records
            .iter()
            .filter(|r| is_position(&r.origin.position))
            .map(|r| r.origin.lane())
            .collect();
        lanes.sort();
        lanes.dedup();
        // Nothing has been written yet: if the ledger cannot be read, failing the whole
        // invocation is safe and Lambda retries it.
        let ledgers = self.ledger.load(&lanes).await?;
        let skip = |r: &InputRecord| {
            is_position(&r.origin.position)
                && ledgers
                    .get(&r.origin.lane())
                    .is_some_and(|l| l.already_handled(&r.origin.position))
        };
        let stages = self.run_pipeline(&records, skip, ctx, metrics).await;
        let (dispositions, quarantine_object) = self.deliver(&records, stages, ctx, metrics).await;

        let mut summary = BatchSummary {
            quarantine_object,
            ..Default::default()
        };
        let mut attempts: BTreeMap<String, LaneAttempt> = BTreeMap::new();
        let mut max_lag_ms: i64 = 0;
        for (r, d) in records.iter().zip(&dispositions) {
            summary.count(d);
            if let Some(arrival) = r.origin.arrival {
                max_lag_ms = max_lag_ms.max((ctx.now - arrival).num_milliseconds());
            }
            if is_position(&r.origin.position) {
                let a = attempts.entry(r.origin.lane()).or_default();
                a.observe(&r.origin.position);
                if matches!(d, Disposition::Failed { .. }) {
                    a.failed.push(r.origin.position.clone());
                }
            }
        }
        let batch_retried = summary.failed > 0;
        for (lane, attempt) in &attempts {
            let previous = ledgers
                .get(lane)
                .cloned()
                .unwrap_or_else(LaneLedger::default);
            if let Some(next) = previous.advance(attempt, batch_retried)
                && let Err(e) = self.ledger.save(lane, &next, ctx.now).await
            {
                // Output is already written; a retry may now repeat some of it (at-least-once,
                // identifiable by `_event_id`). Failing here would not undo anything.
                metrics.count("LedgerWriteErrors", 1);
                tracing::error!(lane = %lane, error = %e, "ledger write failed; a retry of this lane may duplicate records");
            }
        }
        metrics.count("RecordsOut", summary.delivered as u64);
        metrics.count("RecordsFailed", summary.failed as u64);
        metrics.count("RecordsSkipped", summary.skipped as u64);
        if max_lag_ms > 0 {
            metrics.record("LagMs", Unit::Milliseconds, max_lag_ms as f64);
        }
        tracing::info!(
            source = batch.source.as_str(),
            records = summary.records,
            delivered = summary.delivered,
            quarantined = summary.quarantined,
            failed = summary.failed,
            skipped = summary.skipped,
            quarantine_object = summary.quarantine_object.as_deref().unwrap_or(""),
            "batch done"
        );

        for (r, d) in records.iter().zip(&dispositions) {
            if let Disposition::Failed { code, message } = d {
                tracing::warn!(
                    stream = %r.origin.stream,
                    shard = %r.origin.shard,
                    position = %r.origin.position,
                    code = %code,
                    detail = %message,
                    "record not written; reported for retry"
                );
            }
        }
        let mut failed: Vec<(&InputRecord, &Disposition)> = records
            .iter()
            .zip(&dispositions)
            .filter(|(_, d)| matches!(d, Disposition::Failed { .. }))
            .collect();
        let unreportable = failed
            .iter()
            .filter(|(r, _)| !is_position(&r.origin.position))
            .count();
        if unreportable > 0 {
            return Err(EnrichError::Unreportable(unreportable));
        }
        failed.sort_by(|a, b| {
            a.0.origin
                .lane()
                .cmp(&b.0.origin.lane())
                .then(cmp_position(&a.0.origin.position, &b.0.origin.position))
        });
        match batch.source {
            SourceKind::Kinesis => {
                let mut response = KinesisEventResponse::default();
                for (r, _) in &failed {
                    response.add_failure(r.origin.position.clone());
                }
                Ok(serde_json::to_value(response).expect("response serializes"))
            }
            SourceKind::Msk => {
                if failed.is_empty() {
                    return Ok(json!({"batchItemFailures": []}));
                }
                match self.config.msk_failure_mode {
                    MskFailureMode::Partial => Ok(kafka_failures(failed.iter().map(|(r, _)| *r))),
                    MskFailureMode::FailBatch => {
                        let (r, d) = failed[0];
                        Err(EnrichError::BatchIncomplete {
                            failed: failed.len(),
                            total: records.len(),
                            first: format!(
                                "{} offset {}: {}",
                                r.origin.lane(),
                                r.origin.position,
                                describe(d)
                            ),
                        })
                    }
                }
            }
        }
    }

    async fn dry_run(
        &self,
        records: &[InputRecord],
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Value {
        let stages = self.run_pipeline(records, |_| false, ctx, metrics).await;
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let results: Vec<Value> = records
            .iter()
            .zip(stages)
            .map(|(r, stage)| {
                let mut v = json!({
                    "stream": r.origin.stream, "shard": r.origin.shard, "position": r.origin.position,
                });
                let decision = match stage {
                    Stage::Enriched(e) => {
                        v["partition_key"] = json!(e.partition_key);
                        v["output"] = serde_json::from_slice(&e.data).unwrap_or(Value::Null);
                        "deliver"
                    }
                    Stage::Poison(p) => {
                        v["reason"] = json!(p.reason);
                        v["message"] = json!(p.message);
                        "quarantine"
                    }
                    Stage::Failed { code, message } => {
                        v["reason"] = json!(code);
                        v["message"] = json!(message);
                        "fail"
                    }
                    Stage::Skipped => "skip",
                };
                *counts.entry(decision).or_default() += 1;
                v["decision"] = json!(decision);
                v
            })
            .collect();
        json!({"dry_run": true, "spec": self.enricher.spec().name, "summary": counts, "records": results})
    }

    /// Replays a quarantine object. Good records are written to the enriched stream; the
    /// object is then rewritten with only what is still poison (with its new reason) or could
    /// not be written, or deleted when nothing remains. (With bucket versioning, the
    /// previous version stays recoverable.) With a custom `bucket` the object is read,
    /// rewritten and deleted there, never in the configured quarantine bucket.
    async fn replay(
        &self,
        bucket: Option<String>,
        key: &str,
        dry_run: bool,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Result<Value, EnrichError> {
        let bucket = bucket.unwrap_or_else(|| self.quarantine.bucket().to_string());
        let body = self.quarantine.get(&bucket, key).await?;
        let entries = parse_ndjson(&body)
            .map_err(|e| EnrichError::BadCommand(format!("s3://{bucket}/{key}: {e}")))?;
        let inputs: Vec<InputRecord> = entries.iter().map(QuarantineEntry::to_input).collect();
        tracing::info!(object = %format!("s3://{bucket}/{key}"), records = inputs.len(), dry_run, "replaying quarantined records");
        if dry_run {
            let mut v = self.dry_run(&inputs, ctx, metrics).await;
            v["object"] = json!(format!("s3://{bucket}/{key}"));
            return Ok(v);
        }
        let stages = self.run_pipeline(&inputs, |_| false, ctx, metrics).await;
        let mut remaining = Vec::new();
        let mut to_write = Vec::new();
        let mut still_poison = 0usize;
        for (i, stage) in stages.into_iter().enumerate() {
            match stage {
                Stage::Poison(p) => {
                    still_poison += 1;
                    let mut e = entries[i].clone();
                    e.reason = p.reason;
                    e.message = p.message;
                    e.replays += 1;
                    remaining.push(e);
                }
                Stage::Failed { code, message } => {
                    let mut e = entries[i].clone();
                    e.message = format!(
                        "replay could not write it ({code}: {message}); original reason kept"
                    );
                    remaining.push(e);
                }
                Stage::Enriched(rec) => to_write.push((i, rec)),
                Stage::Skipped => {}
            }
        }
        let refs: Vec<&EnrichedRecord> = to_write.iter().map(|(_, r)| r).collect();
        let report = self.stream.put_all(&refs, ctx.deadline).await;
        for f in &report.failed {
            let mut e = entries[to_write[f.index].0].clone();
            e.message = format!(
                "replay could not write it ({}: {}); original reason kept",
                f.code, f.message
            );
            remaining.push(e);
        }
        let delivered = to_write.len() - report.failed.len();
        metrics.count("ReplayedRecordsOut", delivered as u64);
        if remaining.is_empty() {
            self.quarantine.delete(&bucket, key).await?;
        } else {
            // In place: the object read (in the bucket it was read from) shrinks to what remains.
            // Writing it anywhere else would leave the original whole, and a second replay of it
            // would deliver its good records again.
            self.quarantine.put_in(&bucket, key, render_ndjson(&remaining)).await.map_err(|e| {
                tracing::error!(error = %e, "could not rewrite the quarantine object; it still holds every original entry");
                e
            })?;
        }
        Ok(json!({
            "object": format!("s3://{bucket}/{key}"),
            "replayed": inputs.len(),
            "delivered": delivered,
            "still_poison": still_poison,
            "failed": report.failed.len(),
            "remaining_in_object": remaining.len(),
            "object_deleted": remaining.is_empty(),
        }))
    }
}

fn describe(d: &Disposition) -> String {
    match d {
        Disposition::Failed { code, message } => format!("{code}: {message}"),
        other => format!("{other:?}"),
    }
}

/// The partial-batch response for Kafka event sources. aws_lambda_events 1.x has no type for it
/// yet; the identifier is the record's topic-partition and offset.
fn kafka_failures<'a>(records: impl Iterator<Item = &'a InputRecord>) -> Value {
    let items: Vec<Value> = records
        .map(|r| {
            json!({"itemIdentifier": {
                "partition": format!("{}-{}", r.origin.stream, r.origin.shard),
                "offset": r.origin.position.parse::<i64>().unwrap_or_default(),
            }})
        })
        .collect();
    json!({ "batchItemFailures": items })
}
