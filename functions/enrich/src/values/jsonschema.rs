//! JSON Schema values: a JSON body checked against its writer's JSON Schema. Pure.
//!
//! Validation is the `jsonschema` crate's (drafts 4, 6, 7, 2019-09 and 2020-12, the draft
//! named by the schema's `$schema`, 2020-12 when it names none). A schema is compiled once
//! (the service keeps it in the schema cache) and only references inside it resolve: the crate
//! is built without its HTTP and file resolvers, so a schema naming a remote `$ref` is not a
//! usable schema rather than a fetch from the Lambda. The body passes through unchanged: JSON
//! Schema describes a JSON document, it does not encode one.

use std::fmt;

use serde_json::Value;

/// A compiled JSON Schema.
pub struct JsonSchema {
    validator: jsonschema::Validator,
}

impl fmt::Debug for JsonSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JsonSchema")
    }
}

/// Why a body is not a valid document of its schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonSchemaError {
    /// The body is not JSON at all.
    #[error("{0}")]
    NotJson(String),
    /// The body is JSON that the schema rejects.
    #[error("{0}")]
    Violation(String),
}

impl JsonSchema {
    /// `definition` (a registry's schema text or a schema file) compiled.
    pub fn compile(definition: &str) -> Result<Self, String> {
        let schema: Value =
            serde_json::from_str(definition).map_err(|e| format!("definition is not JSON: {e}"))?;
        let validator = jsonschema::validator_for(&schema)
            .map_err(|e| format!("definition is not a valid JSON Schema: {e}"))?;
        Ok(Self { validator })
    }

    /// `body` checked: `Ok` when it is JSON the schema accepts. The message names the first
    /// failing place as a JSON pointer into the record (`/` the whole record) and what the
    /// schema wants there, never the record's value (poison messages are logged).
    pub fn check(&self, body: &[u8]) -> Result<(), JsonSchemaError> {
        let doc: Value = serde_json::from_slice(body)
            .map_err(|e| JsonSchemaError::NotJson(format!("body is not JSON: {e}")))?;
        match self.validator.iter_errors(&doc).next() {
            None => Ok(()),
            Some(error) => {
                let path = error.instance_path().to_string();
                let at = if path.is_empty() { "/" } else { path.as_str() };
                Err(JsonSchemaError::Violation(format!(
                    "fails its JSON Schema at {at}: {}",
                    error.masked()
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLICK: &str = r##"{
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "required": ["event_id", "user_id", "ts"],
        "properties": {
            "event_id": {"type": "string"},
            "user_id": {"type": "string", "minLength": 1},
            "ts": {"type": "integer"},
            "properties": {"type": "object", "additionalProperties": {"$ref": "#/definitions/text"}}
        },
        "definitions": {"text": {"type": "string"}}
    }"##;

    fn click() -> JsonSchema {
        JsonSchema::compile(CLICK).unwrap()
    }

    fn violation(body: &str) -> String {
        match click().check(body.as_bytes()) {
            Err(JsonSchemaError::Violation(m)) => m,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn a_document_the_schema_accepts_passes() {
        let body = r#"{"event_id":"e","user_id":"u","ts":1,"properties":{"path":"/"}}"#;
        assert_eq!(click().check(body.as_bytes()), Ok(()));
    }

    #[test]
    fn a_violation_names_the_first_failing_pointer_and_not_the_value() {
        let m = violation(r#"{"event_id":"e","user_id":"secret-user","ts":"soon"}"#);
        assert!(m.starts_with("fails its JSON Schema at /ts: "), "{m}");
        assert!(m.contains("integer") && !m.contains("soon"), "{m}");
        let m = violation(r#"{"event_id":"e","user_id":"u","ts":1,"properties":{"path":7}}"#);
        assert!(m.contains("at /properties/path:"), "{m}");
        let m = violation(r#"{"event_id":"e","ts":1}"#);
        assert!(m.contains("at /:") && m.contains("user_id"), "{m}");
        assert!(violation("[1]").contains("object"));
    }

    #[test]
    fn a_body_that_is_not_json_says_so() {
        let err = click().check(b"{\"event_id\":").unwrap_err();
        assert!(matches!(&err, JsonSchemaError::NotJson(m) if m.starts_with("body is not JSON")));
    }

    #[test]
    fn broken_and_remote_schemas_are_refused_at_compile() {
        let err = JsonSchema::compile("{\"type\":").unwrap_err();
        assert!(err.contains("not JSON"), "{err}");
        let err = JsonSchema::compile(r#"{"type":"nope"}"#).unwrap_err();
        assert!(err.contains("not a valid JSON Schema"), "{err}");
        // Never fetched: the crate has no resolver for it.
        let remote = r#"{"$ref":"https://schemas.example.com/click.json"}"#;
        assert!(JsonSchema::compile(remote).is_err());
    }
}
