//! The handler's service: records through the pipeline, poison to the quarantine, enriched
//! records to the stream, the ledger kept, and Lambda answered with exactly the records that
//! must be retried. Generic over its [`ports`](crate::ports); the defaults are the AWS
//! adapters `main.rs` builds.
//!
//! Every input record ends in exactly one place: the enriched stream (`delivered`), the
//! quarantine (`quarantined`), or the failure list returned to Lambda (`failed`); `skipped`
//! records are ones a previous attempt already delivered or quarantined (see `ledger`).
//!
//! - `enrichment.rs`: the pipeline over chunks, reference data through the cache;
//! - `deliver.rs`: the quarantine object and the PutRecords writes;
//! - `batch.rs`: one Lambda batch: ledger, accounting, metrics, the answer to Lambda.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use streamops_shared::harness::{Classified, Invocation};
use streamops_shared::{AwsCallError, ErrorClass};
use tokio::time::Instant;

mod batch;
mod deliver;
mod enrichment;
mod values;

use crate::adapters::{
    EnrichedStream, LedgerStore, QuarantineStore, ReferenceTable, RegistryClient,
};
use crate::config::EnrichConfig;
use crate::pipeline::Enricher;
use crate::poison::PoisonReason;
use crate::reference::ReferenceCache;
use crate::secrets::{DeferredKey, KeyError};
use crate::values::cache::SchemaCache;

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
    /// The schema registry could not be asked (unreachable, throttled, refused): no record is
    /// at fault, so none is quarantined; the batch is retried.
    #[error("the schema registry is not available: {0}")]
    Registry(AwsCallError),
    /// The PII key read at init did not arrive (see [`crate::secrets`]).
    #[error("the PII key is not available: {0}")]
    PiiKey(#[from] KeyError),
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
            EnrichError::PiiKey(e) => e.class(),
            EnrichError::Registry(_) => ErrorClass::Retryable,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            EnrichError::Aws(_) => "AwsCall",
            EnrichError::Input(_) => "BadInput",
            EnrichError::BadCommand(_) => "BadCommand",
            EnrichError::BatchIncomplete { .. } => "BatchIncomplete",
            EnrichError::Unreportable(_) => "UnreportableFailures",
            EnrichError::PiiKey(KeyError::Read(_)) => "PiiKeyUnavailable",
            EnrichError::PiiKey(KeyError::Unusable(_)) => "PiiKeyUnusable",
            EnrichError::Registry(_) => "SchemaRegistryUnavailable",
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

impl InvocationContext {
    /// From the harness's invocation: the configured margin is kept for the reply, but never
    /// more than a quarter of the time left, so a short-deadline invocation still gets to write.
    pub fn new(inv: &Invocation, margin: Duration) -> Self {
        let remaining = inv.time_left();
        tracing::debug!(
            remaining_ms = remaining.as_millis() as u64,
            "invocation deadline"
        );
        Self {
            request_id: inv.request_id.clone(),
            now: inv.now,
            deadline: inv.deadline_less(margin.min(remaining / 4)),
        }
    }
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

/// The service over its ports: the enriched stream `W`, the ledger `L`, the reference table
/// `R`, the quarantine `Q` and the schema registry `S` (set by [`EnrichService::with_registry`]
/// for a registry value format).
pub struct EnrichService<
    W = EnrichedStream,
    L = LedgerStore,
    R = ReferenceTable,
    Q = QuarantineStore,
    S = RegistryClient,
> {
    pub config: EnrichConfig,
    pub enricher: Enricher,
    /// The PII key's read, when the enricher still awaits its key.
    pub pending_key: Option<DeferredKey>,
    pub reference: Option<R>,
    pub cache: Mutex<ReferenceCache>,
    pub stream: W,
    pub ledger: L,
    pub quarantine: Q,
    pub registry: Option<S>,
    /// Registry answers kept across invocations (see [`crate::values::cache`]).
    pub schemas: Mutex<SchemaCache>,
}

impl<W, L, R, Q> EnrichService<W, L, R, Q> {
    /// The service for `config`, with the PII key read at init (required by `hmac` rules) and
    /// an empty reference cache sized by the configuration.
    pub fn new(
        config: EnrichConfig,
        pii_key: Option<&[u8]>,
        stream: W,
        ledger: L,
        reference: Option<R>,
        quarantine: Q,
    ) -> Result<Self, String> {
        let enricher = Enricher::new(config.spec.clone(), pii_key)?;
        Ok(Self::assemble(
            config, enricher, None, stream, ledger, reference, quarantine,
        ))
    }

    /// The service with its PII key not read yet (an on-demand cold start): each invocation
    /// [`begins`](DeferredKey::begin) the read, the first batch that protects PII waits for it.
    pub fn with_pending_key(
        config: EnrichConfig,
        pending: DeferredKey,
        stream: W,
        ledger: L,
        reference: Option<R>,
        quarantine: Q,
    ) -> Self {
        let enricher = Enricher::awaiting_key(config.spec.clone());
        Self::assemble(
            config,
            enricher,
            Some(pending),
            stream,
            ledger,
            reference,
            quarantine,
        )
    }

    fn assemble(
        config: EnrichConfig,
        enricher: Enricher,
        pending_key: Option<DeferredKey>,
        stream: W,
        ledger: L,
        reference: Option<R>,
        quarantine: Q,
    ) -> Self {
        Self {
            enricher,
            pending_key,
            reference,
            cache: Mutex::new(ReferenceCache::new(
                config.reference_cache_ttl,
                config.reference_cache_max_entries,
            )),
            stream,
            ledger,
            quarantine,
            registry: None,
            schemas: Mutex::new(SchemaCache::new(
                config.values.cache_ttl,
                config.values.cache_max_entries,
            )),
            config,
        }
    }

    /// The service with `registry` resolving the schema ids of registry-framed values.
    pub fn with_registry<S2>(self, registry: S2) -> EnrichService<W, L, R, Q, S2> {
        EnrichService {
            config: self.config,
            enricher: self.enricher,
            pending_key: self.pending_key,
            reference: self.reference,
            cache: self.cache,
            stream: self.stream,
            ledger: self.ledger,
            quarantine: self.quarantine,
            registry: Some(registry),
            schemas: self.schemas,
        }
    }
}

impl<W, L, R, Q, S> EnrichService<W, L, R, Q, S> {
    /// Starts the PII key's read in the background if the enricher still needs it: called as an
    /// invocation begins, so the read overlaps the work before the key is needed.
    pub(crate) fn begin_key_read(&self) {
        if let (Some(pending), true) = (&self.pending_key, self.enricher.awaits_key()) {
            pending.begin();
        }
    }

    /// Waits for the PII key if the enricher still needs it. A read that fails is tried again
    /// by the next batch.
    pub(crate) async fn key_ready(&self) -> Result<(), EnrichError> {
        if !self.enricher.awaits_key() {
            return Ok(());
        }
        let Some(pending) = &self.pending_key else {
            // Enricher::new refuses a spec with hmac rules and no key; nothing can get here.
            return Err(KeyError::Unusable("no PII key was configured".into()).into());
        };
        let key = pending.key().await?;
        self.enricher.set_key(&key).map_err(KeyError::Unusable)?;
        Ok(())
    }
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
    pub(crate) fn count(&mut self, d: &Disposition) {
        self.records += 1;
        match d {
            Disposition::Delivered => self.delivered += 1,
            Disposition::Quarantined { .. } => self.quarantined += 1,
            Disposition::Failed { .. } => self.failed += 1,
            Disposition::Skipped => self.skipped += 1,
        }
    }
}
