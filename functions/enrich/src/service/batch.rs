//! One Lambda batch: read the lanes' ledgers, run and deliver the records, account for every
//! record, move the ledgers on, and answer Lambda with exactly the records to retry (Kinesis
//! `batchItemFailures`; MSK per `ENRICH_MSK_FAILURE_MODE`).

use std::collections::{BTreeMap, HashMap};

use aws_lambda_events::streams::KinesisEventResponse;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use streamops_shared::{Metrics, Unit};

use super::{BatchSummary, Disposition, EnrichError, EnrichService, InvocationContext};
use crate::config::MskFailureMode;
use crate::input::{InputRecord, StreamBatch};
use crate::ledger::{LaneAttempt, LaneLedger};
use crate::origin::{SourceKind, cmp_position, is_position};
use crate::ports::{Ledger, OutputStream, Quarantine, ReferenceSource, SchemaRegistry};

impl<W, L, R, Q, S> EnrichService<W, L, R, Q, S>
where
    W: OutputStream,
    L: Ledger,
    R: ReferenceSource,
    Q: Quarantine,
    S: SchemaRegistry,
{
    pub(crate) async fn handle_batch(
        &self,
        batch: StreamBatch,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Result<Value, EnrichError> {
        let records = batch.records;
        metrics.property("source", batch.source.as_str());
        metrics.count("RecordsIn", records.len() as u64);
        // Nothing has been written yet: if the ledger cannot be read, failing the whole
        // invocation is safe and Lambda retries it.
        let ledgers = self.ledger.load(&lanes(&records)).await?;
        let skip = |r: &InputRecord| {
            is_position(&r.origin.position)
                && ledgers
                    .get(&r.origin.lane())
                    .is_some_and(|l| l.already_handled(&r.origin.ledger_position()))
        };
        let stages = self.run_pipeline(&records, skip, ctx, metrics).await?;
        let (dispositions, quarantine_object) = self.deliver(&records, stages, ctx, metrics).await;
        let tally = Tally::of(&records, &dispositions, quarantine_object, ctx.now);
        let batch_retried = tally.summary.failed > 0;
        self.save_ledgers(&ledgers, &tally.attempts, batch_retried, ctx.now, metrics)
            .await;
        tally.report(batch.source, metrics);
        self.respond(batch.source, &records, &dispositions)
    }

    /// Each lane's ledger after this attempt, where one needs writing.
    async fn save_ledgers(
        &self,
        ledgers: &HashMap<String, LaneLedger>,
        attempts: &BTreeMap<String, LaneAttempt>,
        batch_retried: bool,
        now: DateTime<Utc>,
        metrics: &mut Metrics,
    ) {
        for (lane, attempt) in attempts {
            let previous = ledgers.get(lane).cloned().unwrap_or_default();
            if let Some(next) = previous.advance(attempt, batch_retried)
                && let Err(e) = self.ledger.save(lane, &next, now).await
            {
                // Output is already written; a retry may now repeat some of it (at-least-once,
                // identifiable by `_event_id`). Failing here would not undo anything.
                metrics.count("LedgerWriteErrors", 1);
                tracing::error!(lane = %lane, error = %e, "ledger write failed; a retry of this lane may duplicate records");
            }
        }
    }

    /// The answer to Lambda: the failed records, by position, in lane and position order.
    fn respond(
        &self,
        source: SourceKind,
        records: &[InputRecord],
        dispositions: &[Disposition],
    ) -> Result<Value, EnrichError> {
        let mut failed: Vec<(&InputRecord, &Disposition)> = records
            .iter()
            .zip(dispositions)
            .filter(|(_, d)| matches!(d, Disposition::Failed { .. }))
            .collect();
        for (r, d) in &failed {
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
        match source {
            SourceKind::Kinesis => {
                let mut response = KinesisEventResponse::default();
                // Lambda checkpoints per Kinesis record: user records of one aggregate that
                // failed are named once, by the aggregate's sequence number.
                let mut named: Option<(&str, &str)> = None;
                for (r, _) in &failed {
                    let here = (&*r.origin.shard, r.origin.position.as_str());
                    if named != Some(here) {
                        response.add_failure(r.origin.position.clone());
                        named = Some(here);
                    }
                }
                // A list of strings: serializing cannot fail.
                Ok(serde_json::to_value(response).expect("response serializes"))
            }
            SourceKind::Msk => self.respond_kafka(&failed, records.len()),
        }
    }

    fn respond_kafka(
        &self,
        failed: &[(&InputRecord, &Disposition)],
        total: usize,
    ) -> Result<Value, EnrichError> {
        if failed.is_empty() {
            return Ok(json!({"batchItemFailures": []}));
        }
        match self.config.msk_failure_mode {
            MskFailureMode::Partial => Ok(kafka_failures(failed.iter().map(|(r, _)| *r))),
            MskFailureMode::FailBatch => {
                let (r, d) = failed[0];
                Err(EnrichError::BatchIncomplete {
                    failed: failed.len(),
                    total,
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

/// The lanes of the records that have a position, sorted, once each.
fn lanes(records: &[InputRecord]) -> Vec<String> {
    let mut lanes: Vec<String> = records
        .iter()
        .filter(|r| is_position(&r.origin.position))
        .map(|r| r.origin.lane())
        .collect();
    lanes.sort();
    lanes.dedup();
    lanes
}

/// What a batch came to: the counts, what each lane's attempt did, the largest lag.
struct Tally {
    summary: BatchSummary,
    attempts: BTreeMap<String, LaneAttempt>,
    max_lag_ms: i64,
}

impl Tally {
    fn of(
        records: &[InputRecord],
        dispositions: &[Disposition],
        quarantine_object: Option<String>,
        now: DateTime<Utc>,
    ) -> Self {
        let mut tally = Tally {
            summary: BatchSummary {
                quarantine_object,
                ..Default::default()
            },
            attempts: BTreeMap::new(),
            max_lag_ms: 0,
        };
        for (r, d) in records.iter().zip(dispositions) {
            tally.summary.count(d);
            if let Some(arrival) = r.origin.arrival {
                tally.max_lag_ms = tally.max_lag_ms.max((now - arrival).num_milliseconds());
            }
            if is_position(&r.origin.position) {
                let a = tally.attempts.entry(r.origin.lane()).or_default();
                // User records of a KPL aggregate each have their own ledger entry, so a retry
                // of the aggregate skips the ones already written.
                let position = r.origin.ledger_position();
                a.observe(&position);
                if matches!(d, Disposition::Failed { .. }) {
                    a.failed.push(position.into_owned());
                }
            }
        }
        tally
    }

    /// The batch's metrics and its one `batch done` log line.
    fn report(&self, source: SourceKind, metrics: &mut Metrics) {
        let summary = &self.summary;
        metrics.count("RecordsOut", summary.delivered as u64);
        metrics.count("RecordsFailed", summary.failed as u64);
        metrics.count("RecordsSkipped", summary.skipped as u64);
        if self.max_lag_ms > 0 {
            metrics.record("LagMs", Unit::Milliseconds, self.max_lag_ms as f64);
        }
        tracing::info!(
            source = source.as_str(),
            records = summary.records,
            delivered = summary.delivered,
            quarantined = summary.quarantined,
            failed = summary.failed,
            skipped = summary.skipped,
            quarantine_object = summary.quarantine_object.as_deref().unwrap_or(""),
            "batch done"
        );
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
