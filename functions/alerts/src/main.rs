use alerts::config::AlertsConfig;
use alerts::publisher::AlertPublisher;
use alerts::service::{AlertsService, InvocationContext};
use alerts::store::AlertStore;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use streamops_shared::{METRICS_NAMESPACE, Metrics, aws, invocation, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init_logging();
    let config = AlertsConfig::from_env()
        .inspect_err(|e| tracing::error!(error = %e, "alerts cannot start"))?;
    let sdk = aws::load_sdk_config().await;
    let service = AlertsService {
        store: AlertStore::new(aws::dynamodb_client(&sdk), &config.table_name),
        publisher: AlertPublisher::new(aws_sdk_sns::Client::new(&sdk), &config.topic_arn),
        config,
    };
    let service = &service;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let now = chrono::Utc::now();
        let left = invocation::time_left(event.context.deadline, now.timestamp_millis());
        let ctx = InvocationContext {
            request_id: event.context.request_id.clone(),
            now,
            claim_until: now
                + chrono::Duration::from_std(left)
                    .unwrap_or_default()
                    .max(chrono::Duration::seconds(1)),
        };
        let mut metrics = Metrics::new(METRICS_NAMESPACE, "alerts");
        let result = service.handle(event.payload, &ctx, &mut metrics).await;
        metrics.flush();
        result.map_err(Error::from)
    }))
    .await
}
