//! Registry schemas kept across invocations (the sandbox lives on): a schema version never
//! changes once registered, so a found schema is kept for the TTL; an id the registry did not
//! have is kept too (a negative entry, for at most [`NEGATIVE_TTL`]), so a batch full of one
//! unknown id costs one registry call, not one per record or per invocation, and a schema
//! registered a moment later is still picked up soon. Bounded: when full, the oldest entry
//! goes. Pure: the caller passes the time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use apache_avro::Schema;

use super::jsonschema::JsonSchema;
use super::protobuf::ProtoSchema;
use super::{SchemaId, SchemaKind};

/// Negative entries expire sooner than found ones: the id may be registered any moment.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(30);

/// What the registry said about an id, as kept.
#[derive(Debug, Clone)]
pub enum Known {
    /// A parsed Avro schema.
    Schema(Arc<Schema>),
    /// A compiled Protobuf schema (its descriptors, kept by schema version id).
    Proto(Arc<ProtoSchema>),
    /// A compiled JSON Schema (its validator, kept by schema id).
    Json(Arc<JsonSchema>),
    /// Not in the registry, or not a usable schema of the format's kind: why, for the poison
    /// message.
    Unusable(Arc<str>),
}

/// A schema definition as the registry holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySchema {
    /// `AVRO`, `JSON` or `PROTOBUF` (Glue's DataFormat; Confluent's schemaType).
    pub data_format: String,
    pub definition: String,
}

/// The registry's answer for one id, judged: a parsed schema of the format's `kind`, or why it
/// is not one.
pub fn judge(answer: Option<RegistrySchema>, kind: SchemaKind) -> Known {
    let Some(s) = answer else {
        return Known::Unusable("not in the schema registry".into());
    };
    let expected = match kind {
        SchemaKind::Avro => "AVRO",
        SchemaKind::Protobuf => "PROTOBUF",
        SchemaKind::JsonSchema => "JSON",
    };
    if !s.data_format.eq_ignore_ascii_case(expected) {
        let why = format!(
            "is a {} schema; this value format decodes {expected}",
            s.data_format
        );
        return Known::Unusable(why.into());
    }
    let parsed = match kind {
        SchemaKind::Avro => Schema::parse_str(&s.definition)
            .map(|schema| Known::Schema(Arc::new(schema)))
            .map_err(|e| format!("definition is not a valid Avro schema: {e}")),
        SchemaKind::Protobuf => ProtoSchema::parse(&s.definition)
            .map(|schema| Known::Proto(Arc::new(schema)))
            .map_err(|e| format!("definition is not a usable .proto schema: {e}")),
        SchemaKind::JsonSchema => {
            JsonSchema::compile(&s.definition).map(|schema| Known::Json(Arc::new(schema)))
        }
    };
    parsed.unwrap_or_else(|why| Known::Unusable(why.into()))
}

#[derive(Debug)]
pub struct SchemaCache {
    ttl: Duration,
    max_entries: usize,
    entries: HashMap<SchemaId, (Known, Instant)>,
}

impl SchemaCache {
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries: max_entries.max(1),
            entries: HashMap::new(),
        }
    }

    /// The entry for `id`, if kept and not expired at `now`.
    pub fn get(&self, id: &SchemaId, now: Instant) -> Option<&Known> {
        let (known, at) = self.entries.get(id)?;
        let ttl = match known {
            Known::Schema(_) | Known::Proto(_) | Known::Json(_) => self.ttl,
            Known::Unusable(_) => self.ttl.min(NEGATIVE_TTL),
        };
        (now.saturating_duration_since(*at) < ttl).then_some(known)
    }

    pub fn insert(&mut self, id: SchemaId, known: Known, now: Instant) {
        if !self.entries.contains_key(&id) && self.entries.len() >= self.max_entries {
            // Expired entries first, else the oldest: O(n) on a miss only, n is small.
            if let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| *k)
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(id, (known, now));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AVRO: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;

    fn avro(definition: &str) -> Option<RegistrySchema> {
        Some(RegistrySchema {
            data_format: "AVRO".into(),
            definition: definition.into(),
        })
    }

    #[test]
    fn answers_are_judged() {
        assert!(matches!(
            judge(avro(AVRO), SchemaKind::Avro),
            Known::Schema(_)
        ));
        let why = |k: Known| match k {
            Known::Unusable(w) => w.to_string(),
            Known::Schema(_) | Known::Proto(_) | Known::Json(_) => panic!("a schema"),
        };
        assert_eq!(
            why(judge(None, SchemaKind::Avro)),
            "not in the schema registry"
        );
        assert!(
            why(judge(avro("{\"type\":\"nope\"}"), SchemaKind::Avro))
                .contains("not a valid Avro schema")
        );
        let proto = Some(RegistrySchema {
            data_format: "PROTOBUF".into(),
            definition: "syntax = \"proto3\"; message M { string a = 1; }".into(),
        });
        assert!(why(judge(proto.clone(), SchemaKind::Avro)).contains("PROTOBUF"));
        // The Protobuf formats take Protobuf schemas and refuse Avro ones.
        assert!(matches!(
            judge(proto, SchemaKind::Protobuf),
            Known::Proto(_)
        ));
        assert!(why(judge(avro(AVRO), SchemaKind::Protobuf)).contains("decodes PROTOBUF"));
        let broken = Some(RegistrySchema {
            data_format: "PROTOBUF".into(),
            definition: "message {".into(),
        });
        assert!(why(judge(broken, SchemaKind::Protobuf)).contains("not a usable .proto"));
        // The JSON Schema formats take Glue's and Confluent's `JSON` schemas, compiled.
        let json = |definition: &str| {
            Some(RegistrySchema {
                data_format: "JSON".into(),
                definition: definition.into(),
            })
        };
        assert!(matches!(
            judge(json(r#"{"type":"object"}"#), SchemaKind::JsonSchema),
            Known::Json(_)
        ));
        assert!(why(judge(avro(AVRO), SchemaKind::JsonSchema)).contains("decodes JSON"));
        assert!(
            why(judge(json(r#"{"type":7}"#), SchemaKind::JsonSchema))
                .contains("not a valid JSON Schema")
        );
    }

    #[test]
    fn found_schemas_live_for_the_ttl_negative_ones_for_less_and_the_oldest_goes_first() {
        let t0 = Instant::now();
        let mut cache = SchemaCache::new(Duration::from_secs(300), 2);
        let (a, b, c) = (
            SchemaId::Confluent(1),
            SchemaId::Confluent(2),
            SchemaId::Confluent(3),
        );
        cache.insert(a, judge(avro(AVRO), SchemaKind::Avro), t0);
        cache.insert(
            b,
            judge(None, SchemaKind::Avro),
            t0 + Duration::from_secs(1),
        );
        assert!(matches!(
            cache.get(&a, t0 + Duration::from_secs(299)),
            Some(Known::Schema(_))
        ));
        assert!(cache.get(&a, t0 + Duration::from_secs(300)).is_none());
        assert!(matches!(
            cache.get(&b, t0 + Duration::from_secs(30)),
            Some(Known::Unusable(_))
        ));
        assert!(cache.get(&b, t0 + Duration::from_secs(31)).is_none());
        cache.insert(
            c,
            judge(None, SchemaKind::Avro),
            t0 + Duration::from_secs(2),
        );
        assert_eq!(cache.len(), 2);
        assert!(
            cache.get(&a, t0 + Duration::from_secs(2)).is_none(),
            "oldest evicted"
        );
        assert!(cache.get(&c, t0 + Duration::from_secs(2)).is_some());
    }
}
