//! The DynamoDB registry of partitions (hash key `pk` = [`PartitionSpec::registry_key`]).
//!
//! Protocol, one conditional write per partition:
//! 1. **claim**: `put_if_absent` a `pending` mark carrying this invocation's token and an
//!    `expires_at` just past the invocation's deadline. Only one invocation wins a partition; a
//!    claim left behind by a crashed invocation expires on its own and counts as absent.
//! 2. **confirm** after the partition is registered: the mark becomes `registered` with the
//!    long TTL (`PARTITIONS_REGISTRY_TTL_DAYS`).
//! 3. **release** if registration failed: delete the mark only if it still carries our token,
//!    so the retry registers it.
//! 4. **forget** when the partition is dropped (its data is gone): delete the mark, so the next
//!    object landing there claims and registers it again.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use streamops_shared::AwsCallError;
use streamops_shared::dynamo::{self, Item, TTL_ATTRIBUTE, WriteOutcome, get_n, get_s, n, s};

use crate::ports::{ClaimOutcome, RegistryStore};
use crate::table::PartitionSpec;

pub const KEY: &str = "pk";
const STATE_PENDING: &str = "pending";
const STATE_REGISTERED: &str = "registered";

#[derive(Clone)]
pub struct Registry {
    client: Client,
    table: String,
}

fn key(pk: &str) -> Item {
    [(KEY.to_string(), s(pk))].into()
}

impl Registry {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The client and the table's name, for the other items kept here ([`crate::leases`]).
    pub(crate) fn parts(&self) -> (&Client, &str) {
        (&self.client, &self.table)
    }

    /// The mark's state (`pending` or `registered`), if there is one.
    pub async fn state(&self, spec: &PartitionSpec) -> Result<Option<String>, AwsCallError> {
        Ok(
            dynamo::get_item(&self.client, &self.table, key(&spec.registry_key()))
                .await?
                .and_then(|i| get_s(&i, "state").map(str::to_string)),
        )
    }
}

impl RegistryStore for Registry {
    async fn claim(
        &self,
        spec: &PartitionSpec,
        token: &str,
        claim_expires_at: i64,
        now: i64,
    ) -> Result<ClaimOutcome, AwsCallError> {
        let pk = spec.registry_key();
        let mut item = key(&pk);
        item.insert("state".into(), s(STATE_PENDING));
        item.insert("token".into(), s(token));
        item.insert("location".into(), s(&spec.location));
        item.insert("claimed_at".into(), n(now));
        item.insert(TTL_ATTRIBUTE.into(), n(claim_expires_at));
        match dynamo::put_if_absent(&self.client, &self.table, KEY, item, now).await? {
            WriteOutcome::Written => Ok(ClaimOutcome::Claimed),
            WriteOutcome::ConditionFailed => {
                let existing = dynamo::get_item(&self.client, &self.table, key(&pk)).await?;
                Ok(match existing {
                    Some(i)
                        if get_s(&i, "state") == Some(STATE_PENDING)
                            && get_n::<i64>(&i, TTL_ATTRIBUTE).is_some_and(|e| e >= now) =>
                    {
                        ClaimOutcome::InFlight
                    }
                    // Registered, or a claim that expired between the write and the read (the
                    // next delivery will claim it): nothing for this batch to register.
                    _ => ClaimOutcome::AlreadyRegistered,
                })
            }
        }
    }

    /// Turns our claim into a registered mark with the long TTL.
    async fn confirm(
        &self,
        spec: &PartitionSpec,
        token: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), AwsCallError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&spec.registry_key())))
            .update_expression("SET #st = :reg, #exp = :exp, registered_at = :now")
            .condition_expression("#tok = :tok")
            .expression_attribute_names("#st", "state")
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_names("#tok", "token")
            .expression_attribute_values(":reg", s(STATE_REGISTERED))
            .expression_attribute_values(":exp", n(expires_at))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":tok", s(token))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Our claim expired and somebody else took over: their mark stands.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(AwsCallError::from_sdk(
                "UpdateItem (confirm)",
                format!("table {}", self.table),
                &e,
            )),
        }
    }

    /// Deletes our claim so a retry registers the partition again.
    async fn release(
        &self,
        spec: &PartitionSpec,
        token: &str,
    ) -> Result<WriteOutcome, AwsCallError> {
        dynamo::delete_if_equals(
            &self.client,
            &self.table,
            key(&spec.registry_key()),
            "token",
            s(token),
        )
        .await
    }

    async fn forget(&self, spec: &PartitionSpec) -> Result<(), AwsCallError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(&spec.registry_key())))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                AwsCallError::from_sdk("DeleteItem (forget)", format!("table {}", self.table), &e)
            })
    }

    /// Records partitions registered by a backfill (unconditional, 25 per `BatchWriteItem`,
    /// unprocessed items retried a few times).
    async fn record_registered(
        &self,
        specs: &[&PartitionSpec],
        token: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), AwsCallError> {
        for chunk in specs.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|spec| {
                    let mut item = key(&spec.registry_key());
                    item.insert("state".into(), s(STATE_REGISTERED));
                    item.insert("token".into(), s(token));
                    item.insert("location".into(), s(&spec.location));
                    item.insert("registered_at".into(), n(now));
                    item.insert(TTL_ATTRIBUTE.into(), n(expires_at));
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(item))
                                .build()
                                .expect("item is set"),
                        )
                        .build()
                })
                .collect();
            for attempt in 0..5u32 {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| {
                        AwsCallError::from_sdk(
                            "BatchWriteItem",
                            format!("table {}", self.table),
                            &e,
                        )
                    })?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
                    .unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            if !requests.is_empty() {
                return Err(AwsCallError {
                    operation: "BatchWriteItem",
                    resource: format!("table {}", self.table),
                    class: streamops_shared::ErrorClass::Retryable,
                    code: None,
                    message: format!("{} items still unprocessed after retries", requests.len()),
                });
            }
        }
        Ok(())
    }
}
