//! S3 adapter: does a partition directory hold any object? (One-key `ListObjectsV2`.)

use aws_sdk_s3::Client;
use streamops_shared::AwsCallError;
use streamops_shared::aws::LazyClient;

use crate::ports::DataListing;

#[derive(Clone)]
pub struct DataBucket {
    client: LazyClient<Client>,
}

impl DataBucket {
    pub fn new(client: impl Into<LazyClient<Client>>) -> Self {
        Self {
            client: client.into(),
        }
    }
}

impl DataListing for DataBucket {
    async fn has_objects(&self, bucket: &str, prefix: &str) -> Result<bool, AwsCallError> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| {
                AwsCallError::from_sdk("ListObjectsV2", format!("s3://{bucket}/{prefix}"), &e)
            })?;
        Ok(out.key_count.unwrap_or(0) > 0 || !out.contents.unwrap_or_default().is_empty())
    }
}
