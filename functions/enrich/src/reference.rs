//! Reference data: a DynamoDB table read with BatchGetItem, behind an in-memory cache that lives
//! across warm invocations. A key that is not in the table is cached as missing too, so a hot
//! unknown key does not cost a read per batch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use serde_json::{Map, Value};
use streamops_shared::{AwsCallError, ErrorClass};

/// BatchGetItem takes at most 100 keys per call.
pub const BATCH_GET_LIMIT: usize = 100;
/// How often unprocessed keys (throttling inside BatchGetItem) are retried before giving up.
const UNPROCESSED_RETRIES: u32 = 5;

pub type Attributes = Arc<Map<String, Value>>;

#[derive(Debug)]
struct CacheEntry {
    value: Option<Attributes>,
    loaded: Instant,
}

/// TTL cache of reference items by key. `None` values mean "looked up, not in the table".
#[derive(Debug)]
pub struct ReferenceCache {
    ttl: Duration,
    max_entries: usize,
    entries: HashMap<String, CacheEntry>,
}

impl ReferenceCache {
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries: max_entries.max(1),
            entries: HashMap::new(),
        }
    }

    /// `Some(found_or_missing)` when cached and fresh.
    pub fn get(&self, key: &str, now: Instant) -> Option<Option<Attributes>> {
        self.entries
            .get(key)
            .filter(|e| now.duration_since(e.loaded) < self.ttl)
            .map(|e| e.value.clone())
    }

    /// The distinct keys among `keys` that are not cached or are stale, without counting.
    pub fn keys_to_fetch<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a str>,
        now: Instant,
    ) -> Vec<String> {
        let mut out: Vec<String> = keys
            .into_iter()
            .filter(|k| {
                self.entries
                    .get(*k)
                    .is_none_or(|e| now.duration_since(e.loaded) >= self.ttl)
            })
            .map(str::to_string)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    pub fn insert(&mut self, key: String, value: Option<Map<String, Value>>, now: Instant) {
        if self.entries.len() >= self.max_entries && !self.entries.contains_key(&key) {
            // Evict stale entries first; if all are fresh, start over rather than grow unbounded.
            let ttl = self.ttl;
            self.entries
                .retain(|_, e| now.duration_since(e.loaded) < ttl);
            if self.entries.len() >= self.max_entries {
                self.entries.clear();
            }
        }
        self.entries.insert(
            key,
            CacheEntry {
                value: value.map(Arc::new),
                loaded: now,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

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

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Fetches the items for `keys` (any number); keys absent from the result are not in the table.
    pub async fn fetch(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, Map<String, Value>>, AwsCallError> {
        let mut found = HashMap::new();
        for chunk in keys.chunks(BATCH_GET_LIMIT) {
            let mut names = HashMap::from([("#k".to_string(), self.key_attribute.clone())]);
            let mut projection = vec!["#k".to_string()];
            for (i, a) in self.attributes.iter().enumerate() {
                names.insert(format!("#a{i}"), a.clone());
                projection.push(format!("#a{i}"));
            }
            let mut request = KeysAndAttributes::builder()
                .set_keys(Some(
                    chunk
                        .iter()
                        .map(|k| {
                            HashMap::from([(
                                self.key_attribute.clone(),
                                AttributeValue::S(k.clone()),
                            )])
                        })
                        .collect(),
                ))
                .projection_expression(projection.join(", "))
                .set_expression_attribute_names(Some(names))
                .build()
                .expect("keys are set");
            for attempt in 0..=UNPROCESSED_RETRIES {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request.clone())
                    .send()
                    .await
                    .map_err(|e| AwsCallError::from_sdk("BatchGetItem", &self.table, &e))?;
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
    fn cache_hits_misses_and_ttl() {
        let t0 = Instant::now();
        let mut c = ReferenceCache::new(Duration::from_secs(60), 10);
        assert!(c.get("p1", t0).is_none());
        c.insert("p1".into(), Some(Map::new()), t0);
        c.insert("p2".into(), None, t0);
        assert!(c.get("p1", t0).unwrap().is_some());
        assert!(
            c.get("p2", t0).unwrap().is_none(),
            "a missing key is cached as missing"
        );
        assert_eq!(
            c.keys_to_fetch(["p1", "p3", "p3"], t0),
            vec!["p3".to_string()]
        );
        let later = t0 + Duration::from_secs(61);
        assert!(c.get("p1", later).is_none());
        assert_eq!(c.keys_to_fetch(["p1"], later), vec!["p1".to_string()]);
    }

    #[test]
    fn cache_stays_bounded() {
        let t0 = Instant::now();
        let mut c = ReferenceCache::new(Duration::from_secs(60), 3);
        for i in 0..10 {
            c.insert(format!("k{i}"), None, t0);
            assert!(c.len() <= 3);
        }
    }

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
