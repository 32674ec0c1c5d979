use alerts::book::BookReader;
use alerts::config::AlertsConfig;
use alerts::publisher::AlertPublisher;
use alerts::queue::SqsFlushQueue;
use alerts::service::{AlertsService, InvocationContext};
use alerts::store::AlertStore;
use lambda_runtime::Error;
use serde_json::Value;
use streamops_shared::aws::{self, LazyClient};
use streamops_shared::harness::{self, Invocation};
use streamops_shared::logging;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init_logging();
    let config = AlertsConfig::from_env()
        .inspect_err(|e| tracing::error!(error = %e, "alerts cannot start"))?;
    let sdk = aws::load_sdk_config().await;
    let service = AlertsService {
        store: AlertStore::new(aws::dynamodb_client(&sdk), &config.table_name),
        publisher: AlertPublisher::new(aws_sdk_sns::Client::new(&sdk), &config.topic_arn),
        // Only grouping and holds send to it (built on first use); without them the URL is unused.
        queue: SqsFlushQueue::new(
            LazyClient::new(&sdk, aws_sdk_sqs::Client::new),
            config.group_queue_url.clone().unwrap_or_default(),
        ),
        book: BookReader::new(aws::dynamodb_client(&sdk), config.checkpoints_table.clone()),
        config,
    };
    let service = &service;
    harness::run(
        "alerts",
        move |payload: Value, mut inv: Invocation| async move {
            let ctx = InvocationContext {
                request_id: inv.request_id.clone(),
                now: inv.now,
                // A claim outlives a crashed invocation by at least a second.
                claim_until: inv.deadline_at.max(inv.now + chrono::Duration::seconds(1)),
            };
            let result = service.handle(payload, &ctx, &mut inv.metrics).await;
            (result, inv.metrics)
        },
    )
    .await
}
