//! The reference table on DynamoDB, read with BatchGetItem: 100 keys per call, unprocessed
//! keys (throttling inside BatchGetItem) retried with a short backoff.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use serde_json::{Map, Value};
use streamops_shared::{AwsCallError, ErrorClass};

use crate::ports::ReferenceSource;

/// BatchGetItem takes at most 100 keys per call.
pub const BATCH_GET_LIMIT: usize = 100;
/// How often unprocessed keys (throttling inside BatchGetItem) are retried before giving up.
const UNPROCESSED_RETRIES: u32 = 5;

/// The reference table adapter.
pub struct ReferenceTable {
    client: Client,
    table: String,
    key_attribute: String,
    attributes: Vec<String>,
}

impl ReferenceTable {
    pub fn new(client: Client, table: &str, key_attribute: &str, attributes: &[String]) -> Self {
        Self {
            client,
            table: table.to_string(),
            key_attribute: key_attribute.to_string(),
            attributes: attributes.to_vec(),
        }
    }

    /// One BatchGetItem request for `keys`, projected on the key and the spec's attributes.
    fn request(&self, keys: &[String]) -> KeysAndAttributes {
        let mut names = HashMap::from([("#k".to_string(), self.key_attribute.clone())]);
        let mut projection = vec!["#k".to_string()];
        for (i, a) in self.attributes.iter().enumerate() {
            names.insert(format!("#a{i}"), a.clone());
            projection.push(format!("#a{i}"));
        }
        KeysAndAttributes::builder()
            .set_keys(Some(
                keys.iter()
                    .map(|k| {
                        HashMap::from([(self.key_attribute.clone(), AttributeValue::S(k.clone()))])
                    })
                    .collect(),
            ))
            .projection_expression(projection.join(", "))
            .set_expression_attribute_names(Some(names))
            .build()
            .expect("keys are set")
    }

    /// One chunk of at most [`BATCH_GET_LIMIT`] keys, unprocessed keys retried.
    async fn fetch_chunk(
        &self,
        mut request: KeysAndAttributes,
        found: &mut HashMap<String, Map<String, Value>>,
    ) -> Result<(), AwsCallError> {
        for attempt in 0..=UNPROCESSED_RETRIES {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request.clone())
                .send()
                .await
                .map_err(|e| AwsCallError::from_sdk("BatchGetItem", &self.table, &e))?;
            self.collect_items(&out, found);
            match out.unprocessed_keys().and_then(|u| u.get(&self.table)) {
                Some(rest) if !rest.keys().is_empty() => {
                    if attempt == UNPROCESSED_RETRIES {
                        return Err(AwsCallError {
                            operation: "BatchGetItem",
                            resource: self.table.clone(),
                            class: ErrorClass::Retryable,
                            code: Some("UnprocessedKeys".into()),
                            message: format!(
                                "{} keys still unprocessed after {UNPROCESSED_RETRIES} retries",
                                rest.keys().len()
                            ),
                        });
                    }
                    request = rest.clone();
                    tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
                }
                _ => break,
            }
        }
        Ok(())
    }

    fn collect_items(
        &self,
        out: &BatchGetItemOutput,
        found: &mut HashMap<String, Map<String, Value>>,
    ) {
        for item in out
            .responses()
            .and_then(|r| r.get(&self.table))
            .into_iter()
            .flatten()
        {
            let Some(AttributeValue::S(key)) = item.get(&self.key_attribute) else {
                continue;
            };
            let attrs = item
                .iter()
                .filter(|(name, _)| **name != self.key_attribute)
                .map(|(name, v)| (name.clone(), attribute_to_json(v)))
                .collect();
            found.insert(key.clone(), attrs);
        }
    }
}

impl ReferenceSource for ReferenceTable {
    fn table(&self) -> &str {
        &self.table
    }

    async fn fetch(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, Map<String, Value>>, AwsCallError> {
        let mut found = HashMap::new();
        for chunk in keys.chunks(BATCH_GET_LIMIT) {
            self.fetch_chunk(self.request(chunk), &mut found).await?;
        }
        Ok(found)
    }
}

/// DynamoDB attribute to JSON: numbers stay numbers where they fit, sets become arrays.
pub fn attribute_to_json(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => n
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| n.parse::<f64>().map(Value::from))
            .unwrap_or_else(|_| Value::String(n.clone())),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(items) => Value::Array(items.iter().map(attribute_to_json).collect()),
        AttributeValue::M(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), attribute_to_json(v)))
                .collect(),
        ),
        AttributeValue::Ss(items) => Value::from(items.clone()),
        AttributeValue::Ns(items) => Value::Array(
            items
                .iter()
                .map(|n| attribute_to_json(&AttributeValue::N(n.clone())))
                .collect(),
        ),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_convert_to_json() {
        assert_eq!(
            attribute_to_json(&AttributeValue::N("42".into())),
            Value::from(42)
        );
        assert_eq!(
            attribute_to_json(&AttributeValue::N("4.5".into())),
            Value::from(4.5)
        );
        let m = AttributeValue::M(HashMap::from([(
            "a".to_string(),
            AttributeValue::Bool(true),
        )]));
        assert_eq!(attribute_to_json(&m), serde_json::json!({"a": true}));
    }
}
