//! The checkpoint bucket: the first bytes of `_metadata` (ranged GET), listings, deletes.

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use chrono::{DateTime, Utc};
use streamops_shared::{AwsCallError, ErrorClass};

use crate::layout::HEADER_BYTES;
use crate::ports::{CheckpointObjects, ListedObject, is_protected};

pub struct CheckpointBucket {
    client: Client,
    bucket: String,
}

impl CheckpointBucket {
    pub fn new(client: Client, bucket: &str) -> Self {
        Self {
            client,
            bucket: bucket.to_string(),
        }
    }

    /// Every key under `prefix`.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, AwsCallError> {
        Ok(self
            .list_objects(prefix)
            .await?
            .into_iter()
            .map(|o| o.key)
            .collect())
    }
}

impl CheckpointObjects for CheckpointBucket {
    fn name(&self) -> &str {
        &self.bucket
    }

    async fn head_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, AwsCallError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes=0-{}", HEADER_BYTES - 1))
            .send()
            .await;
        let out = match out {
            Ok(o) => o,
            // A ranged GET of a zero-byte object is "416 Range Not Satisfiable".
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 416) => {
                return Ok(Some(Vec::new()));
            }
            // S3 reads are strongly consistent: no such key means it was deleted.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Ok(None);
            }
            Err(e) => {
                return Err(AwsCallError::from_sdk(
                    "GetObject (range)",
                    format!("s3://{}/{key}", self.bucket),
                    &e,
                ));
            }
        };
        let body = out.body.collect().await.map_err(|e| AwsCallError {
            operation: "GetObject (range)",
            resource: format!("s3://{}/{key}", self.bucket),
            class: ErrorClass::Retryable,
            code: None,
            message: e.to_string(),
        })?;
        let mut bytes = body.into_bytes().to_vec();
        bytes.truncate(HEADER_BYTES);
        Ok(Some(bytes))
    }

    async fn list_objects(&self, prefix: &str) -> Result<Vec<ListedObject>, AwsCallError> {
        let mut objects = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    AwsCallError::from_sdk(
                        "ListObjectsV2",
                        format!("s3://{}/{prefix}", self.bucket),
                        &e,
                    )
                })?;
            for o in out.contents() {
                let Some(key) = o.key() else { continue };
                objects.push(ListedObject {
                    key: key.to_string(),
                    size: o.size().unwrap_or_default(),
                    etag: o.e_tag().map(str::to_string),
                    last_modified: o
                        .last_modified()
                        .and_then(|t| DateTime::<Utc>::from_timestamp_millis(t.to_millis().ok()?))
                        .unwrap_or_else(Utc::now),
                });
            }
            match out.next_continuation_token() {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        Ok(objects)
    }

    /// Refuses (panics on) a directory that is not one or is protected.
    async fn delete_dir(&self, dir: &str) -> Result<usize, AwsCallError> {
        assert!(
            dir.ends_with('/') && !is_protected(dir),
            "refusing to delete {dir:?}"
        );
        let keys: Vec<String> = self
            .list(dir)
            .await?
            .into_iter()
            .filter(|k| !is_protected(k))
            .collect();
        for chunk in keys.chunks(1000) {
            let objects = chunk
                .iter()
                .map(|k| {
                    ObjectIdentifier::builder()
                        .key(k)
                        .build()
                        .expect("key is set")
                })
                .collect();
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(
                    Delete::builder()
                        .set_objects(Some(objects))
                        .quiet(true)
                        .build()
                        .expect("objects are set"),
                )
                .send()
                .await
                .map_err(|e| {
                    AwsCallError::from_sdk(
                        "DeleteObjects",
                        format!("s3://{}/{dir}", self.bucket),
                        &e,
                    )
                })?;
            if let Some(err) = out.errors().first() {
                return Err(AwsCallError {
                    operation: "DeleteObjects",
                    resource: format!("s3://{}/{}", self.bucket, err.key().unwrap_or(dir)),
                    class: ErrorClass::Retryable,
                    code: err.code().map(str::to_string),
                    message: err.message().unwrap_or_default().to_string(),
                });
            }
        }
        Ok(keys.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_and_taskowned_are_protected() {
        assert!(is_protected("cp/abc/shared/0a1b"));
        assert!(is_protected("cp/abc/taskowned/x"));
        assert!(!is_protected("cp/abc/chk-3/_metadata"));
    }
}
