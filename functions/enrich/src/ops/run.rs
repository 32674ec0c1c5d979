//! Carrying out the ops commands: `dry-run` (the pipeline, reference lookups included, and
//! nothing written) and `replay` (a quarantine object through the pipeline again).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};
use streamops_shared::Metrics;

use super::{EnrichCommand, dry_run_records};
use crate::emit::put_all;
use crate::input::InputRecord;
use crate::pipeline::{EnrichedRecord, Stage};
use crate::ports::{OutputStream, Quarantine, ReferenceSource, SchemaRegistry};
use crate::quarantine::{QuarantineEntry, parse_ndjson, render_ndjson};
use crate::service::{EnrichError, EnrichService, InvocationContext};

/// What a dry run says would happen to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
enum DryRunDecision {
    Deliver,
    Fail,
    Quarantine,
    Skip,
}

impl<W, L, R, Q, S> EnrichService<W, L, R, Q, S>
where
    W: OutputStream,
    R: ReferenceSource,
    Q: Quarantine,
    S: SchemaRegistry,
{
    pub(crate) async fn run_command(
        &self,
        command: EnrichCommand,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Result<Value, EnrichError> {
        match command {
            EnrichCommand::DryRun { records, event } => {
                let inputs =
                    dry_run_records(&records, event.as_ref()).map_err(EnrichError::BadCommand)?;
                self.dry_run(&inputs, ctx, metrics).await
            }
            EnrichCommand::Replay {
                bucket,
                key,
                dry_run,
            } => self.replay(bucket, &key, dry_run, ctx, metrics).await,
            EnrichCommand::Columns {} => Ok(json!({
                "command": "columns",
                "spec": self.config.spec.name,
                "columns": crate::columns::table_columns(&self.config.spec),
                "partition_keys": crate::columns::PARTITION_KEYS,
            })),
        }
    }

    async fn dry_run(
        &self,
        records: &[InputRecord],
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Result<Value, EnrichError> {
        let stages = self.run_pipeline(records, |_| false, ctx, metrics).await?;
        let mut counts: BTreeMap<DryRunDecision, usize> = BTreeMap::new();
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
                        DryRunDecision::Deliver
                    }
                    Stage::Poison(p) => {
                        v["reason"] = json!(p.reason);
                        v["message"] = json!(p.message);
                        DryRunDecision::Quarantine
                    }
                    Stage::Failed { code, message } => {
                        v["reason"] = json!(code);
                        v["message"] = json!(message);
                        DryRunDecision::Fail
                    }
                    Stage::Skipped => DryRunDecision::Skip,
                };
                *counts.entry(decision).or_default() += 1;
                v["decision"] = json!(decision);
                v
            })
            .collect();
        Ok(
            json!({"dry_run": true, "spec": self.enricher.spec().name, "summary": counts, "records": results}),
        )
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
            let mut v = self.dry_run(&inputs, ctx, metrics).await?;
            v["object"] = json!(format!("s3://{bucket}/{key}"));
            return Ok(v);
        }
        let stages = self.run_pipeline(&inputs, |_| false, ctx, metrics).await?;
        let mut sorted = Replayed::sort(&entries, stages);
        let refs: Vec<&EnrichedRecord> = sorted.to_write.iter().map(|(_, r)| r).collect();
        let report = put_all(&self.stream, &refs, ctx.deadline).await;
        for f in &report.failed {
            let mut e = entries[sorted.to_write[f.index].0].clone();
            e.message = format!(
                "replay could not write it ({}: {}); original reason kept",
                f.code, f.message
            );
            sorted.remaining.push(e);
        }
        let delivered = sorted.to_write.len() - report.failed.len();
        metrics.count("ReplayedRecordsOut", delivered as u64);
        let remaining = sorted.remaining;
        if remaining.is_empty() {
            self.quarantine.delete(&bucket, key).await?;
        } else {
            // In place: the object read (in the bucket it was read from) shrinks to what remains.
            // Writing it anywhere else would leave the original whole, and a second replay of it
            // would deliver its good records again.
            self.quarantine.put(&bucket, key, render_ndjson(&remaining)).await.map_err(|e| {
                tracing::error!(error = %e, "could not rewrite the quarantine object; it still holds every original entry");
                e
            })?;
        }
        Ok(json!({
            "object": format!("s3://{bucket}/{key}"),
            "replayed": inputs.len(),
            "delivered": delivered,
            "still_poison": sorted.still_poison,
            "failed": report.failed.len(),
            "remaining_in_object": remaining.len(),
            "object_deleted": remaining.is_empty(),
        }))
    }
}

/// A replayed object's entries after the pipeline: what to write, what stays in the object.
struct Replayed {
    to_write: Vec<(usize, EnrichedRecord)>,
    remaining: Vec<QuarantineEntry>,
    still_poison: usize,
}

impl Replayed {
    fn sort(entries: &[QuarantineEntry], stages: Vec<Stage>) -> Self {
        let mut out = Replayed {
            to_write: Vec::new(),
            remaining: Vec::new(),
            still_poison: 0,
        };
        for (i, stage) in stages.into_iter().enumerate() {
            match stage {
                Stage::Poison(p) => {
                    out.still_poison += 1;
                    let mut e = entries[i].clone();
                    e.reason = p.reason;
                    e.message = p.message;
                    e.replays += 1;
                    out.remaining.push(e);
                }
                Stage::Failed { code, message } => {
                    let mut e = entries[i].clone();
                    e.message = format!(
                        "replay could not write it ({code}: {message}); original reason kept"
                    );
                    out.remaining.push(e);
                }
                Stage::Enriched(rec) => out.to_write.push((i, rec)),
                Stage::Skipped => {}
            }
        }
        out
    }
}
