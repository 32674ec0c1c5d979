// The runtime loop, the harness and the service nest their futures deeply.
#![recursion_limit = "256"]

use lambda_runtime::Error;
use partitions::{
    AthenaRunner, DataBucket, GlueCatalog, InvocationContext, PartitionsConfig, PartitionsService,
    PollPolicy, Registry,
};
use serde_json::Value;
use streamops_shared::harness::{self, Invocation};
use streamops_shared::{aws, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init_logging();
    let config = PartitionsConfig::from_env()
        .inspect_err(|e| tracing::error!(error = %e, "partitions cannot start"))?;
    let sdk = aws::load_sdk_config().await;
    let policy = PollPolicy::default();
    let service = PartitionsService {
        registry: Registry::new(aws::dynamodb_client(&sdk), &config.registry_table),
        athena: AthenaRunner::new(
            aws_sdk_athena::Client::new(&sdk),
            &config.workgroup,
            config.output_location.clone(),
            policy,
        ),
        glue: GlueCatalog::new(aws_sdk_glue::Client::new(&sdk), policy),
        data: DataBucket::new(aws::s3_client(&sdk, config.s3_force_path_style)),
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
