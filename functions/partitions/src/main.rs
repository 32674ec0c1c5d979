// The runtime loop, the harness and the service nest their futures deeply.
#![recursion_limit = "256"]

use lambda_runtime::Error;
use partitions::{
    AthenaRunner, DataBucket, EventBridgeEvents, GlueCatalog, InvocationContext, PartitionsConfig,
    PartitionsService, PollPolicy, Registry, SchedulerFollowUps,
};
use serde_json::Value;
use streamops_shared::aws::{self, LazyClient};
use streamops_shared::harness::{self, Invocation};
use streamops_shared::logging;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init_logging();
    let config = PartitionsConfig::from_env()
        .inspect_err(|e| tracing::error!(error = %e, "partitions cannot start"))?;
    let sdk = aws::load_sdk_config().await;
    let policy = PollPolicy::default();
    let path_style = config.s3_force_path_style;
    let service = PartitionsService {
        registry: Registry::new(aws::dynamodb_client(&sdk), &config.registry_table),
        // One of Athena and Glue serves a deployment (PARTITIONS_MODE); S3 is read for drops
        // and listings only: each is built on its first use.
        athena: AthenaRunner::new(
            LazyClient::new(&sdk, aws_sdk_athena::Client::new),
            &config.workgroup,
            config.output_location.clone(),
            policy,
        ),
        glue: GlueCatalog::new(LazyClient::new(&sdk, aws_sdk_glue::Client::new), policy),
        data: DataBucket::new(LazyClient::new(&sdk, move |sdk| {
            aws::s3_client(sdk, path_style)
        })),
        // Only a maintain run with something to alert about puts events.
        events: EventBridgeEvents {
            client: LazyClient::new(&sdk, aws_sdk_eventbridge::Client::new),
        },
        // Only a maintain run that leaves a query running asks for a follow-up schedule.
        follow_ups: SchedulerFollowUps::new(
            LazyClient::new(&sdk, aws_sdk_scheduler::Client::new),
            config.follow_up.config().cloned(),
        ),
        config,
    };
    tracing::info!(
        tables = service.config.tables.tables.len(),
        mode = service.config.mode.as_str(),
        "partitions ready"
    );
    let service = &service;
    harness::run(
        "partitions",
        move |payload: Value, mut inv: Invocation| async move {
            let ctx = InvocationContext {
                request_id: inv.request_id.clone(),
                now: inv.now,
                deadline: inv.deadline.into_std(),
            };
            let result = service.handle(payload, &ctx, &mut inv.metrics).await;
            (result, inv.metrics)
        },
    )
    .await
}
