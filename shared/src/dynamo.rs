//! DynamoDB conditional writes for idempotency, dedup and ordering.
//!
//! Three primitives, each a single conditional request so that concurrent invocations cannot
//! both win:
//! - [`put_if_absent`]: claim a key once (dedup marks, idempotency records). Items carry an
//!   `expires_at` TTL attribute, and an expired item counts as absent because DynamoDB deletes
//!   expired items lazily (up to days later).
//! - [`put_if_newer`]: monotonic update; the write lands only if its order value is greater than
//!   the stored one, so reordered and redelivered events cannot move a pointer backwards.
//! - [`put_if_version`]: optimistic concurrency for read-decide-write cycles.
//!
//! A conditional put whose answer was lost (DynamoDB applied it, the connection dropped) is
//! retried by the SDK with the same bytes, and that retry fails its own condition. To tell
//! "our earlier attempt landed" from "another writer won", every put carries a random
//! [`WRITE_ID_ATTRIBUTE`] and asks for the stored item on a failed condition: if the stored
//! item has our write id, the write is ours and the outcome is `Written`.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use crate::error::AwsCallError;

pub type Item = HashMap<String, AttributeValue>;

/// The TTL attribute every expiring item uses (the template enables TTL on it).
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// The version attribute used by [`put_if_version`].
pub const VERSION_ATTRIBUTE: &str = "version";
/// A random id per conditional put (see the module docs): how a retry recognises its own write.
pub const WRITE_ID_ATTRIBUTE: &str = "write_id";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The condition held and the item was written.
    Written,
    /// The condition failed: the key is taken, the stored value is newer, or the version moved.
    ConditionFailed,
}

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

pub fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

pub fn get_bool(item: &Item, name: &str) -> Option<bool> {
    item.get(name).and_then(|v| v.as_bool().ok()).copied()
}

/// Writes `item` unless an unexpired item with the same key exists. `key_attr` is the table's
/// partition key name; `now_epoch_s` decides what counts as expired.
pub async fn put_if_absent(
    client: &Client,
    table: &str,
    key_attr: &str,
    item: Item,
    now_epoch_s: i64,
) -> Result<WriteOutcome, AwsCallError> {
    let (request, write_id) = identified_put(client, table, item);
    let result = request
        .condition_expression("attribute_not_exists(#k) OR #exp < :now")
        .expression_attribute_names("#k", key_attr)
        .expression_attribute_names("#exp", TTL_ATTRIBUTE)
        .expression_attribute_values(":now", n(now_epoch_s))
        .send()
        .await;
    conditional_outcome(result, &write_id, "PutItem (if absent)", table)
}

/// Writes `item` if no item has the key yet or the stored `order_attr` is smaller than
/// `order_value`. Equal values do not write, so a redelivered event changes nothing.
pub async fn put_if_newer(
    client: &Client,
    table: &str,
    key_attr: &str,
    item: Item,
    order_attr: &str,
    order_value: i64,
) -> Result<WriteOutcome, AwsCallError> {
    let mut item = item;
    item.insert(order_attr.to_string(), n(order_value));
    let (request, write_id) = identified_put(client, table, item);
    let result = request
        .condition_expression("attribute_not_exists(#k) OR #o < :v")
        .expression_attribute_names("#k", key_attr)
        .expression_attribute_names("#o", order_attr)
        .expression_attribute_values(":v", n(order_value))
        .send()
        .await;
    conditional_outcome(result, &write_id, "PutItem (if newer)", table)
}

/// Writes `item` with `version = expected + 1` if the stored version is still `expected`
/// (`None`: the item must not exist yet).
pub async fn put_if_version(
    client: &Client,
    table: &str,
    key_attr: &str,
    item: Item,
    expected: Option<u64>,
) -> Result<WriteOutcome, AwsCallError> {
    let mut item = item;
    item.insert(
        VERSION_ATTRIBUTE.to_string(),
        n(expected.map_or(1, |v| v + 1)),
    );
    let (request, write_id) = identified_put(client, table, item);
    let request = match expected {
        None => request
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", key_attr),
        Some(v) => request
            .condition_expression("#ver = :ver")
            .expression_attribute_names("#ver", VERSION_ATTRIBUTE)
            .expression_attribute_values(":ver", n(v)),
    };
    conditional_outcome(
        request.send().await,
        &write_id,
        "PutItem (if version)",
        table,
    )
}

/// Deletes the item at `key` only if `attr` still equals `value` (releasing a claim we own,
/// never one somebody else took since).
pub async fn delete_if_equals(
    client: &Client,
    table: &str,
    key: Item,
    attr: &str,
    value: AttributeValue,
) -> Result<WriteOutcome, AwsCallError> {
    let result = client
        .delete_item()
        .table_name(table)
        .set_key(Some(key))
        .condition_expression("#a = :v")
        .expression_attribute_names("#a", attr)
        .expression_attribute_values(":v", value)
        .send()
        .await;
    match result {
        Ok(_) => Ok(WriteOutcome::Written),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
        {
            Ok(WriteOutcome::ConditionFailed)
        }
        Err(e) => Err(AwsCallError::from_sdk(
            "DeleteItem (if equals)",
            format!("table {table}"),
            &e,
        )),
    }
}

/// Reads one item with strong consistency (a decision must see the latest committed write).
pub async fn get_item(
    client: &Client,
    table: &str,
    key: Item,
) -> Result<Option<Item>, AwsCallError> {
    client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map(|out| out.item)
        .map_err(|e| AwsCallError::from_sdk("GetItem", format!("table {table}"), &e))
}

/// A put of `item` stamped with a fresh write id, asking for the stored item if its condition
/// fails (so [`conditional_outcome`] can recognise a retry of our own landed write).
fn identified_put(client: &Client, table: &str, item: Item) -> (PutItemFluentBuilder, String) {
    let write_id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    let mut item = item;
    item.insert(WRITE_ID_ATTRIBUTE.to_string(), s(write_id.clone()));
    let request = client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    (request, write_id)
}

fn conditional_outcome<T>(
    result: Result<T, SdkError<PutItemError>>,
    write_id: &str,
    operation: &'static str,
    table: &str,
) -> Result<WriteOutcome, AwsCallError> {
    let e = match result {
        Ok(_) => return Ok(WriteOutcome::Written),
        Err(e) => e,
    };
    if let SdkError::ServiceError(service) = &e
        && let PutItemError::ConditionalCheckFailedException(failed) = service.err()
    {
        // Our own earlier attempt landed (its answer was lost, the SDK retried): ours.
        let stored = failed.item().and_then(|i| get_s(i, WRITE_ID_ATTRIBUTE));
        return Ok(if stored == Some(write_id) {
            WriteOutcome::Written
        } else {
            WriteOutcome::ConditionFailed
        });
    }
    Err(AwsCallError::from_sdk(
        operation,
        format!("table {table}"),
        &e,
    ))
}
