//! One schema for the data path, pure: the enriched table's columns as Glue and Athena read them
//! (`JsonSerDe` over the records enrich writes), derived from the enrichment spec. The spec's
//! fields in order (a dropped PII field is not written; a dotted field is written inside its
//! top-level member, read as JSON text), the event-time field, the derived fields, the
//! reference target and `_ingest`. The template's table is tested against this list for the
//! shipped spec (`specs/clickstream.columns.json`), and the `columns` command prints it for the
//! deployed one.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::spec::{EnrichmentSpec, FieldType, PiiAction, TimeFormat};

/// One Glue column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl Column {
    fn new(name: &str, kind: &str, comment: Option<&str>) -> Self {
        Self {
            name: name.to_string(),
            kind: kind.to_string(),
            comment: comment.map(str::to_string),
        }
    }
}

/// The partition keys Firehose's dynamic partitioning writes from `dt` and `hour`.
pub const PARTITION_KEYS: [&str; 2] = ["dt", "hour"];

/// `_ingest` as enrich writes it (`pipeline/finish.rs`): Kinesis and MSK members both, the KPL
/// sub-sequence number only for a de-aggregated user record.
const INGEST: &str = "struct<source:string,stream:string,shard:string,sequence_number:string,sub_sequence_number:bigint,topic:string,partition:string,offset:string,arrival_time:string,processed_at:string,spec:string,reference:string>";

/// The table's columns (the partition keys apart: [`PARTITION_KEYS`]).
pub fn table_columns(spec: &EnrichmentSpec) -> Vec<Column> {
    let mut out: Vec<Column> = Vec::new();
    let mut named = BTreeSet::new();
    let pii = |top: &str| spec.pii.iter().find(|r| r.field == top).map(|r| r.action);
    for f in &spec.fields {
        let top = f.name.split('.').next().unwrap_or(&f.name);
        if !named.insert(top.to_string()) {
            continue;
        }
        let nested = top != f.name;
        let column = match (pii(top), nested) {
            (Some(PiiAction::Drop), _) => continue,
            (Some(PiiAction::Hmac), _) => Column::new(top, "string", Some("HMAC-SHA256 pseudonym")),
            (Some(PiiAction::Mask), _) => Column::new(top, "string", Some("masked")),
            (None, true) => Column::new(top, "string", Some("an object, as JSON text")),
            (None, false) => glue_column(top, f.kind),
        };
        out.push(column);
    }
    let time = &spec.event_time.field;
    let time_top = time.split('.').next().unwrap_or(time);
    if named.insert(time_top.to_string()) {
        let kind = if spec.event_time.formats.contains(&TimeFormat::Rfc3339) || time_top != time {
            "string"
        } else {
            "double"
        };
        out.push(Column::new(
            time_top,
            kind,
            Some("event time as the producer sent it"),
        ));
    }
    out.push(Column::new("event_time", "string", None));
    out.push(Column::new("event_time_ms", "bigint", None));
    if let Some(r) = &spec.reference {
        let members: Vec<String> = r
            .attributes
            .iter()
            .map(|a| {
                let kind = r.attribute_types.get(a).map_or("string", |t| glue_type(*t));
                format!("{a}:{kind}")
            })
            .collect();
        let kind = format!("struct<{}>", members.join(","));
        out.push(Column {
            name: r.target.clone(),
            kind,
            comment: None,
        });
    }
    out.push(Column::new("_event_id", "string", None));
    out.push(Column::new("_ingest", INGEST, None));
    out
}

fn glue_column(name: &str, kind: FieldType) -> Column {
    match kind {
        FieldType::Object => Column::new(name, "string", Some("an object, as JSON text")),
        FieldType::Array => Column::new(name, "string", Some("an array, as JSON text")),
        other => Column::new(name, glue_type(other), None),
    }
}

fn glue_type(kind: FieldType) -> &'static str {
    match kind {
        FieldType::String => "string",
        FieldType::Number => "double",
        FieldType::Integer => "bigint",
        FieldType::Boolean => "boolean",
        FieldType::Object | FieldType::Array => "string",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::DEFAULT_SPEC;

    fn spec(json: &str) -> EnrichmentSpec {
        EnrichmentSpec::parse(json, "test").unwrap()
    }

    #[test]
    fn the_shipped_spec_gives_the_committed_column_list() {
        let columns = table_columns(&spec(DEFAULT_SPEC));
        let committed: serde_json::Value =
            serde_json::from_str(include_str!("../specs/clickstream.columns.json")).unwrap();
        assert_eq!(
            serde_json::to_value(&columns).unwrap(),
            committed["columns"],
            "regenerate specs/clickstream.columns.json with the enrich `columns` command"
        );
        assert_eq!(
            committed["partition_keys"],
            serde_json::json!(PARTITION_KEYS)
        );
    }

    #[test]
    fn types_pii_nesting_and_the_time_field_decide_each_column() {
        let s = spec(
            r#"{"name": "t", "fields": [
                 {"name": "id", "type": "string"}, {"name": "n", "type": "number"},
                 {"name": "count", "type": "integer"}, {"name": "ok", "type": "boolean"},
                 {"name": "tags", "type": "array"}, {"name": "user.id", "type": "string"},
                 {"name": "user.email", "type": "string"}, {"name": "phone", "type": "string"}],
               "event_time": {"field": "at", "formats": ["epoch_millis"]},
               "partition_key": "id",
               "pii": [{"field": "phone", "action": "drop"}]}"#,
        );
        let got: Vec<(String, String)> = table_columns(&s)
            .into_iter()
            .map(|c| (c.name, c.kind))
            .collect();
        let want = [
            ("id", "string"),
            ("n", "double"),
            ("count", "bigint"),
            ("ok", "boolean"),
            ("tags", "string"),
            ("user", "string"),
            ("at", "double"),
            ("event_time", "string"),
            ("event_time_ms", "bigint"),
            ("_event_id", "string"),
            ("_ingest", INGEST),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn an_attribute_type_must_name_an_attribute() {
        let e = EnrichmentSpec::parse(
            r#"{"name": "t", "event_time": {"field": "ts", "formats": ["rfc3339"]}, "partition_key": "id",
                "reference": {"key_field": "id", "attributes": ["a"], "target": "r", "attribute_types": {"b": "integer"}}}"#,
            "test",
        )
        .unwrap_err();
        assert!(e.contains("reference.attribute_types names \"b\""), "{e}");
    }
}
