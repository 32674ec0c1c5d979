//! Value formats in the service: each record's value framed, the schemas its headers name
//! resolved once per id (through the cache, then the registry), and the bodies decoded to the
//! JSON the pipeline reads. A registry that cannot be asked fails the batch (retried, nothing
//! quarantined); an id it does not have is poison for the records naming it.

use std::collections::{BTreeSet, HashMap};
use std::sync::{MutexGuard, PoisonError};
use std::time::Instant;

use streamops_shared::Metrics;

use super::{EnrichError, EnrichService};
use crate::input::InputRecord;
use crate::ports::SchemaRegistry;
use crate::values::cache::{Known, SchemaCache, judge};
use crate::values::wire::Framed;
use crate::values::{
    Decoded, SchemaId, SchemaKind, ValueFormat, decode, decode_fixed_protobuf, decode_json_schema,
    decode_protobuf, frame, unknown_schema,
};

impl<W, L, R, Q, S: SchemaRegistry> EnrichService<W, L, R, Q, S> {
    /// What each record's value decodes to, in order; empty for `json` (read as delivered).
    pub(crate) async fn decode_values(
        &self,
        records: &[InputRecord],
        skip: &impl Fn(&InputRecord) -> bool,
        metrics: &mut Metrics,
    ) -> Result<Vec<Decoded>, EnrichError> {
        let values = &self.config.values;
        if values.format == ValueFormat::Json {
            return Ok(Vec::new());
        }
        // Records already poison (bad base64, a tombstone) or done by a previous attempt are
        // not framed: their stage is decided without their value.
        let framed: Vec<_> = records
            .iter()
            .map(|r| (r.poison.is_none() && !skip(r)).then(|| frame(values.format, r.bytes())))
            .collect();
        let ids: BTreeSet<SchemaId> = framed
            .iter()
            .filter_map(|f| match f {
                Some(Ok(Some(f))) => Some(f.schema),
                _ => None,
            })
            .collect();
        let schemas = self.schemas_for(ids, metrics).await?;
        Ok(records
            .iter()
            .zip(framed)
            .map(|(r, f)| match f {
                None => Decoded::AsDelivered,
                Some(Err(poison)) => Decoded::Poison(poison),
                Some(Ok(None)) => self.decode_unframed(r.bytes()),
                Some(Ok(Some(Framed { schema, body }))) => {
                    self.decode_framed(schema, &schemas[&schema], &body)
                }
            })
            .collect())
    }

    /// A bare value, with the configured schema (Config refuses `avro`, `protobuf` and
    /// `jsonschema` without one; a service built by hand may not have it: read as delivered).
    fn decode_unframed(&self, value: &[u8]) -> Decoded {
        let values = &self.config.values;
        let reader = values.reader_schema.as_deref();
        match (
            values.format.schema_kind(),
            &values.fixed_schema,
            &values.fixed_message,
            &values.fixed_json_schema,
        ) {
            (Some(SchemaKind::Avro), Some(writer), _, _) => decode(None, writer, reader, value),
            (Some(SchemaKind::Protobuf), _, Some(message), _) => {
                decode_fixed_protobuf(message, value)
            }
            (Some(SchemaKind::JsonSchema), _, _, Some(schema)) => {
                decode_json_schema(None, schema, value)
            }
            _ => Decoded::AsDelivered,
        }
    }

    /// A framed value's body, with the schema its header names.
    fn decode_framed(&self, id: SchemaId, known: &Known, body: &[u8]) -> Decoded {
        let values = &self.config.values;
        match (known, values.format.registry()) {
            (Known::Schema(writer), _) => {
                decode(Some(id), writer, values.reader_schema.as_deref(), body)
            }
            (Known::Proto(schema), Some(registry)) => decode_protobuf(id, schema, registry, body),
            (Known::Proto(_), None) => unknown_schema(id, "a Protobuf schema with no framing"),
            (Known::Json(schema), _) => decode_json_schema(Some(id), schema, body),
            (Known::Unusable(why), _) => unknown_schema(id, why),
        }
    }

    /// The schemas of `ids`: cached ones as kept, the rest asked of the registry one by one
    /// (a batch names few) and cached, found or not.
    async fn schemas_for(
        &self,
        ids: BTreeSet<SchemaId>,
        metrics: &mut Metrics,
    ) -> Result<HashMap<SchemaId, Known>, EnrichError> {
        let mut out = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        {
            let cache = self.schema_cache();
            let now = Instant::now();
            for id in ids {
                match cache.get(&id, now) {
                    Some(known) => {
                        out.insert(id, known.clone());
                    }
                    None => missing.push(id),
                }
            }
        }
        if out.len() + missing.len() > 0 {
            metrics.count("SchemaCacheHits", out.len() as u64);
            metrics.count("SchemaRegistryCalls", missing.len() as u64);
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let Some(registry) = &self.registry else {
            return Err(EnrichError::Input(format!(
                "ENRICH_VALUE_FORMAT={} needs a schema registry and none was built",
                self.config.values.format.as_str()
            )));
        };
        for id in missing {
            let answer = registry.schema(id).await.map_err(EnrichError::Registry)?;
            let kind = self.config.values.format.schema_kind();
            let known = judge(answer, kind.unwrap_or(SchemaKind::Avro));
            if let Known::Unusable(why) = &known {
                tracing::warn!(registry = registry.name(), schema = %id, reason = %why, "schema not usable; its records are quarantined");
            }
            self.schema_cache()
                .insert(id, known.clone(), Instant::now());
            out.insert(id, known);
        }
        Ok(out)
    }

    /// The schema cache, locked; a poisoned one is only a copy of the registry, kept as is.
    fn schema_cache(&self) -> MutexGuard<'_, SchemaCache> {
        self.schemas.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
