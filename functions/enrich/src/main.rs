use enrich::adapters::{
    ConfluentRegistry, EnrichedStream, GlueSchemaRegistry, LedgerStore, QuarantineStore,
    ReferenceTable, RegistryClient, SecretsManager, credentials,
};
use enrich::config::EnrichConfig;
use enrich::ports::SecretSource;
use enrich::secrets::{DeferredKey, load_hmac_key, read_at_init, read_hmac_key};
use enrich::service::{EnrichService, InvocationContext};
use enrich::values::Registry;
use lambda_runtime::Error;
use serde_json::value::RawValue;
use streamops_shared::aws::{self, LazyClient};
use streamops_shared::harness::{self, Invocation};
use streamops_shared::logging;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    enrich::memory::keep_freed_memory();
    logging::init_logging();
    let config = EnrichConfig::from_env()
        .inspect_err(|e| tracing::error!(error = %e, "enrich cannot start"))?;
    let sdk = aws::load_sdk_config().await;
    let pii_key = pii_key(&config, &sdk).await?;
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
    let stream = EnrichedStream::new(aws_sdk_kinesis::Client::new(&sdk), &config.output_stream);
    let ledger = LedgerStore::new(
        dynamodb,
        &config.ledger_table,
        config.ledger_ttl.as_secs() as i64,
    );
    // Only poison records reach S3: the client is built on the first quarantine.
    let path_style = config.s3_force_path_style;
    let quarantine = QuarantineStore::new(
        LazyClient::new(&sdk, move |sdk| aws::s3_client(sdk, path_style)),
        &config.quarantine_bucket,
        &config.quarantine_prefix,
    );
    let service = match pii_key {
        PiiKey::Read(key) => EnrichService::new(
            config,
            key.as_deref(),
            stream,
            ledger,
            reference,
            quarantine,
        )
        .inspect_err(|e| tracing::error!(error = %e, "enrich cannot start"))?,
        PiiKey::Pending(pending) => {
            EnrichService::with_pending_key(config, pending, stream, ledger, reference, quarantine)
        }
    };
    // Registry-framed values: the registry the format names resolves their schema ids.
    let service = match registry(&service.config, &sdk).await? {
        Some(registry) => service.with_registry(registry),
        None => service,
    };
    let service = &service;
    harness::run(
        "enrich",
        move |payload: Box<RawValue>, mut inv: Invocation| async move {
            let ctx = InvocationContext::new(&inv, service.config.deadline_margin);
            let result = service.handle(payload.get(), &ctx, &mut inv.metrics).await;
            (result, inv.metrics)
        },
    )
    .await
}

/// The schema registry of a registry value format, its credentials read now (a secret that
/// cannot be read fails the cold start, naming it).
async fn registry(
    config: &EnrichConfig,
    sdk: &aws_config::SdkConfig,
) -> Result<Option<RegistryClient>, Error> {
    let values = &config.values;
    Ok(match values.format.registry() {
        Some(Registry::Glue) => Some(RegistryClient::Glue(GlueSchemaRegistry::new(
            aws_sdk_glue::Client::new(sdk),
        ))),
        Some(Registry::Confluent) => {
            let url = values.registry_url.as_deref().unwrap_or_default();
            let credentials = match &values.registry_auth_secret {
                None => None,
                Some(arn) => {
                    let source = SecretsManager::new(aws_sdk_secretsmanager::Client::new(sdk));
                    let secret = source.secret_value(arn).await?;
                    Some(credentials(&secret).map_err(|e| {
                        format!("ENRICH_SCHEMA_REGISTRY_AUTH_SECRET_ARN {arn}: {e}")
                    })?)
                }
            };
            Some(RegistryClient::Confluent(ConfluentRegistry::new(
                url,
                credentials.as_deref(),
            )))
        }
        None => None,
    })
}

enum PiiKey {
    Read(Option<Vec<u8>>),
    Pending(DeferredKey),
}

/// The PII key: read now, or (an on-demand cold start) by the first invocation; see
/// `enrich::secrets`.
async fn pii_key(config: &EnrichConfig, sdk: &aws_config::SdkConfig) -> Result<PiiKey, Error> {
    let Some(secret) = config.pii_key_secret.clone() else {
        return Ok(PiiKey::Read(None));
    };
    // On demand, the first invocation reads the key: its client is built then, not at init.
    let source = SecretsManager::new(LazyClient::new(sdk, aws_sdk_secretsmanager::Client::new));
    let init_type = std::env::var("AWS_LAMBDA_INITIALIZATION_TYPE").ok();
    if read_at_init(init_type.as_deref()) {
        let key = load_hmac_key(&source, &secret)
            .await
            .inspect_err(|e| tracing::error!(error = %e, "enrich cannot load its PII key"))?;
        return Ok(PiiKey::Read(Some(key)));
    }
    let source = std::sync::Arc::new(source);
    Ok(PiiKey::Pending(DeferredKey::new(move || {
        let (source, secret) = (source.clone(), secret.clone());
        async move { read_hmac_key(&*source, &secret).await }
    })))
}
