//! The quarantine bucket on S3.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use streamops_shared::AwsCallError;
use streamops_shared::aws::LazyClient;

use crate::ports::Quarantine;

pub struct QuarantineStore {
    client: LazyClient<Client>,
    bucket: String,
    prefix: String,
}

impl QuarantineStore {
    pub fn new(client: impl Into<LazyClient<Client>>, bucket: &str, prefix: &str) -> Self {
        Self {
            client: client.into(),
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        }
    }
}

impl Quarantine for QuarantineStore {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    fn prefix(&self) -> &str {
        &self.prefix
    }

    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), AwsCallError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/x-ndjson")
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsCallError::from_sdk("PutObject", format!("s3://{bucket}/{key}"), &e))
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, AwsCallError> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("GetObject", format!("s3://{bucket}/{key}"), &e))?;
        out.body
            .collect()
            .await
            .map(|b| b.into_bytes().to_vec())
            .map_err(|e| AwsCallError {
                operation: "GetObject",
                resource: format!("s3://{bucket}/{key}"),
                class: streamops_shared::ErrorClass::Retryable,
                code: None,
                message: e.to_string(),
            })
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), AwsCallError> {
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsCallError::from_sdk("DeleteObject", format!("s3://{bucket}/{key}"), &e))
    }
}
