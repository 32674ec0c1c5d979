//! The ports implemented with the AWS SDK and HTTP, and the production set of them.

use aws_config::SdkConfig;
use streamops_shared::aws::LazyClient;

use crate::config::ScalerConfig;
use crate::ports::Adapters;

pub mod cloudwatch;
pub mod dynamo;
pub mod emr;
pub mod eventbridge;
pub mod flink_rest;
pub mod kinesis;
pub mod yarn;

pub use cloudwatch::CloudWatchSdk;
pub use dynamo::{DynamoBook, DynamoStore};
pub use emr::EmrSdk;
pub use eventbridge::EventBridgeNotifier;
pub use flink_rest::FlinkRest;
pub use kinesis::KinesisSdk;
pub use yarn::YarnRest;

/// What the deployed function talks to.
pub type AwsPorts = Adapters<
    DynamoStore,
    DynamoBook,
    KinesisSdk,
    EmrSdk,
    CloudWatchSdk,
    FlinkRest,
    YarnRest,
    EventBridgeNotifier,
>;

/// Every port on the SDK configuration, with the tables of `config`. DynamoDB (every
/// invocation reads or writes the audit table) is built now; the clients an invocation needs
/// only for some targets are built on their first use (docs/development.md#cold-start).
pub fn aws(sdk: &SdkConfig, config: &ScalerConfig) -> AwsPorts {
    let dynamodb = streamops_shared::aws::dynamodb_client(sdk);
    Adapters {
        store: DynamoStore::new(dynamodb.clone(), &config.table),
        checkpoints: config
            .checkpoints_table
            .as_deref()
            .map(|t| DynamoBook::new(dynamodb.clone(), t)),
        kinesis: KinesisSdk {
            client: LazyClient::new(sdk, aws_sdk_kinesis::Client::new),
        },
        emr: EmrSdk {
            client: LazyClient::new(sdk, aws_sdk_emr::Client::new),
        },
        metrics: CloudWatchSdk {
            client: LazyClient::new(sdk, aws_sdk_cloudwatch::Client::new),
        },
        flink: FlinkRest,
        yarn: YarnRest,
        notifier: EventBridgeNotifier {
            client: LazyClient::new(sdk, aws_sdk_eventbridge::Client::new),
        },
    }
}
