//! What one event batch did: counts, skips by reason, and per-partition outcomes.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::input::Source;
use crate::keys::SkipReason;
use crate::table::PartitionSpec;

/// Per-partition outcomes listed in a response (all are counted).
const MAX_LISTED: usize = 100;

/// What happened to one partition of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Registered,
    AlreadyPresent,
    /// Another invocation holds the claim; the messages come back later.
    InFlight,
    Failed,
    /// An object was removed and the partition's directory is empty: dropped from the catalog.
    Dropped,
    /// An object was removed but the directory still holds data (or new data landed while it
    /// was being dropped, and the partition was registered again): kept.
    Kept,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Registered => "registered",
            Outcome::AlreadyPresent => "already_present",
            Outcome::InFlight => "in_flight",
            Outcome::Failed => "failed",
            Outcome::Dropped => "dropped",
            Outcome::Kept => "kept",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PartitionOutcome {
    pub partition: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What one event batch did; returned for direct, SNS and EventBridge invocations, logged for SQS.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub source: Source,
    pub objects: u64,
    pub skipped: BTreeMap<SkipReason, u64>,
    pub partitions: u64,
    pub registered: u64,
    pub already_present: u64,
    pub in_flight: u64,
    pub failed: u64,
    /// Partitions named by removed objects: dropped (directory empty) or kept (data remains).
    pub dropped: u64,
    pub kept: u64,
    pub queries_run: u64,
    pub outcomes: Vec<PartitionOutcome>,
}

impl Summary {
    pub fn new(source: Source) -> Self {
        Self {
            source,
            objects: 0,
            skipped: BTreeMap::new(),
            partitions: 0,
            registered: 0,
            already_present: 0,
            in_flight: 0,
            failed: 0,
            dropped: 0,
            kept: 0,
            queries_run: 0,
            outcomes: Vec::new(),
        }
    }

    /// Counts one partition's outcome and lists it (up to [`MAX_LISTED`]).
    pub(super) fn push(&mut self, spec: &PartitionSpec, outcome: Outcome, detail: Option<String>) {
        *match outcome {
            Outcome::Registered => &mut self.registered,
            Outcome::AlreadyPresent => &mut self.already_present,
            Outcome::InFlight => &mut self.in_flight,
            Outcome::Failed => &mut self.failed,
            Outcome::Dropped => &mut self.dropped,
            Outcome::Kept => &mut self.kept,
        } += 1;
        if self.outcomes.len() < MAX_LISTED {
            self.outcomes.push(PartitionOutcome {
                partition: spec.registry_key(),
                outcome,
                detail,
            });
        }
    }

    /// Why the event must be retried (partitions failed or still in flight), if it must.
    pub fn not_registered(&self) -> Option<String> {
        if self.failed == 0 && self.in_flight == 0 {
            return None;
        }
        let what: Vec<String> = self
            .outcomes
            .iter()
            .filter(|o| matches!(o.outcome, Outcome::Failed | Outcome::InFlight))
            .map(|o| {
                format!(
                    "{} ({}{})",
                    o.partition,
                    o.outcome.as_str(),
                    o.detail
                        .as_deref()
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        Some(format!(
            "{} of {} partitions not registered or dropped; the event will be retried: {}",
            self.failed + self.in_flight,
            self.partitions,
            what.join("; ")
        ))
    }

    pub fn log(&self) {
        tracing::info!(
            source = self.source.as_str(),
            objects = self.objects,
            partitions = self.partitions,
            registered = self.registered,
            already_present = self.already_present,
            in_flight = self.in_flight,
            failed = self.failed,
            dropped = self.dropped,
            kept = self.kept,
            queries_run = self.queries_run,
            skipped = %serde_json::to_string(&self.skipped).unwrap_or_default(),
            "batch processed"
        );
    }
}
