//! The book in DynamoDB (one table, `pk`/`sk` strings), written with conditional writes only.
//!
//! | pk | sk | what |
//! |---|---|---|
//! | `JOB#<job>` | `POINT#C#<id, 20 digits>` / `POINT#S#<savepoint dir>` | one checkpoint or savepoint |
//! | `JOB#<job>` | `LATEST` | the job's latest restorable point (monotonic) |
//! | `JOB#<job>` | `PIPELINE` | which pipeline the job belongs to |
//! | `PIPELINE#<name>` | `LATEST` | the pipeline's latest restorable point (monotonic) |
//! | `PIPELINE#<name>` | `JOB#<job>` | lineage: the pipeline's jobs, restore source and mode |
//! | `JOBPREFIX#<6 hex>` | `JOB#<job>` | resolves savepoint directories (which carry 6 hex digits of the job id) |

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::DateTime;
use streamops_shared::AwsCallError;
use streamops_shared::dynamo::{self, Item, WriteOutcome, get_bool, get_n, get_s, n, s};

use crate::book::{CheckpointRecord, JobLineage, PointStatus, RestoreMode};
use crate::layout::PointKind;

const KEY: &str = "pk";

pub fn job_pk(job: &str) -> String {
    format!("JOB#{job}")
}

pub fn pipeline_pk(pipeline: &str) -> String {
    format!("PIPELINE#{pipeline}")
}

/// The sort key of a point: checkpoints by zero-padded id, savepoints by directory name.
pub fn point_sk(kind: PointKind, checkpoint_id: Option<u64>, dir: &str) -> String {
    match kind {
        PointKind::Checkpoint => format!("POINT#C#{:020}", checkpoint_id.unwrap_or_default()),
        PointKind::Savepoint => {
            let name = dir.trim_end_matches('/').rsplit('/').next().unwrap_or(dir);
            format!("POINT#S#{name}")
        }
    }
}

pub struct Book {
    client: Client,
    table: String,
}

impl Book {
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_string(),
        }
    }

    fn key(pk: String, sk: String) -> Item {
        HashMap::from([(KEY.to_string(), s(pk)), ("sk".to_string(), s(sk))])
    }

    /// Records a point once. A redelivered event finds it and changes nothing.
    pub async fn record(&self, r: &CheckpointRecord) -> Result<WriteOutcome, AwsCallError> {
        let mut item = Self::key(job_pk(&r.job_id), point_sk(r.kind, r.checkpoint_id, &r.dir));
        item.extend(point_attributes(r));
        dynamo::put_if_absent(&self.client, &self.table, KEY, item, 0).await
    }

    /// Moves a latest pointer to `r` only if `r` is newer than what it names.
    pub async fn advance_latest(
        &self,
        pk: String,
        r: &CheckpointRecord,
    ) -> Result<WriteOutcome, AwsCallError> {
        let mut item = Self::key(pk, "LATEST".into());
        item.insert("location".into(), s(r.location.clone()));
        item.insert("kind".into(), s(r.kind.as_str()));
        item.insert("job_id".into(), s(r.job_id.clone()));
        item.insert(
            "point_sk".into(),
            s(point_sk(r.kind, r.checkpoint_id, &r.dir)),
        );
        item.insert("completed_at".into(), s(r.completed_at.to_rfc3339()));
        if let Some(id) = r.checkpoint_id {
            item.insert("checkpoint_id".into(), n(id));
        }
        dynamo::put_if_newer(&self.client, &self.table, KEY, item, "order", r.order()).await
    }

    /// The latest pointer of a job or pipeline key: (location, job id, point sort key).
    pub async fn latest(
        &self,
        pk: String,
    ) -> Result<Option<(String, String, String)>, AwsCallError> {
        let item =
            dynamo::get_item(&self.client, &self.table, Self::key(pk, "LATEST".into())).await?;
        Ok(item.and_then(|i| {
            Some((
                get_s(&i, "location")?.to_string(),
                get_s(&i, "job_id")?.to_string(),
                get_s(&i, "point_sk")?.to_string(),
            ))
        }))
    }

    /// Sets a point's status, but never revives a pruned point or resurrects a corrupt one.
    pub async fn set_status(
        &self,
        job: &str,
        sk: &str,
        from: PointStatus,
        to: PointStatus,
    ) -> Result<bool, AwsCallError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(job_pk(job), sk.to_string())))
            .update_expression("SET #st = :to")
            .condition_expression("attribute_exists(pk) AND #st = :from")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":from", s(from.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(AwsCallError::from_sdk(
                "UpdateItem (status)",
                &self.table,
                &e,
            )),
        }
    }

    pub async fn set_pinned(
        &self,
        job: &str,
        sk: &str,
        pinned: bool,
    ) -> Result<bool, AwsCallError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(job_pk(job), sk.to_string())))
            .update_expression("SET pinned = :p")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":p", AttributeValue::Bool(pinned))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(AwsCallError::from_sdk("UpdateItem (pin)", &self.table, &e)),
        }
    }

    /// Every point of a job, oldest first.
    pub async fn points(&self, job: &str) -> Result<Vec<CheckpointRecord>, AwsCallError> {
        let items = self.query(job_pk(job), "POINT#").await?;
        Ok(items.iter().filter_map(record_from_item).collect())
    }

    pub async fn point(
        &self,
        job: &str,
        sk: &str,
    ) -> Result<Option<CheckpointRecord>, AwsCallError> {
        let item = dynamo::get_item(
            &self.client,
            &self.table,
            Self::key(job_pk(job), sk.to_string()),
        )
        .await?;
        Ok(item.as_ref().and_then(record_from_item))
    }

    /// Registers a job of a pipeline (idempotent: the last registration wins).
    pub async fn register_job(&self, j: &JobLineage) -> Result<(), AwsCallError> {
        streamops_shared::lineage::register_job(
            &self.client,
            &self.table,
            &j.pipeline,
            &j.job_id,
            j.restored_from.as_deref(),
            j.restore_mode.map(RestoreMode::as_str),
            j.registered_at,
        )
        .await
    }

    /// Remembers a full job id under its first six hex digits, for savepoint directories.
    pub async fn index_job(&self, job: &str) -> Result<(), AwsCallError> {
        let prefix: String = job.chars().take(6).collect();
        self.put(Self::key(
            format!("JOBPREFIX#{prefix}"),
            format!("JOB#{job}"),
        ))
        .await
    }

    pub async fn jobs_with_prefix(&self, prefix: &str) -> Result<Vec<String>, AwsCallError> {
        let items = self.query(format!("JOBPREFIX#{prefix}"), "JOB#").await?;
        Ok(items
            .iter()
            .filter_map(|i| get_s(i, "sk")?.strip_prefix("JOB#").map(str::to_string))
            .collect())
    }

    pub async fn pipeline_of(&self, job: &str) -> Result<Option<String>, AwsCallError> {
        let item = dynamo::get_item(
            &self.client,
            &self.table,
            Self::key(job_pk(job), "PIPELINE".into()),
        )
        .await?;
        Ok(item.and_then(|i| get_s(&i, "pipeline").map(str::to_string)))
    }

    pub async fn lineage(&self, pipeline: &str) -> Result<Vec<JobLineage>, AwsCallError> {
        let items = self.query(pipeline_pk(pipeline), "JOB#").await?;
        Ok(items
            .iter()
            .filter_map(|i| {
                Some(JobLineage {
                    pipeline: pipeline.to_string(),
                    job_id: get_s(i, "job_id")?.to_string(),
                    restored_from: get_s(i, "restored_from").map(str::to_string),
                    restore_mode: get_s(i, "restore_mode")
                        .and_then(|m| m.parse::<RestoreMode>().ok()),
                    registered_at: get_s(i, "registered_at")
                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                        .map(|t| t.to_utc())
                        .unwrap_or_default(),
                })
            })
            .collect())
    }

    async fn put(&self, item: Item) -> Result<(), AwsCallError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsCallError::from_sdk("PutItem", &self.table, &e))
    }

    async fn query(&self, pk: String, sk_prefix: &str) -> Result<Vec<Item>, AwsCallError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":p", s(sk_prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| AwsCallError::from_sdk("Query", &self.table, &e))?;
            out.extend(resp.items().iter().cloned());
            match resp.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(out)
    }
}

fn point_attributes(r: &CheckpointRecord) -> Item {
    let mut item: Item = HashMap::new();
    item.insert("pipeline".into(), s(r.pipeline.clone()));
    item.insert("job_id".into(), s(r.job_id.clone()));
    item.insert("kind".into(), s(r.kind.as_str()));
    if let Some(id) = r.checkpoint_id {
        item.insert("checkpoint_id".into(), n(id));
    }
    item.insert("location".into(), s(r.location.clone()));
    item.insert("dir".into(), s(r.dir.clone()));
    item.insert("size".into(), n(r.size));
    item.insert("completed_at".into(), s(r.completed_at.to_rfc3339()));
    item.insert("order".into(), n(r.order()));
    if let Some(etag) = &r.etag {
        item.insert("etag".into(), s(etag.clone()));
    }
    item.insert("status".into(), s(r.status.as_str()));
    item.insert("pinned".into(), AttributeValue::Bool(r.pinned));
    if let Some(d) = &r.detail {
        item.insert("detail".into(), s(d.clone()));
    }
    item
}

fn record_from_item(i: &Item) -> Option<CheckpointRecord> {
    let kind = match get_s(i, "kind")? {
        "checkpoint" => PointKind::Checkpoint,
        "savepoint" => PointKind::Savepoint,
        _ => return None,
    };
    Some(CheckpointRecord {
        pipeline: get_s(i, "pipeline")?.to_string(),
        job_id: get_s(i, "job_id")?.to_string(),
        kind,
        checkpoint_id: get_n(i, "checkpoint_id"),
        location: get_s(i, "location")?.to_string(),
        dir: get_s(i, "dir")?.to_string(),
        size: get_n(i, "size").unwrap_or_default(),
        completed_at: DateTime::parse_from_rfc3339(get_s(i, "completed_at")?)
            .ok()?
            .to_utc(),
        etag: get_s(i, "etag").map(str::to_string),
        status: get_s(i, "status")?.parse().ok()?,
        pinned: get_bool(i, "pinned").unwrap_or(false),
        detail: get_s(i, "detail").map(str::to_string),
    })
}
