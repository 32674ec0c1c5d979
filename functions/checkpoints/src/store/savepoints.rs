//! The book's items of the savepoints the function takes: the claim of a pipeline's schedule
//! slot (`PIPELINE#<p>` / `SAVEPOINT#<slot>`, expiring after [`CLAIM_DAYS`]) and the trigger
//! of a savepoint directory (`SAVEPOINT#<dir>` / `TRIGGER`), which whichever of the command
//! and the `_metadata` object event books the point first copies onto it.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration};
use streamops_shared::AwsCallError;
use streamops_shared::book_keys::{self, PK};
use streamops_shared::dynamo::{self, Item, TTL_ATTRIBUTE, WriteOutcome, get_bool, get_s, n, s};

use super::Book;
use crate::book::PointId;
use crate::savepoint::{ClaimState, SavepointClaim, SavepointTrigger, TriggerKind};

/// How long a claim holds its slot: far longer than any retry of its invocation.
pub const CLAIM_DAYS: i64 = 30;

fn claim_key(pipeline: &str, slot: &str) -> Item {
    book_keys::key(
        book_keys::pipeline_pk(pipeline),
        format!("SAVEPOINT#{slot}"),
    )
}

fn trigger_key(dir: &str) -> Item {
    book_keys::key(format!("SAVEPOINT#{dir}"), "TRIGGER".into())
}

pub fn trigger_attributes(t: &SavepointTrigger) -> Item {
    Item::from([
        ("trigger_kind".into(), s(t.kind.as_str())),
        ("trigger_id".into(), s(t.trigger_id.clone())),
        ("requested_by".into(), s(t.requested_by.clone())),
        ("requested_at".into(), s(t.requested_at.to_rfc3339())),
    ])
}

pub fn trigger_from_item(i: &Item) -> Option<SavepointTrigger> {
    let kind = match get_s(i, "trigger_kind")? {
        "scheduled" => TriggerKind::Scheduled,
        "manual" => TriggerKind::Manual,
        _ => return None,
    };
    Some(SavepointTrigger {
        kind,
        trigger_id: get_s(i, "trigger_id")?.to_string(),
        requested_by: get_s(i, "requested_by").unwrap_or_default().to_string(),
        requested_at: DateTime::parse_from_rfc3339(get_s(i, "requested_at")?)
            .ok()?
            .to_utc(),
    })
}

fn claim_item(c: &SavepointClaim) -> Item {
    let mut item = claim_key(&c.pipeline, &c.slot);
    item.extend(trigger_attributes(&c.trigger));
    item.insert("job_id".into(), s(c.job_id.clone()));
    let expires = c.trigger.requested_at + Duration::days(CLAIM_DAYS);
    item.insert(TTL_ATTRIBUTE.into(), n(expires.timestamp()));
    let (state, posted) = match &c.state {
        ClaimState::Triggered { posted } => ("triggered", *posted),
        ClaimState::Completed { location } => {
            item.insert("location".into(), s(location.clone()));
            ("completed", true)
        }
        ClaimState::Failed { reason } => {
            item.insert("reason".into(), s(reason.clone()));
            ("failed", true)
        }
    };
    item.insert("state".into(), s(state));
    item.insert("posted".into(), AttributeValue::Bool(posted));
    item
}

fn claim_from_item(pipeline: &str, slot: &str, i: &Item) -> Option<SavepointClaim> {
    let state = match get_s(i, "state")? {
        "triggered" => ClaimState::Triggered {
            posted: get_bool(i, "posted").unwrap_or(false),
        },
        "completed" => ClaimState::Completed {
            location: get_s(i, "location")?.to_string(),
        },
        "failed" => ClaimState::Failed {
            reason: get_s(i, "reason").unwrap_or_default().to_string(),
        },
        _ => return None,
    };
    Some(SavepointClaim {
        pipeline: pipeline.to_string(),
        slot: slot.to_string(),
        job_id: get_s(i, "job_id")?.to_string(),
        trigger: trigger_from_item(i)?,
        state,
    })
}

impl Book {
    pub(super) async fn put_claim(&self, c: &SavepointClaim) -> Result<WriteOutcome, AwsCallError> {
        let now = c.trigger.requested_at.timestamp();
        dynamo::put_if_absent(&self.client, &self.table, PK, claim_item(c), now).await
    }

    pub(super) async fn get_claim(
        &self,
        pipeline: &str,
        slot: &str,
    ) -> Result<Option<SavepointClaim>, AwsCallError> {
        let item = dynamo::get_item(&self.client, &self.table, claim_key(pipeline, slot)).await?;
        Ok(item.and_then(|i| claim_from_item(pipeline, slot, &i)))
    }

    pub(super) async fn overwrite_claim(&self, c: &SavepointClaim) -> Result<(), AwsCallError> {
        self.put(claim_item(c)).await
    }

    pub(super) async fn put_trigger(
        &self,
        dir: &str,
        t: &SavepointTrigger,
    ) -> Result<(), AwsCallError> {
        let mut item = trigger_key(dir);
        item.extend(trigger_attributes(t));
        self.put(item).await
    }

    pub(super) async fn get_trigger(
        &self,
        dir: &str,
    ) -> Result<Option<SavepointTrigger>, AwsCallError> {
        let item = dynamo::get_item(&self.client, &self.table, trigger_key(dir)).await?;
        Ok(item.as_ref().and_then(trigger_from_item))
    }

    pub(super) async fn put_point_trigger(
        &self,
        id: &PointId,
        t: &SavepointTrigger,
    ) -> Result<bool, AwsCallError> {
        self.update_point(
            "UpdateItem (trigger)",
            id,
            "SET trigger_kind = :k, trigger_id = :t, requested_by = :b, requested_at = :a",
            "attribute_exists(pk)",
            vec![
                (":k", s(t.kind.as_str())),
                (":t", s(t.trigger_id.clone())),
                (":b", s(t.requested_by.clone())),
                (":a", s(t.requested_at.to_rfc3339())),
            ],
        )
        .await
    }
}
