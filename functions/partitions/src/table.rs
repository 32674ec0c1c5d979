//! Table configuration (validated once at cold start) and the partitions of a table.
//!
//! A table is a bucket and key prefix, a Glue database and table, partition columns, and a
//! layout that maps the key's directory segments to an hour (or day). Column values are rendered
//! from that hour with each column's own template, then validated against the column's type, so
//! nothing from an object key reaches SQL except digits that parsed as a real date and hour.

use std::collections::BTreeSet;
use std::fmt;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::keys::SkipReason;
use crate::layout::{self, Granularity, Template};

/// One entry of `PARTITIONS_TABLES`, as written by people.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpecInput {
    pub bucket: String,
    #[serde(default)]
    pub prefix: String,
    pub database: String,
    pub table: String,
    /// `hive`, `firehose`, `flink`, or a template such as `year={yyyy}/month={MM}/day={dd}/`.
    pub layout: String,
    /// Defaults for the named layouts: `dt` (`{yyyy}-{MM}-{dd}`) and `hour` (`{HH}`), strings.
    #[serde(default)]
    pub columns: Option<Vec<ColumnInput>>,
    /// Bucket-relative prefix of the Firehose error output for this table's stream; objects under it are skipped.
    #[serde(default)]
    pub error_prefix: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnInput {
    pub name: String,
    #[serde(rename = "type", default = "default_type")]
    pub kind: String,
    /// Template of the value, e.g. `{yyyy}-{MM}-{dd}`.
    pub value: String,
}

fn default_type() -> String {
    "string".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    String,
    Int,
    Date,
}

impl ColumnType {
    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "string" | "varchar" => Some(ColumnType::String),
            "int" | "integer" | "bigint" | "smallint" | "tinyint" => Some(ColumnType::Int),
            "date" => Some(ColumnType::Date),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub kind: ColumnType,
    pub value: Template,
}

/// A validated table.
#[derive(Debug, Clone)]
pub struct TableDef {
    pub bucket: String,
    pub prefix: String,
    pub database: String,
    pub table: String,
    pub layout: Template,
    pub granularity: Granularity,
    pub columns: Vec<Column>,
    pub error_prefix: Option<String>,
}

/// One partition of one table: what the DDL, the Glue call and the registry need.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PartitionSpec {
    pub database: String,
    pub table: String,
    /// Column name and value, in the table's partition column order.
    pub values: Vec<(String, String)>,
    /// `s3://bucket/prefix/.../`, always ending in `/`.
    pub location: String,
    /// The hour (or day) this partition holds.
    #[serde(skip)]
    pub period: NaiveDateTime,
    #[serde(skip)]
    pub int_columns: Vec<bool>,
}

impl PartitionSpec {
    /// The registry key: `database.table/col=value/...`.
    pub fn registry_key(&self) -> String {
        let mut key = format!("{}.{}", self.database, self.table);
        for (c, v) in &self.values {
            key.push('/');
            key.push_str(c);
            key.push('=');
            key.push_str(v);
        }
        key
    }

    pub fn table_id(&self) -> String {
        format!("{}.{}", self.database, self.table)
    }

    pub fn value_list(&self) -> Vec<String> {
        self.values.iter().map(|(_, v)| v.clone()).collect()
    }

    /// The location's key prefix inside the bucket (`prefix/.../`).
    pub fn location_key_prefix(&self) -> &str {
        let rest = self.location.trim_start_matches("s3://");
        rest.split_once('/').map(|(_, p)| p).unwrap_or("")
    }
}

impl TableDef {
    pub fn id(&self) -> String {
        format!("{}.{}", self.database, self.table)
    }

    /// The partition of `period` (truncated to the table's granularity).
    pub fn spec_for(&self, period: NaiveDateTime) -> Result<PartitionSpec, String> {
        let period = self.granularity.truncate(period);
        let mut values = Vec::with_capacity(self.columns.len());
        let mut int_columns = Vec::with_capacity(self.columns.len());
        for c in &self.columns {
            let v = c.value.render(period);
            validate_value(c.kind, &v).map_err(|e| format!("column `{}`: {e}", c.name))?;
            values.push((c.name.clone(), v));
            int_columns.push(c.kind == ColumnType::Int);
        }
        Ok(PartitionSpec {
            database: self.database.clone(),
            table: self.table.clone(),
            values,
            location: format!(
                "s3://{}/{}{}",
                self.bucket,
                self.prefix,
                self.layout.render(period)
            ),
            period,
            int_columns,
        })
    }

    /// The partition a decoded object key belongs to, or why it is poison.
    pub fn spec_for_key(&self, key: &str) -> Result<PartitionSpec, String> {
        let rest = key
            .strip_prefix(self.prefix.as_str())
            .ok_or_else(|| format!("key is not under prefix {:?}", self.prefix))?;
        let (period, used) = self.layout.match_start(rest).ok_or_else(|| {
            format!(
                "key does not match layout {:?} of {} after prefix {:?}",
                self.layout.source(),
                self.id(),
                self.prefix
            )
        })?;
        if rest.len() == used {
            return Err("key names the partition directory, not an object".into());
        }
        self.spec_for(period)
    }
}

/// Checks a rendered value against its column type. Strings allow a conservative character set
/// (no quotes, backslashes, semicolons or control characters) even though they are also escaped.
pub fn validate_value(kind: ColumnType, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("empty value".into());
    }
    match kind {
        ColumnType::Int => {
            if value.len() > 18 || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{value:?} is not an integer"));
            }
        }
        ColumnType::Date => {
            let ok = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .is_ok_and(|d| d.format("%Y-%m-%d").to_string() == value);
            if !ok {
                return Err(format!("{value:?} is not a date (yyyy-MM-dd)"));
            }
        }
        ColumnType::String => {
            if value.len() > 256 || !value.chars().all(value_char) {
                return Err(format!(
                    "{value:?} has characters outside [A-Za-z0-9 _.:=-] or is longer than 256 bytes"
                ));
            }
        }
    }
    Ok(())
}

fn value_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " _.:=-".contains(c)
}

fn layout_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_=./".contains(c)
}

/// Glue and Athena names: lowercase letters, digits, underscores (databases and tables may also
/// use hyphens, which are quoted). Anything else is rejected at cold start.
fn valid_name(name: &str, allow_hyphen: bool) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || (allow_hyphen && c == '-')
        })
}

fn valid_bucket(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !name.starts_with(['-', '.'])
        && !name.ends_with(['-', '.'])
}

/// Key prefixes from configuration: empty, or relative, ending in `/`, and free of characters
/// that would need escaping in a location literal.
fn valid_prefix(prefix: &str) -> bool {
    prefix.is_empty()
        || (prefix.ends_with('/')
            && !prefix.starts_with('/')
            && !prefix.contains("//")
            && prefix.chars().all(layout_char))
}

/// A problem with one table's configuration, named by table and field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableProblem {
    pub table: String,
    pub field: &'static str,
    pub message: String,
}

impl fmt::Display for TableProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "table {}: field `{}`: {}",
            self.table, self.field, self.message
        )
    }
}

fn default_columns() -> Vec<ColumnInput> {
    vec![
        ColumnInput {
            name: "dt".into(),
            kind: "string".into(),
            value: "{yyyy}-{MM}-{dd}".into(),
        },
        ColumnInput {
            name: "hour".into(),
            kind: "string".into(),
            value: "{HH}".into(),
        },
    ]
}

/// Validates one table; every problem is reported, each naming the table and the field.
pub fn validate_table(index: usize, input: TableSpecInput) -> Result<TableDef, Vec<TableProblem>> {
    let label = if input.database.is_empty() && input.table.is_empty() {
        format!("#{}", index + 1)
    } else {
        format!("#{} ({}.{})", index + 1, input.database, input.table)
    };
    let mut problems = Vec::new();
    let mut problem = |field: &'static str, message: String| {
        problems.push(TableProblem {
            table: label.clone(),
            field,
            message,
        })
    };
    if !valid_bucket(&input.bucket) {
        problem(
            "bucket",
            format!("{:?} is not an S3 bucket name", input.bucket),
        );
    }
    if !valid_prefix(&input.prefix) {
        problem(
            "prefix",
            format!(
                "{:?} must be empty or end in `/`, not start with `/`, and use only [A-Za-z0-9-_=./]",
                input.prefix
            ),
        );
    }
    if let Some(ep) = &input.error_prefix {
        if ep.is_empty() || !valid_prefix(ep) {
            problem(
                "error_prefix",
                format!("{ep:?} must end in `/` and use only [A-Za-z0-9-_=./]"),
            );
        }
    }
    if !valid_name(&input.database, true) {
        problem(
            "database",
            format!(
                "{:?} must be lowercase letters, digits, `_` or `-`",
                input.database
            ),
        );
    }
    if !valid_name(&input.table, true) {
        problem(
            "table",
            format!(
                "{:?} must be lowercase letters, digits, `_` or `-`",
                input.table
            ),
        );
    }
    let (layout_source, preset) = match input.layout.as_str() {
        "hive" => (layout::HIVE, true),
        "firehose" => (layout::FIREHOSE, true),
        "flink" => (layout::FLINK, true),
        other => (other, false),
    };
    let layout = match Template::parse(layout_source, layout_char) {
        Ok(t) if !t.has_full_date() => {
            problem(
                "layout",
                format!("{layout_source:?} must contain {{yyyy}}, {{MM}} and {{dd}}"),
            );
            None
        }
        Ok(t) if !layout_source.ends_with('/') => {
            problem(
                "layout",
                format!("{layout_source:?} must end in `/` (it names a directory)"),
            );
            drop(t);
            None
        }
        Ok(t) => Some(t),
        Err(e) => {
            problem("layout", format!("{e} (or use hive, firehose, flink)"));
            None
        }
    };
    let column_inputs = match (input.columns, preset) {
        (Some(c), _) => c,
        (None, true) => default_columns(),
        (None, false) => {
            problem("columns", "required with a custom layout".into());
            Vec::new()
        }
    };
    if column_inputs.is_empty() && preset {
        problem(
            "columns",
            "at least one partition column is required".into(),
        );
    }
    let mut columns = Vec::new();
    let mut seen = BTreeSet::new();
    for c in column_inputs {
        if !valid_name(&c.name, false) {
            problem(
                "columns",
                format!(
                    "column name {:?} must be lowercase letters, digits or `_`",
                    c.name
                ),
            );
            continue;
        }
        if !seen.insert(c.name.clone()) {
            problem("columns", format!("column `{}` is listed twice", c.name));
        }
        let Some(kind) = ColumnType::parse(&c.kind) else {
            problem(
                "columns",
                format!(
                    "column `{}`: type {:?} is not string, int or date",
                    c.name, c.kind
                ),
            );
            continue;
        };
        match Template::parse(&c.value, value_char) {
            Ok(value) => {
                if let Some(l) = &layout {
                    if value.has_hour() && !l.has_hour() {
                        problem(
                            "columns",
                            format!("column `{}` uses {{HH}} but the layout has no hour", c.name),
                        );
                    }
                }
                // A sample value must pass the column's own type check.
                let sample = chrono::NaiveDate::from_ymd_opt(2026, 1, 2)
                    .and_then(|d| d.and_hms_opt(3, 0, 0))
                    .expect("valid sample");
                if let Err(e) = validate_value(kind, &value.render(sample)) {
                    problem(
                        "columns",
                        format!("column `{}`: template {:?} renders {e}", c.name, c.value),
                    );
                }
                columns.push(Column {
                    name: c.name,
                    kind,
                    value,
                });
            }
            Err(e) => problem("columns", format!("column `{}`: {e}", c.name)),
        }
    }
    if problems.is_empty() {
        let layout = layout.expect("checked");
        let granularity = if layout.has_hour() {
            Granularity::Hour
        } else {
            Granularity::Day
        };
        Ok(TableDef {
            bucket: input.bucket,
            prefix: input.prefix,
            database: input.database,
            table: input.table,
            layout,
            granularity,
            columns,
            error_prefix: input.error_prefix,
        })
    } else {
        Err(problems)
    }
}

/// Every configured table.
#[derive(Debug, Clone)]
pub struct Tables {
    pub tables: Vec<TableDef>,
}

/// What one object key means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOutcome {
    Partition(Box<PartitionSpec>),
    Skip(SkipReason, Option<String>),
}

impl Tables {
    /// Parses and validates the JSON array of tables; problems name the table and field.
    pub fn from_json(text: &str) -> Result<Self, Vec<String>> {
        let inputs: Vec<TableSpecInput> = serde_json::from_str(text)
            .map_err(|e| vec![format!("not a JSON array of table objects: {e}")])?;
        if inputs.is_empty() {
            return Err(vec!["no tables configured".into()]);
        }
        let mut tables = Vec::new();
        let mut problems = Vec::new();
        for (i, input) in inputs.into_iter().enumerate() {
            match validate_table(i, input) {
                Ok(t) => tables.push(t),
                Err(p) => problems.extend(p.into_iter().map(|p| p.to_string())),
            }
        }
        let mut ids = BTreeSet::new();
        for t in &tables {
            if !ids.insert(t.id()) {
                problems.push(format!("table {} is configured twice", t.id()));
            }
        }
        for (i, a) in tables.iter().enumerate() {
            for b in &tables[i + 1..] {
                if a.bucket == b.bucket
                    && (a.prefix.starts_with(&b.prefix) || b.prefix.starts_with(&a.prefix))
                {
                    problems.push(format!(
                        "tables {} and {} overlap: s3://{}/{} and s3://{}/{}",
                        a.id(),
                        b.id(),
                        a.bucket,
                        a.prefix,
                        b.bucket,
                        b.prefix
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(Self { tables })
        } else {
            Err(problems)
        }
    }

    pub fn find(&self, id: &str) -> Option<&TableDef> {
        self.tables.iter().find(|t| t.id() == id || t.table == id)
    }

    /// Classifies a decoded key of `bucket`: its partition, or the reason it is skipped.
    pub fn classify(&self, bucket: &str, key: &str, size: Option<i64>) -> KeyOutcome {
        if self.tables.iter().any(|t| {
            t.bucket == bucket
                && t.error_prefix
                    .as_deref()
                    .is_some_and(|p| key.starts_with(p))
        }) {
            return KeyOutcome::Skip(SkipReason::FirehoseErrorOutput, None);
        }
        let Some(table) = self
            .tables
            .iter()
            .find(|t| t.bucket == bucket && key.starts_with(t.prefix.as_str()))
        else {
            return KeyOutcome::Skip(SkipReason::NoMatchingTable, None);
        };
        if let Some(reason) = crate::keys::skip_reason(key, size) {
            return KeyOutcome::Skip(reason, None);
        }
        match table.spec_for_key(key) {
            Ok(spec) => KeyOutcome::Partition(Box::new(spec)),
            Err(e) => KeyOutcome::Skip(SkipReason::InvalidKey, Some(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"[{"bucket":"data-bucket","prefix":"enriched/","database":"streamops","table":"enriched_events","layout":"firehose","error_prefix":"errors/"}]"#;

    fn tables(json: &str) -> Tables {
        Tables::from_json(json).unwrap()
    }

    fn partition(o: KeyOutcome) -> PartitionSpec {
        match o {
            KeyOutcome::Partition(p) => *p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn firehose_key_becomes_dt_hour_partition_with_directory_location() {
        let t = tables(ONE);
        let p = partition(t.classify(
            "data-bucket",
            "enriched/2026/11/23/10/streamops-enriched-1-2026-11-23-10-01-02-uuid.gz",
            Some(100),
        ));
        assert_eq!(
            p.values,
            vec![
                ("dt".into(), "2026-11-23".into()),
                ("hour".into(), "10".into())
            ]
        );
        assert_eq!(p.location, "s3://data-bucket/enriched/2026/11/23/10/");
        assert_eq!(
            p.registry_key(),
            "streamops.enriched_events/dt=2026-11-23/hour=10"
        );
        assert_eq!(p.location_key_prefix(), "enriched/2026/11/23/10/");
    }

    #[test]
    fn hive_and_flink_layouts_and_custom_columns() {
        let t = tables(
            r#"[{"bucket":"b-1","prefix":"hive/","database":"db","table":"h","layout":"hive"},
                {"bucket":"b-1","prefix":"flink/","database":"db","table":"f","layout":"flink"},
                {"bucket":"b-1","prefix":"daily/","database":"db","table":"d","layout":"year={yyyy}/month={MM}/day={dd}/",
                 "columns":[{"name":"year","type":"int","value":"{yyyy}"},{"name":"month","type":"int","value":"{MM}"},{"name":"day","type":"date","value":"{yyyy}-{MM}-{dd}"}]}]"#,
        );
        let h = partition(t.classify("b-1", "hive/dt=2026-11-23/hour=09/part-0.parquet", None));
        assert_eq!(h.location, "s3://b-1/hive/dt=2026-11-23/hour=09/");
        let f = partition(t.classify("b-1", "flink/2026-11-23--09/part-1-7", Some(5)));
        assert_eq!(f.values[1], ("hour".into(), "09".into()));
        assert_eq!(f.location, "s3://b-1/flink/2026-11-23--09/");
        let d = partition(t.classify("b-1", "daily/year=2026/month=11/day=23/x.json", Some(5)));
        assert_eq!(
            d.values,
            vec![
                ("year".into(), "2026".into()),
                ("month".into(), "11".into()),
                ("day".into(), "2026-11-23".into())
            ]
        );
        assert_eq!(d.int_columns, vec![true, true, false]);
        assert_eq!(t.find("db.d").unwrap().granularity, Granularity::Day);
    }

    #[test]
    fn skips_are_classified_in_order() {
        let t = tables(ONE);
        let skip = |bucket: &str, key: &str, size| match t.classify(bucket, key, size) {
            KeyOutcome::Skip(r, _) => r,
            other => panic!("{key}: {other:?}"),
        };
        assert_eq!(
            skip(
                "data-bucket",
                "errors/processing-failed/2026/11/23/10/x.gz",
                Some(9)
            ),
            SkipReason::FirehoseErrorOutput
        );
        assert_eq!(
            skip("other-bucket", "enriched/2026/11/23/10/x.gz", Some(9)),
            SkipReason::NoMatchingTable
        );
        assert_eq!(
            skip("data-bucket", "raw/2026/11/23/10/x.gz", Some(9)),
            SkipReason::NoMatchingTable
        );
        assert_eq!(
            skip("data-bucket", "enriched/2026/11/23/10/_SUCCESS", Some(0)),
            SkipReason::SuccessMarker
        );
        assert_eq!(
            skip("data-bucket", "enriched/2026/11/23/10/", Some(0)),
            SkipReason::DirectoryMarker
        );
        assert_eq!(
            skip("data-bucket", "enriched/2026/11/23/x.gz", Some(9)),
            SkipReason::InvalidKey
        );
    }

    #[test]
    fn injection_through_a_key_is_poison_not_sql() {
        let t = tables(
            r#"[{"bucket":"b-1","prefix":"hive/","database":"db","table":"h","layout":"hive"},
                {"bucket":"b-1","prefix":"fh/","database":"db","table":"f","layout":"firehose"}]"#,
        );
        for key in [
            "hive/dt=2026-11-23') LOCATION 's3://evil/'; DROP TABLE h; --/hour=10/x.gz",
            "hive/dt=2026-11-23/hour=10' OR '1'='1/x.gz",
            "hive/dt=2026-11-23\\'/hour=10/x",
            "fh/2026/11/23/10`; DROP DATABASE db/x.gz",
            "fh/2026/11/23/1'/x.gz",
        ] {
            match t.classify("b-1", key, Some(10)) {
                KeyOutcome::Skip(SkipReason::InvalidKey, Some(reason)) => {
                    assert!(reason.contains("does not match layout"), "{key}: {reason}")
                }
                other => panic!("{key} was not rejected: {other:?}"),
            }
        }
    }

    #[test]
    fn values_are_validated_against_their_type() {
        assert!(validate_value(ColumnType::Int, "10").is_ok());
        assert!(validate_value(ColumnType::Int, "1 0").is_err());
        assert!(validate_value(ColumnType::Date, "2026-11-23").is_ok());
        assert!(validate_value(ColumnType::Date, "2026-13-01").is_err());
        assert!(validate_value(ColumnType::Date, "2026-1-01").is_err());
        assert!(validate_value(ColumnType::String, "2026-11-23").is_ok());
        assert!(validate_value(ColumnType::String, "x'y").is_err());
        assert!(validate_value(ColumnType::String, "x;y").is_err());
        assert!(validate_value(ColumnType::String, "").is_err());
    }

    #[test]
    fn config_problems_name_the_table_and_field() {
        let err = Tables::from_json(
            r#"[{"bucket":"Bad_Bucket","prefix":"/abs","database":"Db","table":"t","layout":"{yyyy}/{MM}/"},
                {"bucket":"ok-bucket","database":"db","table":"t2","layout":"{yyyy}/{MM}/{dd}/{HH}/"},
                {"bucket":"ok-bucket","prefix":"x/","database":"db","table":"t3","layout":"hive",
                 "columns":[{"name":"hour","type":"int","value":"{yyyy}-{MM}"},{"name":"Hour","value":"{HH}"},{"name":"d","type":"float","value":"{dd}"}]}]"#,
        )
        .unwrap_err();
        let text = err.join("\n");
        for want in [
            "table #1 (Db.t): field `bucket`",
            "table #1 (Db.t): field `prefix`",
            "table #1 (Db.t): field `database`",
            "table #1 (Db.t): field `layout`: \"{yyyy}/{MM}/\" must contain",
            "table #2 (db.t2): field `columns`: required with a custom layout",
            "table #3 (db.t3): field `columns`: column `hour`: template \"{yyyy}-{MM}\" renders",
            "column name \"Hour\"",
            "type \"float\" is not string, int or date",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
        let e = Tables::from_json(
            r#"[{"bucket":"b-1","database":"db","table":"t","layout":"hive","extra":1}]"#,
        )
        .unwrap_err();
        assert!(e[0].contains("unknown field `extra`"), "{e:?}");
        let e = Tables::from_json("[]").unwrap_err();
        assert_eq!(e, vec!["no tables configured".to_string()]);
        let e = Tables::from_json(
            r#"[{"bucket":"b-1","prefix":"a/","database":"db","table":"t","layout":"hive"},{"bucket":"b-1","prefix":"a/b/","database":"db","table":"u","layout":"hive"}]"#,
        )
        .unwrap_err();
        assert!(e[0].contains("overlap"), "{e:?}");
    }
}
