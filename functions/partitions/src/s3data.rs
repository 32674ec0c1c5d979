//! S3 adapter: does a partition directory hold any object? (One-key `ListObjectsV2`.) Which
//! directories are at one level? (`ListObjectsV2` delimited by `/`, page after page.)

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

    async fn directories(
        &self,
        bucket: &str,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>, AwsCallError> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .delimiter("/")
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    AwsCallError::from_sdk("ListObjectsV2", format!("s3://{bucket}/{prefix}"), &e)
                })?;
            for cp in out.common_prefixes.unwrap_or_default() {
                let name = cp.prefix.as_deref().and_then(|p| p.strip_prefix(prefix));
                if let Some(name) = name.and_then(|n| n.strip_suffix('/')) {
                    names.push(name.to_string());
                }
            }
            token = out
                .next_continuation_token
                .filter(|_| out.is_truncated == Some(true));
            if token.is_none() || names.len() > limit {
                break;
            }
        }
        names.sort();
        names.truncate(limit + 1);
        Ok(names)
    }
}
