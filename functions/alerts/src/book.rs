//! The checkpoints book, read only (`ALERTS_CHECKPOINTS_TABLE`): a pipeline's latest pointer
//! and that point's status, by the layout `streamops_shared::book_keys` owns. An alert that
//! follows a checkpoint failure names the point a recovery would start from.

use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use serde::Serialize;
use streamops_shared::AwsCallError;
use streamops_shared::book_keys::{self, LATEST, POINT_STATUS, pointer_attr as ptr};
use streamops_shared::dynamo::{self, get_n, get_s};

use crate::ports::RestorePoints;

/// A pipeline's latest restorable point, as the book's pointer names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestorePoint {
    pub location: String,
    /// `checkpoint` or `savepoint`.
    pub kind: String,
    pub job_id: String,
    pub checkpoint_id: Option<u64>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The point's own status (`restorable`, or what became of it since the pointer moved).
    pub status: Option<String>,
}

impl RestorePoint {
    /// The line added to an alert.
    pub fn annotation(&self) -> String {
        let what = match self.checkpoint_id {
            Some(id) => format!("{} {id}", self.kind),
            None => self.kind.clone(),
        };
        let when = self
            .completed_at
            .map(|t| format!(", completed {}", t.format("%Y-%m-%dT%H:%M:%SZ")))
            .unwrap_or_default();
        let status = match self.status.as_deref() {
            Some("restorable") | None => String::new(),
            Some(other) => format!(" (marked {other}: `checkpoints latest` names a verified one)"),
        };
        format!(
            "{} ({what} of job {}{when}){status}",
            self.location, self.job_id
        )
    }
}

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
