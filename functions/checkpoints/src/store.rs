//! The book in DynamoDB, written with conditional writes only. The key layout (which items have
//! which `pk`/`sk`) belongs to [`streamops_shared::book_keys`], shared with the scaler's lineage
//! writes; this adapter stores and reads the items.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::DateTime;
use streamops_shared::AwsCallError;
use streamops_shared::book_keys::{
    self, LATEST, PIPELINE, PK, lineage_attr as attr, pointer_attr as ptr,
};
use streamops_shared::dynamo::{self, Item, WriteOutcome, get_bool, get_n, get_s, n, s};

use crate::book::{CheckpointRecord, JobLineage, PointId, PointStatus, RestoreMode, Scope};
use crate::layout::PointKind;
use crate::ports::{BookStore, LatestPointer};
use crate::savepoint::{SavepointClaim, SavepointTrigger};

fn pointer_pk(of: &Scope) -> String {
    match of {
        Scope::Job(j) => book_keys::job_pk(j),
        Scope::Pipeline(p) => book_keys::pipeline_pk(p),
    }
}

fn point_key(id: &PointId) -> Item {
    book_keys::key(book_keys::job_pk(&id.job_id), id.sk.clone())
}

mod savepoints;
use savepoints::{trigger_attributes, trigger_from_item};

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

    /// `SET <set>` on a point if `condition` holds; `false` when it does not.
    pub(crate) async fn update_point(
        &self,
        operation: &'static str,
        id: &PointId,
        set: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, AwsCallError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(point_key(id)))
            .update_expression(set)
            .condition_expression(condition);
        if set.contains("#st") || condition.contains("#st") {
            request = request.expression_attribute_names("#st", book_keys::POINT_STATUS);
        }
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(AwsCallError::from_sdk(operation, &self.table, &e)),
        }
    }

    pub(crate) async fn put(&self, item: Item) -> Result<(), AwsCallError> {
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

impl Book {
    /// One page of the pipelines index (the items under `PIPELINE#<name>`, keys only).
    async fn pipeline_keys(
        &self,
        start: Option<Item>,
    ) -> Result<(Vec<String>, Option<Item>), AwsCallError> {
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(book_keys::PIPELINES_INDEX)
            .key_condition_expression("#r = :r")
            .expression_attribute_names("#r", book_keys::REGISTRY)
            .expression_attribute_values(":r", s(book_keys::PIPELINE_REGISTRY))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("Query (pipelines index)", &self.table, &e))?;
        let names = page
            .items()
            .iter()
            .filter_map(|i| Some(book_keys::pipeline_of_pk(get_s(i, PK)?)?.to_string()))
            .collect();
        let next = page.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
        Ok((names, next))
    }
}

impl BookStore for Book {
    async fn record(&self, r: &CheckpointRecord) -> Result<WriteOutcome, AwsCallError> {
        let mut item = point_key(&r.id());
        item.extend(point_attributes(r));
        dynamo::put_if_absent(&self.client, &self.table, PK, item, 0).await
    }

    async fn advance_latest(
        &self,
        of: &Scope,
        r: &CheckpointRecord,
    ) -> Result<WriteOutcome, AwsCallError> {
        let mut item = book_keys::key(pointer_pk(of), LATEST.into());
        if let Scope::Pipeline(_) = of {
            // Listed by the pipelines index (`health`).
            item.insert(book_keys::REGISTRY.into(), s(book_keys::PIPELINE_REGISTRY));
        }
        item.insert(ptr::LOCATION.into(), s(r.location.clone()));
        item.insert(ptr::KIND.into(), s(r.kind.as_str()));
        item.insert(ptr::JOB_ID.into(), s(r.job_id.clone()));
        item.insert(ptr::POINT_SK.into(), s(r.id().sk));
        item.insert(ptr::COMPLETED_AT.into(), s(r.completed_at.to_rfc3339()));
        if let Some(id) = r.checkpoint_id {
            item.insert(ptr::CHECKPOINT_ID.into(), n(id));
        }
        dynamo::put_if_newer(&self.client, &self.table, PK, item, "order", r.order()).await
    }

    async fn latest(&self, of: &Scope) -> Result<Option<LatestPointer>, AwsCallError> {
        let key = book_keys::key(pointer_pk(of), LATEST.into());
        let item = dynamo::get_item(&self.client, &self.table, key).await?;
        Ok(item.and_then(|i| {
            Some(LatestPointer {
                location: get_s(&i, ptr::LOCATION)?.to_string(),
                point: PointId {
                    job_id: get_s(&i, ptr::JOB_ID)?.to_string(),
                    sk: get_s(&i, ptr::POINT_SK)?.to_string(),
                },
            })
        }))
    }

    async fn point(&self, id: &PointId) -> Result<Option<CheckpointRecord>, AwsCallError> {
        let item = dynamo::get_item(&self.client, &self.table, point_key(id)).await?;
        Ok(item.as_ref().and_then(record_from_item))
    }

    async fn points(&self, job: &str) -> Result<Vec<CheckpointRecord>, AwsCallError> {
        let items = self
            .query(book_keys::job_pk(job), book_keys::POINT_PREFIX)
            .await?;
        Ok(items.iter().filter_map(record_from_item).collect())
    }

    /// Never revives a pruned point or resurrects a corrupt one: only `from` moves.
    async fn set_status(
        &self,
        id: &PointId,
        from: PointStatus,
        to: PointStatus,
    ) -> Result<bool, AwsCallError> {
        self.update_point(
            "UpdateItem (status)",
            id,
            "SET #st = :to",
            "attribute_exists(pk) AND #st = :from",
            vec![(":to", s(to.as_str())), (":from", s(from.as_str()))],
        )
        .await
    }

    async fn mark_pruning(&self, id: &PointId, from: PointStatus) -> Result<bool, AwsCallError> {
        self.update_point(
            "UpdateItem (prune)",
            id,
            "SET #st = :to",
            "attribute_exists(pk) AND #st = :from AND (attribute_not_exists(pinned) OR pinned = :no)",
            vec![
                (":to", s(PointStatus::Pruning.as_str())),
                (":from", s(from.as_str())),
                (":no", AttributeValue::Bool(false)),
            ],
        )
        .await
    }

    async fn set_pinned(&self, id: &PointId, pinned: bool) -> Result<bool, AwsCallError> {
        self.update_point(
            "UpdateItem (pin)",
            id,
            "SET pinned = :p",
            "attribute_exists(pk)",
            vec![(":p", AttributeValue::Bool(pinned))],
        )
        .await
    }

    async fn forget(&self, id: &PointId) -> Result<(), AwsCallError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(point_key(id)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsCallError::from_sdk("DeleteItem (forget)", &self.table, &e))
    }

    async fn register_job(&self, j: &JobLineage) -> Result<(), AwsCallError> {
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

    async fn index_job(&self, job: &str) -> Result<(), AwsCallError> {
        self.put(book_keys::key(
            book_keys::job_prefix_pk(job),
            book_keys::job_sk(job),
        ))
        .await
    }

    async fn jobs_with_prefix(&self, prefix: &str) -> Result<Vec<String>, AwsCallError> {
        let items = self
            .query(book_keys::job_prefix_pk(prefix), book_keys::JOB_PREFIX)
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| book_keys::job_of_sk(get_s(i, book_keys::SK)?).map(str::to_string))
            .collect())
    }

    async fn pipeline_of(&self, job: &str) -> Result<Option<String>, AwsCallError> {
        let key = book_keys::key(book_keys::job_pk(job), PIPELINE.into());
        let item = dynamo::get_item(&self.client, &self.table, key).await?;
        Ok(item.and_then(|i| get_s(&i, attr::PIPELINE).map(str::to_string)))
    }

    async fn lineage(&self, pipeline: &str) -> Result<Vec<JobLineage>, AwsCallError> {
        let items = self
            .query(book_keys::pipeline_pk(pipeline), book_keys::JOB_PREFIX)
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| {
                Some(JobLineage {
                    pipeline: pipeline.to_string(),
                    job_id: get_s(i, attr::JOB_ID)?.to_string(),
                    restored_from: get_s(i, attr::RESTORED_FROM).map(str::to_string),
                    restore_mode: get_s(i, attr::RESTORE_MODE)
                        .and_then(|m| m.parse::<RestoreMode>().ok()),
                    registered_at: get_s(i, attr::REGISTERED_AT)
                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                        .map(|t| t.to_utc())
                        .unwrap_or_default(),
                })
            })
            .collect())
    }

    async fn claim_savepoint(&self, c: &SavepointClaim) -> Result<WriteOutcome, AwsCallError> {
        self.put_claim(c).await
    }

    async fn savepoint_claim(
        &self,
        pipeline: &str,
        slot: &str,
    ) -> Result<Option<SavepointClaim>, AwsCallError> {
        self.get_claim(pipeline, slot).await
    }

    async fn update_claim(&self, c: &SavepointClaim) -> Result<(), AwsCallError> {
        self.overwrite_claim(c).await
    }

    async fn note_trigger(&self, dir: &str, t: &SavepointTrigger) -> Result<(), AwsCallError> {
        self.put_trigger(dir, t).await
    }

    async fn trigger_of(&self, dir: &str) -> Result<Option<SavepointTrigger>, AwsCallError> {
        self.get_trigger(dir).await
    }

    async fn set_trigger(&self, id: &PointId, t: &SavepointTrigger) -> Result<bool, AwsCallError> {
        self.put_point_trigger(id, t).await
    }

    /// From the sparse pipelines index: one item per pipeline pointer and registered job, never
    /// the points (a Scan would read every point the book ever had).
    async fn pipelines(&self) -> Result<Vec<String>, AwsCallError> {
        let mut names = std::collections::BTreeSet::new();
        let mut start = None;
        loop {
            let (page, next) = self.pipeline_keys(start).await?;
            names.extend(page);
            match next {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        Ok(names.into_iter().collect())
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
    item.insert(book_keys::POINT_STATUS.into(), s(r.status.as_str()));
    item.insert("pinned".into(), AttributeValue::Bool(r.pinned));
    if let Some(d) = &r.detail {
        item.insert("detail".into(), s(d.clone()));
    }
    if let Some(t) = &r.trigger {
        item.extend(trigger_attributes(t));
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
        status: get_s(i, book_keys::POINT_STATUS)?.parse().ok()?,
        pinned: get_bool(i, "pinned").unwrap_or(false),
        detail: get_s(i, "detail").map(str::to_string),
        trigger: trigger_from_item(i),
    })
}
