//! Where a batch's records go: poison to one quarantine object, enriched records to the
//! stream; each record's [`Disposition`] comes back.

use std::collections::HashMap;

use streamops_shared::{AwsCallError, Metrics};

use super::{Disposition, EnrichService, InvocationContext};
use crate::emit::put_all;
use crate::input::InputRecord;
use crate::pipeline::{EnrichedRecord, Stage};
use crate::poison::Poison;
use crate::ports::{OutputStream, Quarantine};
use crate::quarantine::{QuarantineEntry, object_key, render_ndjson};

impl<W: OutputStream, L, R, Q: Quarantine, S> EnrichService<W, L, R, Q, S> {
    /// Quarantines poison (one object) and writes the enriched records; returns each record's
    /// disposition and the quarantine object key.
    pub(super) async fn deliver(
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
            quarantine_object = self
                .quarantine_poison(records, &poison, &mut out, ctx, metrics)
                .await;
        }
        if !enriched.is_empty() {
            self.write_enriched(&enriched, &mut out, ctx, metrics).await;
        }
        (
            out.into_iter()
                .map(|d| d.expect("every record has a disposition"))
                .collect(),
            quarantine_object,
        )
    }

    /// One quarantine object for the batch's poison. If it cannot be written, the poison
    /// records are reported as failed, so they are retried (and quarantined then).
    async fn quarantine_poison(
        &self,
        records: &[InputRecord],
        poison: &[(usize, Poison)],
        out: &mut [Option<Disposition>],
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Option<String> {
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
        if let Err(e) = self.put_quarantine(&key, render_ndjson(&entries)).await {
            tracing::error!(error = %e, records = poison.len(), "quarantine write failed; poison records are reported as failed so they are retried");
            for (i, _) in poison {
                out[*i] = Some(Disposition::Failed {
                    code: e
                        .code
                        .clone()
                        .unwrap_or_else(|| "QuarantineWriteFailed".into()),
                    message: e.to_string(),
                });
            }
            return None;
        }
        for (i, p) in poison {
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
        Some(key)
    }

    /// Writes a new quarantine object. A write whose answer was lost (a timeout or a reset
    /// after S3 stored it) is recognised by reading the object back: our exact bytes under our
    /// key (request id and time) mean it landed, so its records are not retried into a second
    /// object (found by the enrich soak).
    async fn put_quarantine(&self, key: &str, body: Vec<u8>) -> Result<(), AwsCallError> {
        let bucket = self.quarantine.bucket();
        let Err(e) = self.quarantine.put(bucket, key, body.clone()).await else {
            return Ok(());
        };
        match self.quarantine.get(bucket, key).await {
            Ok(stored) if stored == body => {
                tracing::warn!(error = %e, key, "the quarantine write's answer was lost; the object is there");
                Ok(())
            }
            _ => Err(e),
        }
    }

    /// PutRecords for the enriched records; what is still unwritten at the deadline is failed.
    async fn write_enriched(
        &self,
        enriched: &[(usize, EnrichedRecord)],
        out: &mut [Option<Disposition>],
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) {
        let refs: Vec<&EnrichedRecord> = enriched.iter().map(|(_, e)| e).collect();
        let report = put_all(&self.stream, &refs, ctx.deadline).await;
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
}
