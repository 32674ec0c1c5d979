//! The delivery ledger in DynamoDB: one item per lane (`pk`), with the high-water mark, the
//! pending positions, and the version the conditional write checks.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use streamops_shared::dynamo::{self, Item, WriteOutcome, get_n, get_s, n, s};
use streamops_shared::{AwsCallError, ErrorClass};

use crate::ledger::LaneLedger;
use crate::origin::cmp_position;
use crate::ports::Ledger;

pub struct LedgerStore {
    client: Client,
    table: String,
    ttl_seconds: i64,
}

const KEY: &str = "pk";

impl LedgerStore {
    pub fn new(client: Client, table: &str, ttl_seconds: i64) -> Self {
        Self {
            client,
            table: table.to_string(),
            ttl_seconds,
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

impl Ledger for LedgerStore {
    /// Reads the ledgers of the given lanes (one GetItem each; a batch has few lanes).
    async fn load(&self, lanes: &[String]) -> Result<HashMap<String, LaneLedger>, AwsCallError> {
        let mut out = HashMap::new();
        for lane in lanes {
            let key = HashMap::from([(KEY.to_string(), s(lane.clone()))]);
            let item = dynamo::get_item(&self.client, &self.table, key).await?;
            out.insert(
                lane.clone(),
                item.map(|i| from_item(&i)).unwrap_or_default(),
            );
        }
        Ok(out)
    }

    /// Writes a lane's new ledger, conditional on the version it was read at.
    async fn save(
        &self,
        lane: &str,
        ledger: &LaneLedger,
        now: DateTime<Utc>,
    ) -> Result<(), AwsCallError> {
        let mut item: Item = HashMap::new();
        item.insert(KEY.into(), s(lane));
        if let Some(hw) = &ledger.high_water {
            item.insert("high_water".into(), s(hw.clone()));
        }
        item.insert(
            "pending".into(),
            AttributeValue::L(ledger.pending.iter().map(|p| s(p.clone())).collect()),
        );
        item.insert("pending_count".into(), n(ledger.pending.len()));
        item.insert("updated_at".into(), s(now.to_rfc3339()));
        item.insert(
            dynamo::TTL_ATTRIBUTE.into(),
            n(now.timestamp() + self.ttl_seconds),
        );
        match dynamo::put_if_version(&self.client, &self.table, KEY, item, ledger.version).await? {
            WriteOutcome::Written => Ok(()),
            WriteOutcome::ConditionFailed => Err(AwsCallError {
                operation: "PutItem (ledger)",
                resource: format!("{}/{lane}", self.table),
                class: ErrorClass::Permanent,
                code: Some("ConditionalCheckFailedException".into()),
                message: "another invocation updated this lane's ledger concurrently; is the event source mapping's ParallelizationFactor above 1?".into(),
            }),
        }
    }
}

fn from_item(item: &Item) -> LaneLedger {
    let pending = match item.get("pending") {
        Some(AttributeValue::L(list)) => {
            list.iter().filter_map(|v| v.as_s().ok().cloned()).collect()
        }
        _ => Vec::new(),
    };
    let mut pending: Vec<String> = pending;
    pending.sort_by(|a, b| cmp_position(a, b));
    LaneLedger {
        high_water: get_s(item, "high_water").map(str::to_string),
        pending,
        version: get_n(item, dynamo::VERSION_ATTRIBUTE),
    }
}
