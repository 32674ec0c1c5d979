//! Scaler state in DynamoDB (`pk`/`sk`): per target its state (`TARGET#<id>`/`STATE`, written
//! conditionally on the version read) and audit trail (`TARGET#<id>`/`AUDIT#<time>#<n>`), and one
//! claim per alarm transition and target (`CLAIM#<alarm>#<state time>#<target>`) so a
//! redelivered alarm event acts at most once.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use streamops_shared::AwsCallError;
use streamops_shared::dynamo::{self, Item, WriteOutcome, get_bool, get_n, get_s, n, s};

use crate::policy::TargetState;

pub struct ScalerStore {
    client: Client,
    table: String,
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

impl ScalerStore {
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_string(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// True when this (alarm transition, target) is seen for the first time.
    pub async fn claim(
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

    /// Takes the target's lease until `until` unless another invocation holds it; returns the
    /// holder otherwise. One decision at a time per target, even across concurrent invocations.
    pub async fn lease(
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

    /// Gives the lease back (only if still ours).
    pub async fn release(&self, target: &str, owner: &str) -> Result<(), AwsCallError> {
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

    pub async fn state(&self, target: &str) -> Result<TargetState, AwsCallError> {
        let Some(i) = dynamo::get_item(
            &self.client,
            &self.table,
            key(format!("TARGET#{target}"), "STATE"),
        )
        .await?
        else {
            return Ok(TargetState::default());
        };
        let time = |name: &str| {
            get_s(&i, name)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.to_utc())
        };
        let calls = match i.get("kinesis_calls") {
            Some(AttributeValue::L(l)) => l
                .iter()
                .filter_map(|v| v.as_s().ok())
                .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.to_utc())
                .collect(),
            _ => Vec::new(),
        };
        Ok(TargetState {
            last_action_at: time("last_action_at"),
            last_direction: get_s(&i, "last_direction")
                .and_then(|d| serde_json::from_value(Value::String(d.into())).ok()),
            last_size: get_n(&i, "last_size"),
            paused: get_bool(&i, "paused").unwrap_or(false),
            kinesis_calls: calls,
            memo: get_s(&i, "memo")
                .and_then(|m| serde_json::from_str(m).ok())
                .unwrap_or_default(),
            version: get_n(&i, dynamo::VERSION_ATTRIBUTE),
        })
    }

    /// Writes the state if nobody else did since it was read (then `st` holds the new version);
    /// false on a concurrent change.
    pub async fn save(
        &self,
        target: &str,
        st: &mut TargetState,
        now: DateTime<Utc>,
    ) -> Result<bool, AwsCallError> {
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
            s(serde_json::to_string(&st.memo).expect("memo serializes")),
        );
        item.insert("updated_at".into(), s(now.to_rfc3339()));
        let written = dynamo::put_if_version(&self.client, &self.table, "pk", item, st.version)
            .await?
            == WriteOutcome::Written;
        if written {
            st.version = Some(st.version.map_or(1, |v| v + 1));
        }
        Ok(written)
    }

    /// Appends one decision to the target's audit trail.
    pub async fn audit(
        &self,
        target: &str,
        entry: &Value,
        now: DateTime<Utc>,
        seq: usize,
    ) -> Result<(), AwsCallError> {
        let mut item = key(
            format!("TARGET#{target}"),
            &format!("AUDIT#{}#{seq:04}", now.to_rfc3339()),
        );
        item.insert("entry".into(), s(entry.to_string()));
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

    /// The newest audit entries of a target, newest first.
    pub async fn recent_audit(&self, target: &str, limit: i32) -> Result<Vec<Value>, AwsCallError> {
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
