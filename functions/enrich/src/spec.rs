//! The declarative enrichment spec: which fields an event must have and of what type, where its
//! event time is and in which formats, which field is the output partition key, which reference
//! attributes to join, and which fields carry PII. Loaded and validated once at cold start.

use std::collections::BTreeSet;

use serde::Deserialize;

/// The spec shipped with the function (`specs/clickstream.json`), used when no path is configured.
pub const DEFAULT_SPEC: &str = include_str!("../specs/clickstream.json");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichmentSpec {
    /// A name for logs and the `_ingest.spec` field, e.g. `clickstream-v1`.
    pub name: String,
    /// Input records larger than this are poison (Kinesis allows 1 MiB per record).
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: usize,
    #[serde(default)]
    pub fields: Vec<FieldSpec>,
    pub event_time: EventTimeSpec,
    /// Field whose value becomes the Kinesis partition key of the enriched record.
    pub partition_key: String,
    #[serde(default)]
    pub reference: Option<ReferenceSpec>,
    #[serde(default)]
    pub pii: Vec<PiiRule>,
}

fn default_max_record_bytes() -> usize {
    1024 * 1024
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// Dotted path, e.g. `user.id`.
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    Number,
    Integer,
    Boolean,
    Object,
    Array,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Number => "number",
            FieldType::Integer => "integer",
            FieldType::Boolean => "boolean",
            FieldType::Object => "object",
            FieldType::Array => "array",
        }
    }

    pub fn matches(self, v: &serde_json::Value) -> bool {
        use serde_json::Value as V;
        match self {
            FieldType::String => v.is_string(),
            FieldType::Number => v.is_number(),
            FieldType::Integer => v.is_i64() || v.is_u64(),
            FieldType::Boolean => v.is_boolean(),
            FieldType::Object => matches!(v, V::Object(_)),
            FieldType::Array => v.is_array(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventTimeSpec {
    pub field: String,
    pub formats: Vec<TimeFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    /// `2026-11-23T10:00:00.123Z`, any offset.
    Rfc3339,
    /// Seconds since the epoch (integer or fractional, number or numeric string).
    EpochSeconds,
    /// Milliseconds since the epoch.
    EpochMillis,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceSpec {
    /// Field of the event holding the lookup key.
    pub key_field: String,
    /// Partition key attribute of the reference table (string).
    #[serde(default = "default_table_key")]
    pub table_key: String,
    /// Attributes copied from the reference item.
    pub attributes: Vec<String>,
    /// Output field that receives them as an object.
    pub target: String,
    /// The type of an attribute in the enriched table (default string): only the table's
    /// columns read it (`columns`), the join copies values as they are.
    #[serde(default)]
    pub attribute_types: std::collections::BTreeMap<String, FieldType>,
}

fn default_table_key() -> String {
    "pk".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiiRule {
    pub field: String,
    pub action: PiiAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PiiAction {
    /// HMAC-SHA256 with the configured key, hex: joinable across events, not reversible.
    Hmac,
    /// Keep the last 4 characters, star the rest.
    Mask,
    /// Remove the field.
    Drop,
}

/// Fields the pipeline writes; an input field may not be protected or required under these names.
pub const RESERVED_FIELDS: &[&str] = &[
    "event_time",
    "event_time_ms",
    "dt",
    "hour",
    "_event_id",
    "_ingest",
];

impl EnrichmentSpec {
    /// Parses and validates; the error names the offending field.
    pub fn parse(json: &str, origin: &str) -> Result<Self, String> {
        let spec: EnrichmentSpec =
            serde_json::from_str(json).map_err(|e| format!("enrichment spec {origin}: {e}"))?;
        spec.validate()
            .map_err(|e| format!("enrichment spec {origin}: {e}"))?;
        Ok(spec)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("`name` must not be empty".into());
        }
        if self.max_record_bytes == 0 || self.max_record_bytes > 1024 * 1024 {
            return Err(format!(
                "`max_record_bytes` must be between 1 and 1048576, got {}",
                self.max_record_bytes
            ));
        }
        let mut seen = BTreeSet::new();
        for f in &self.fields {
            check_path(&f.name, "fields[].name")?;
            if !seen.insert(f.name.as_str()) {
                return Err(format!("field {:?} is declared twice", f.name));
            }
        }
        check_path(&self.event_time.field, "event_time.field")?;
        if self.event_time.formats.is_empty() {
            return Err(
                "event_time.formats must list at least one of rfc3339, epoch_seconds, epoch_millis"
                    .into(),
            );
        }
        check_path(&self.partition_key, "partition_key")?;
        if let Some(r) = &self.reference {
            check_path(&r.key_field, "reference.key_field")?;
            if r.attributes.is_empty() {
                return Err("reference.attributes must name at least one attribute".into());
            }
            if let Some(a) = r.attribute_types.keys().find(|a| !r.attributes.contains(a)) {
                return Err(format!(
                    "reference.attribute_types names {a:?}, which reference.attributes does not"
                ));
            }
            if r.target.is_empty()
                || r.target.contains('.')
                || RESERVED_FIELDS.contains(&r.target.as_str())
            {
                return Err(format!(
                    "reference.target {:?} must be a plain, non-reserved field name",
                    r.target
                ));
            }
        }
        let mut protected = BTreeSet::new();
        for rule in &self.pii {
            check_path(&rule.field, "pii[].field")?;
            if !protected.insert(rule.field.as_str()) {
                return Err(format!("pii field {:?} has two rules", rule.field));
            }
            if rule.field == self.event_time.field {
                return Err(format!(
                    "pii field {:?} is the event time field",
                    rule.field
                ));
            }
            if rule.action == PiiAction::Drop && rule.field == self.partition_key {
                return Err(format!(
                    "pii rule drops {:?}, the partition key",
                    rule.field
                ));
            }
            // The key is read from the event as it came: a rule on a branch that holds it
            // would protect the output and send the key in the clear.
            if is_within(&self.partition_key, &rule.field) {
                return Err(format!(
                    "pii field {:?} holds the partition key {:?}, which would be sent                      unprotected: put the rule on {:?} itself",
                    rule.field, self.partition_key, self.partition_key
                ));
            }
        }
        Ok(())
    }

    pub fn needs_hmac_key(&self) -> bool {
        self.pii.iter().any(|r| r.action == PiiAction::Hmac)
    }
}

/// Whether `path` lies inside the branch `ancestor` (and is not `ancestor` itself).
fn is_within(path: &str, ancestor: &str) -> bool {
    path.strip_prefix(ancestor)
        .is_some_and(|rest| rest.starts_with('.'))
}

fn check_path(path: &str, what: &str) -> Result<(), String> {
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(format!(
            "{what} {path:?} is not a field path (dot-separated names)"
        ));
    }
    if RESERVED_FIELDS.contains(&path.split('.').next().unwrap_or("")) {
        return Err(format!(
            "{what} {path:?} uses a name the pipeline writes ({})",
            RESERVED_FIELDS.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_spec_is_valid() {
        let spec = EnrichmentSpec::parse(DEFAULT_SPEC, "specs/clickstream.json").unwrap();
        assert_eq!(spec.partition_key, "user_id");
        assert!(spec.needs_hmac_key());
    }

    #[test]
    fn errors_name_the_problem() {
        let bad = |patch: &str| {
            let mut v: serde_json::Value = serde_json::from_str(DEFAULT_SPEC).unwrap();
            let p: serde_json::Value = serde_json::from_str(patch).unwrap();
            for (k, val) in p.as_object().unwrap() {
                v[k] = val.clone();
            }
            EnrichmentSpec::parse(&v.to_string(), "test").unwrap_err()
        };
        assert!(bad(r#"{"partition_key": ""}"#).contains("partition_key"));
        assert!(bad(r#"{"event_time": {"field": "ts", "formats": []}}"#).contains("at least one"));
        assert!(bad(r#"{"pii": [{"field": "email", "action": "hmac"}, {"field": "email", "action": "drop"}]}"#).contains("two rules"));
        assert!(
            bad(r#"{"fields": [{"name": "dt", "type": "string"}]}"#)
                .contains("name the pipeline writes")
        );
        assert!(
            bad(r#"{"pii": [{"field": "email", "action": "encrypt"}]}"#)
                .contains("unknown variant")
        );
        assert!(bad(r#"{"surprise": 1}"#).contains("unknown field"));
    }
}
