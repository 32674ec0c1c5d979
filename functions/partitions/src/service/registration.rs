//! Registration of one event batch:
//! 1. every object is mapped to its table's partition (skip rules applied, each skip counted by
//!    reason); invalid keys are poison and never reach SQL;
//! 2. the batch collapses to distinct partitions, each remembering the messages that named it;
//! 3. each partition is claimed in the registry (many claims in flight at once); already
//!    registered ones stop here;
//! 4. the claimed ones are registered per table ([`super::catalog`]): one
//!    `ALTER TABLE ... ADD IF NOT EXISTS` with many `PARTITION` clauses (split under the statement
//!    limit), or Glue `BatchCreatePartition`;
//! 5. successes are confirmed in the registry; failures release their claims, and the messages
//!    that named them are reported (`batchItemFailures` for SQS; a failed invocation otherwise).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use streamops_shared::{Metrics, Unit};

use super::catalog::Registered;
use super::summary::{Outcome, Summary};
use super::{InvocationContext, PartitionsService};
use crate::input::{Batch, Item, ObjectEvent};
use crate::keys::SkipReason;
use crate::ports::{ClaimOutcome, DataListing, DdlRunner, PartitionCatalog, RegistryStore};
use crate::table::{KeyOutcome, PartitionSpec};

/// A claim outlives the invocation's deadline by this much before it counts as abandoned.
const CLAIM_MARGIN_SECONDS: i64 = 60;

/// One distinct partition of the batch.
pub(super) struct Pending {
    pub(super) spec: PartitionSpec,
    first_event: DateTime<Utc>,
    /// Indexes of the messages that named it.
    messages: BTreeSet<usize>,
}

/// The summary and the messages to report as failed.
pub(super) struct Report {
    pub(super) summary: Summary,
    failed_messages: BTreeSet<usize>,
}

impl Report {
    fn skip(&mut self, reason: SkipReason, metrics: &mut Metrics) {
        *self.summary.skipped.entry(reason).or_default() += 1;
        metrics.count_by("ObjectsSkipped", "reason", reason.as_str(), 1);
    }

    fn already_present(&mut self, p: &Pending, detail: Option<&str>, metrics: &mut Metrics) {
        metrics.count("PartitionsAlreadyPresent", 1);
        self.summary
            .push(&p.spec, Outcome::AlreadyPresent, detail.map(str::to_string));
    }

    /// Another invocation is registering it right now; its result is unknown, so these
    /// messages come back later and find the registered mark.
    fn in_flight(&mut self, p: &Pending) {
        self.failed_messages.extend(&p.messages);
        self.summary.push(
            &p.spec,
            Outcome::InFlight,
            Some("another invocation holds the claim".into()),
        );
    }

    pub(super) fn kept(&mut self, p: &Pending, why: &str, metrics: &mut Metrics) {
        metrics.count("PartitionsKept", 1);
        self.summary.push(&p.spec, Outcome::Kept, Some(why.into()));
    }

    pub(super) fn dropped(&mut self, p: &Pending, metrics: &mut Metrics) {
        metrics.count("PartitionsDropped", 1);
        tracing::info!(partition = %p.spec.registry_key(), location = %p.spec.location, "partition dropped: its directory is empty");
        self.summary.push(&p.spec, Outcome::Dropped, None);
    }

    pub(super) fn failed(&mut self, p: &Pending, reason: String, metrics: &mut Metrics) {
        metrics.count("PartitionsFailed", 1);
        self.failed_messages.extend(&p.messages);
        self.summary.push(&p.spec, Outcome::Failed, Some(reason));
    }

    fn registered(&mut self, p: &Pending, now: DateTime<Utc>, metrics: &mut Metrics) {
        metrics.count("PartitionsRegistered", 1);
        let lag_ms = (now - p.first_event).num_milliseconds().max(0);
        metrics.record("RegistrationLag", Unit::Milliseconds, lag_ms as f64);
        tracing::info!(partition = %p.spec.registry_key(), location = %p.spec.location, lag_ms, "partition registered");
        self.summary.push(&p.spec, Outcome::Registered, None);
    }
}

impl<R, A, G, D, N, S> PartitionsService<R, A, G, D, N, S>
where
    R: RegistryStore,
    A: DdlRunner,
    G: PartitionCatalog,
    D: DataListing,
{
    /// Registers a batch; returns the summary and the indexes of the messages that failed.
    pub async fn register_batch(
        &self,
        batch: Batch,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> (Summary, BTreeSet<usize>) {
        let mut report = Report {
            summary: Summary::new(batch.source),
            failed_messages: BTreeSet::new(),
        };
        let (pending, removed) = self.collect(batch, &mut report, metrics);
        metrics.count("ObjectsReceived", report.summary.objects);
        report.summary.partitions = (pending.len() + removed.len()) as u64;
        let mut by_table: BTreeMap<String, Vec<&Pending>> = BTreeMap::new();
        for p in pending.values() {
            by_table.entry(p.spec.table_id()).or_default().push(p);
        }
        for (table_id, partitions) in by_table {
            let claimed = self.claim(partitions, ctx, &mut report, metrics).await;
            if claimed.is_empty() {
                continue;
            }
            let specs: Vec<&PartitionSpec> = claimed.iter().map(|p| &p.spec).collect();
            let results = self
                .register_table(&table_id, &specs, ctx, metrics, &mut report.summary)
                .await;
            self.settle(&claimed, results, ctx, &mut report, metrics)
                .await;
        }
        // After the creations: a batch that adds and removes in one directory ends with what
        // the listing says is there.
        if !removed.is_empty() {
            self.drop_emptied(removed, ctx, &mut report, metrics).await;
        }
        (report.summary, report.failed_messages)
    }

    /// Steps 1 and 2: the distinct partitions of the batch by registry key, those created
    /// objects name and those removed objects name.
    fn collect(
        &self,
        batch: Batch,
        report: &mut Report,
        metrics: &mut Metrics,
    ) -> (BTreeMap<String, Pending>, BTreeMap<String, Pending>) {
        let mut pending: BTreeMap<String, Pending> = BTreeMap::new();
        let mut removed: BTreeMap<String, Pending> = BTreeMap::new();
        for (mi, message) in batch.messages.into_iter().enumerate() {
            for item in message.items {
                let (object, into) = match item {
                    Item::Object(o) => (o, &mut pending),
                    Item::Removed(o) => (o, &mut removed),
                    // An object all the same (counted as received), whose key cannot be read.
                    Item::Skipped(SkipReason::UndecodableKey) => {
                        report.summary.objects += 1;
                        report.skip(SkipReason::UndecodableKey, metrics);
                        continue;
                    }
                    Item::Skipped(reason) => {
                        tracing::info!(
                            message_id = message.id.as_deref().unwrap_or(""),
                            reason = reason.as_str(),
                            "message skipped"
                        );
                        report.skip(reason, metrics);
                        continue;
                    }
                };
                report.summary.objects += 1;
                if let Some(spec) = self.partition_of(&object, report, metrics) {
                    let entry = into.entry(spec.registry_key()).or_insert_with(|| Pending {
                        spec,
                        first_event: object.event_time,
                        messages: BTreeSet::new(),
                    });
                    entry.first_event = entry.first_event.min(object.event_time);
                    entry.messages.insert(mi);
                }
            }
        }
        (pending, removed)
    }

    /// The partition an object belongs to, or `None` (counted and logged) when it is skipped.
    fn partition_of(
        &self,
        object: &ObjectEvent,
        report: &mut Report,
        metrics: &mut Metrics,
    ) -> Option<PartitionSpec> {
        let (bucket, key) = (&object.bucket, &object.key);
        match self.config.tables.classify(bucket, key, object.size) {
            KeyOutcome::Partition(spec) => Some(*spec),
            KeyOutcome::Skip(reason, detail) => {
                if reason == SkipReason::IcebergTable {
                    tracing::info!(bucket = %bucket, key = %key, reason = reason.as_str(), "object of an Iceberg table acknowledged: Iceberg lists its own files, nothing to register");
                } else if reason == SkipReason::InvalidKey {
                    tracing::warn!(bucket = %bucket, key = %key, reason = reason.as_str(), detail = detail.as_deref().unwrap_or(""), "object rejected as poison: its key is not a valid partition path");
                } else {
                    tracing::debug!(bucket = %bucket, key = %key, reason = reason.as_str(), "object skipped");
                }
                report.skip(reason, metrics);
                None
            }
        }
    }

    /// Step 3: claims one table's partitions, `registry_concurrency` at a time; returns the
    /// ones this invocation now holds, in the order given.
    async fn claim<'p>(
        &self,
        partitions: Vec<&'p Pending>,
        ctx: &InvocationContext,
        report: &mut Report,
        metrics: &mut Metrics,
    ) -> Vec<&'p Pending> {
        let now_s = ctx.now.timestamp();
        let expires_at = now_s + ctx.remaining().as_secs() as i64 + CLAIM_MARGIN_SECONDS;
        let token = &ctx.request_id;
        let claims = partitions
            .iter()
            .map(|p| self.registry.claim(&p.spec, token, expires_at, now_s));
        let outcomes = self.bounded(claims).await;
        let mut claimed = Vec::new();
        for (p, outcome) in partitions.into_iter().zip(outcomes) {
            match outcome {
                Ok(ClaimOutcome::Claimed) => claimed.push(p),
                Ok(ClaimOutcome::AlreadyRegistered) => report.already_present(p, None, metrics),
                Ok(ClaimOutcome::InFlight) => report.in_flight(p),
                Err(e) => {
                    tracing::error!(partition = %p.spec.registry_key(), error = %e, "registry claim failed");
                    report.failed(p, e.to_string(), metrics);
                }
            }
        }
        claimed
    }

    /// Step 5: confirms what was registered, releases what was not (`registry_concurrency` at
    /// a time), then reports each partition.
    async fn settle(
        &self,
        claimed: &[&Pending],
        results: Registered,
        ctx: &InvocationContext,
        report: &mut Report,
        metrics: &mut Metrics,
    ) {
        let now_s = ctx.now.timestamp();
        let ttl_expiry = now_s + self.config.registry_ttl.as_secs() as i64;
        let token = &ctx.request_id;
        let writes = claimed.iter().zip(&results).map(|(p, result)| async move {
            match result {
                Ok(_) => {
                    self.registry
                        .confirm(&p.spec, token, ttl_expiry, now_s)
                        .await
                }
                Err(_) => self.registry.release(&p.spec, token).await.map(|_| ()),
            }
        });
        let written = self.bounded(writes).await;
        for ((p, result), write) in claimed.iter().zip(results).zip(written) {
            match result {
                Ok(created) => {
                    if let Err(e) = write {
                        // Registered all the same; the claim expires and a later object re-runs an idempotent ADD.
                        tracing::warn!(partition = %p.spec.registry_key(), error = %e, "partition registered but its registry mark was not confirmed");
                    }
                    if created {
                        report.registered(p, ctx.now, metrics);
                    } else {
                        report.already_present(p, Some("already in the catalog"), metrics);
                    }
                }
                Err(reason) => {
                    if let Err(e) = write {
                        tracing::error!(partition = %p.spec.registry_key(), error = %e, "could not release the registry claim; it expires after the invocation deadline");
                    }
                    report.failed(p, reason, metrics);
                }
            }
        }
    }
}
