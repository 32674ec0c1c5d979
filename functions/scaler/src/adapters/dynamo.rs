//! The state store and the checkpoints book in DynamoDB (`pk`/`sk`): per target its state
//! (`TARGET#<id>`/`STATE`, written conditionally on the version read) and audit trail
//! (`TARGET#<id>`/`AUDIT#<time>#<n>`), its lease (`LEASE#<id>`/`LEASE`), and one claim per alarm
//! transition and target (`CLAIM#<alarm>#<state time>#<target>`) so a redelivered alarm event
//! acts at most once.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use streamops_shared::AwsCallError;
use streamops_shared::dynamo::{self, Item, WriteOutcome, get_bool, get_n, get_s, n, s};

use crate::audit::{AuditEntry, audit_key};
use crate::policy::TargetState;
use crate::ports::{CheckpointsBook, StateStore};

pub struct DynamoStore {
    client: Client,
    table: String,
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

impl DynamoStore {
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_string(),
        }
    }
}

fn time(i: &Item, name: &str) -> Option<DateTime<Utc>> {
    get_s(i, name)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.to_utc())
}

fn state_from(i: &Item) -> TargetState {
    let calls = match i.get("kinesis_calls") {
        Some(AttributeValue::L(l)) => l
            .iter()
            .filter_map(|v| v.as_s().ok())
            .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.to_utc())
            .collect(),
        _ => Vec::new(),
    };
    TargetState {
        last_action_at: time(i, "last_action_at"),
        last_direction: get_s(i, "last_direction")
            .and_then(|d| serde_json::from_value(Value::String(d.into())).ok()),
        last_size: get_n(i, "last_size"),
        paused: get_bool(i, "paused").unwrap_or(false),
        kinesis_calls: calls,
        memo: get_s(i, "memo")
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_default(),
        version: get_n(i, dynamo::VERSION_ATTRIBUTE),
    }
}

fn state_item(target: &str, st: &TargetState, now: DateTime<Utc>) -> Item {
    let mut item = key(format!("TARGET#{target}"), "STATE");
    if let Some(t) = st.last_action_at {
        item.insert("last_action_at".into(), s(t.to_rfc3339()));
    }
    if let Some(d) = st.last_direction {
        item.insert("last_direction".into(), s(d.word()));
    }
    if let Some(sz) = st.last_size {
        item.insert("last_size".into(), n(sz));
    }
    item.insert("paused".into(), AttributeValue::Bool(st.paused));
    let recent: Vec<AttributeValue> = st
        .kinesis_calls
        .iter()
        .filter(|t| now - **t < Duration::hours(24))
        .map(|t| s(t.to_rfc3339()))
        .collect();
    item.insert("kinesis_calls".into(), AttributeValue::L(recent));
    item.insert(
        "memo".into(),
        // Strings, numbers and timestamps: serializing cannot fail.
        s(serde_json::to_string(&st.memo).expect("memo serializes")),
    );
    item.insert("updated_at".into(), s(now.to_rfc3339()));
    item
}

impl StateStore for DynamoStore {
    async fn claim(
        &self,
        alarm: &str,
        state_time: &str,
        target: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, AwsCallError> {
        let mut item = key(format!("CLAIM#{alarm}#{state_time}#{target}"), "CLAIM");
        item.insert(
            dynamo::TTL_ATTRIBUTE.into(),
            n((now + Duration::days(7)).timestamp()),
        );
        Ok(
            dynamo::put_if_absent(&self.client, &self.table, "pk", item, now.timestamp()).await?
                == WriteOutcome::Written,
        )
    }

    async fn unclaim(
        &self,
        alarm: &str,
        state_time: &str,
        target: &str,
    ) -> Result<(), AwsCallError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(
                format!("CLAIM#{alarm}#{state_time}#{target}"),
                "CLAIM",
            )))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsCallError::from_sdk("DeleteItem (claim)", &self.table, &e))
    }

    async fn lease(
        &self,
        target: &str,
        owner: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Result<(), String>, AwsCallError> {
        let mut item = key(format!("LEASE#{target}"), "LEASE");
        item.insert("owner".into(), s(owner));
        item.insert(dynamo::TTL_ATTRIBUTE.into(), n(until.timestamp()));
        if dynamo::put_if_absent(&self.client, &self.table, "pk", item, now.timestamp()).await?
            == WriteOutcome::Written
        {
            return Ok(Ok(()));
        }
        let held = dynamo::get_item(
            &self.client,
            &self.table,
            key(format!("LEASE#{target}"), "LEASE"),
        )
        .await?
        .map(|i| {
            format!(
                "{} until {}",
                get_s(&i, "owner").unwrap_or("?"),
                get_n::<i64>(&i, dynamo::TTL_ATTRIBUTE)
                    .and_then(|t| DateTime::from_timestamp(t, 0))
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default()
            )
        })
        .unwrap_or_else(|| "another invocation".into());
        Ok(Err(held))
    }

    async fn release(&self, target: &str, owner: &str) -> Result<(), AwsCallError> {
        dynamo::delete_if_equals(
            &self.client,
            &self.table,
            key(format!("LEASE#{target}"), "LEASE"),
            "owner",
            s(owner),
        )
        .await
        .map(|_| ())
    }

    async fn state(&self, target: &str) -> Result<TargetState, AwsCallError> {
        let item = dynamo::get_item(
            &self.client,
            &self.table,
            key(format!("TARGET#{target}"), "STATE"),
        )
        .await?;
        Ok(item.as_ref().map(state_from).unwrap_or_default())
    }

    async fn put_state(
        &self,
        target: &str,
        st: &TargetState,
        now: DateTime<Utc>,
    ) -> Result<bool, AwsCallError> {
        let item = state_item(target, st, now);
        Ok(
            dynamo::put_if_version(&self.client, &self.table, "pk", item, st.version).await?
                == WriteOutcome::Written,
        )
    }

    async fn audit(
        &self,
        target: &str,
        entry: &AuditEntry,
        now: DateTime<Utc>,
        seq: usize,
    ) -> Result<(), AwsCallError> {
        let mut item = key(format!("TARGET#{target}"), &audit_key(now, seq));
        item.insert("entry".into(), s(entry.to_json().to_string()));
        item.insert(
            dynamo::TTL_ATTRIBUTE.into(),
            n((now + Duration::days(90)).timestamp()),
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsCallError::from_sdk("PutItem (audit)", &self.table, &e))
    }

    async fn recent_audit(&self, target: &str, limit: i32) -> Result<Vec<Value>, AwsCallError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :a)")
            .expression_attribute_values(":pk", s(format!("TARGET#{target}")))
            .expression_attribute_values(":a", s("AUDIT#"))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("Query (audit)", &self.table, &e))?;
        Ok(out
            .items()
            .iter()
            .filter_map(|i| get_s(i, "entry").and_then(|e| serde_json::from_str(e).ok()))
            .collect())
    }
}

/// The checkpoints book's pipeline registry (another table, the same client).
pub struct DynamoBook {
    client: Client,
    table: String,
}

impl DynamoBook {
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_string(),
        }
    }
}

impl CheckpointsBook for DynamoBook {
    async fn register_job(
        &self,
        pipeline: &str,
        job_id: &str,
        restored_from: &str,
        restore_mode: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AwsCallError> {
        streamops_shared::lineage::register_job(
            &self.client,
            &self.table,
            pipeline,
            job_id,
            Some(restored_from),
            Some(restore_mode),
            now,
        )
        .await
    }
}
