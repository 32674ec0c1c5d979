//! The checkpoints book, read only (`ALERTS_CHECKPOINTS_TABLE`): a pipeline's latest pointer
//! and that point's status, by the layout `streamops_shared::book_keys` owns. An alert that
//! follows a checkpoint failure names the point a recovery would start from.

use aws_sdk_dynamodb::Client;
use chrono::DateTime;
use streamops_shared::AwsCallError;
use streamops_shared::book_keys::{self, LATEST, POINT_STATUS, pointer_attr as ptr};
use streamops_shared::dynamo::{self, get_n, get_s};

use crate::context::RestorePoint;
use crate::ports::RestorePoints;

/// The book in DynamoDB; with no table configured it answers that it knows no point.
#[derive(Clone)]
pub struct BookReader {
    client: Client,
    table: Option<String>,
}

impl BookReader {
    pub fn new(client: Client, table: Option<String>) -> Self {
        Self { client, table }
    }
}

impl RestorePoints for BookReader {
    async fn latest_point(&self, pipeline: &str) -> Result<Option<RestorePoint>, AwsCallError> {
        let Some(table) = &self.table else {
            return Ok(None);
        };
        let pointer_key = book_keys::key(book_keys::pipeline_pk(pipeline), LATEST.into());
        let Some(pointer) = dynamo::get_item(&self.client, table, pointer_key).await? else {
            return Ok(None);
        };
        let (Some(location), Some(job_id)) =
            (get_s(&pointer, ptr::LOCATION), get_s(&pointer, ptr::JOB_ID))
        else {
            return Ok(None);
        };
        let status = match get_s(&pointer, ptr::POINT_SK) {
            Some(sk) => {
                let key = book_keys::key(book_keys::job_pk(job_id), sk.to_string());
                dynamo::get_item(&self.client, table, key)
                    .await?
                    .and_then(|p| get_s(&p, POINT_STATUS).map(str::to_string))
            }
            None => None,
        };
        Ok(Some(RestorePoint {
            location: location.to_string(),
            kind: get_s(&pointer, ptr::KIND).unwrap_or("point").to_string(),
            job_id: job_id.to_string(),
            checkpoint_id: get_n(&pointer, ptr::CHECKPOINT_ID),
            completed_at: get_s(&pointer, ptr::COMPLETED_AT)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.to_utc()),
            status,
        }))
    }
}
