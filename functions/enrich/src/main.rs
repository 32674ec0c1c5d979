use std::sync::Mutex;

use enrich::config::EnrichConfig;
use enrich::emit::EnrichedStream;
use enrich::ledger::LedgerStore;
use enrich::pipeline::Enricher;
use enrich::quarantine::QuarantineStore;
use enrich::reference::{ReferenceCache, ReferenceTable};
use enrich::secrets::load_hmac_key;
use enrich::service::{EnrichService, InvocationContext};
use lambda_runtime::Error;
use serde_json::value::RawValue;
use streamops_shared::harness::{self, Invocation};
use streamops_shared::{aws, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    enrich::memory::keep_freed_memory();
    logging::init_logging();
    let config = EnrichConfig::from_env()
        .inspect_err(|e| tracing::error!(error = %e, "enrich cannot start"))?;
    let sdk = aws::load_sdk_config().await;
    let pii_key = match &config.pii_key_secret {
        Some(secret) => Some(
            load_hmac_key(&aws_sdk_secretsmanager::Client::new(&sdk), secret)
                .await
                .inspect_err(|e| tracing::error!(error = %e, "enrich cannot load its PII key"))?,
        ),
        None => None,
    };
    let enricher = Enricher::new(config.spec.clone(), pii_key.as_deref())
        .inspect_err(|e| tracing::error!(error = %e, "enrich cannot start"))?;
    let dynamodb = aws::dynamodb_client(&sdk);
    let reference = match (&config.reference_table, &config.spec.reference) {
        (Some(table), Some(spec)) => Some(ReferenceTable::new(
            dynamodb.clone(),
            table,
            &spec.table_key,
            &spec.attributes,
        )),
        _ => None,
    };
    let service = EnrichService {
        enricher,
        reference,
        cache: Mutex::new(ReferenceCache::new(
            config.reference_cache_ttl,
            config.reference_cache_max_entries,
        )),
        stream: EnrichedStream::new(aws_sdk_kinesis::Client::new(&sdk), &config.output_stream),
        ledger: LedgerStore::new(
            dynamodb,
            &config.ledger_table,
            config.ledger_ttl.as_secs() as i64,
        ),
        quarantine: QuarantineStore::new(
            aws::s3_client(&sdk, config.s3_force_path_style),
            &config.quarantine_bucket,
            &config.quarantine_prefix,
        ),
        config,
    };
    let service = &service;
    harness::run(
        "enrich",
        move |payload: Box<RawValue>, mut inv: Invocation| async move {
            let remaining = inv.time_left();
            // Keep the configured margin for the reply, but never more than a quarter of the
            // time left, so a short-deadline invocation still gets to write.
            let margin = service.config.deadline_margin.min(remaining / 4);
            tracing::debug!(
                remaining_ms = remaining.as_millis() as u64,
                "invocation deadline"
            );
            let ctx = InvocationContext {
                request_id: inv.request_id.clone(),
                now: inv.now,
                deadline: inv.deadline_less(margin),
            };
            let result = service.handle(payload.get(), &ctx, &mut inv.metrics).await;
            (result, inv.metrics)
        },
    )
    .await
}
