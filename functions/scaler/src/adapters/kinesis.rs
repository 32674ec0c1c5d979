//! Kinesis through the AWS SDK: a stream's summary, the account's shard quota, resharding.

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types::{ScalingType, StreamMode};
use streamops_shared::AwsCallError;
use streamops_shared::aws::LazyClient;

use crate::ports::{KinesisApi, ShardQuota, StreamSummary, not_in_answer};

pub struct KinesisSdk {
    pub client: LazyClient<Client>,
}

impl KinesisApi for KinesisSdk {
    async fn stream_summary(&self, stream: &str) -> Result<StreamSummary, AwsCallError> {
        let out = self
            .client
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("DescribeStreamSummary", stream, &e))?;
        let d = out
            .stream_description_summary()
            .ok_or_else(|| not_in_answer("DescribeStreamSummary", stream))?;
        Ok(StreamSummary {
            on_demand: d.stream_mode_details().map(|m| m.stream_mode())
                == Some(&StreamMode::OnDemand),
            status: d.stream_status().as_str().to_string(),
            open_shards: d.open_shard_count(),
        })
    }

    async fn shard_quota(&self, stream: &str) -> Result<ShardQuota, AwsCallError> {
        let limits = self
            .client
            .describe_limits()
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("DescribeLimits", stream, &e))?;
        Ok(ShardQuota {
            limit: limits.shard_limit(),
            open: limits.open_shard_count(),
        })
    }

    async fn update_shard_count(&self, stream: &str, to: u32) -> Result<(), AwsCallError> {
        self.client
            .update_shard_count()
            .stream_name(stream)
            .target_shard_count(to as i32)
            .scaling_type(ScalingType::UniformScaling)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsCallError::from_sdk("UpdateShardCount", stream, &e))
    }
}
