//! `PARTITIONS_TABLES` as people write it, validated once at cold start: every problem is
//! reported, each naming the table and the field.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;

use crate::columns::{Column, ColumnType, validate_value, value_char};
use crate::iceberg::{IcebergTable, IcebergTableInput, validate_iceberg};
use crate::layout::{self, Granularity, Template};
use crate::named_keys::{KeyRule, KeyRuleInput, KeyRules, KeyValues, valid_key_name};
use crate::names::{layout_char, valid_bucket, valid_name, valid_prefix};
use crate::table::{TableDef, Tables};

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
    /// The rule of every named key of the layout (`{source}`), by name.
    #[serde(default)]
    pub keys: BTreeMap<String, KeyRuleInput>,
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

/// Collects one table's problems under its label.
struct Problems {
    label: String,
    list: Vec<TableProblem>,
}

impl Problems {
    fn add(&mut self, field: &'static str, message: String) {
        self.list.push(TableProblem {
            table: self.label.clone(),
            field,
            message,
        })
    }
}

/// Validates one table; every problem is reported, each naming the table and the field.
pub fn validate_table(index: usize, input: TableSpecInput) -> Result<TableDef, Vec<TableProblem>> {
    let label = if input.database.is_empty() && input.table.is_empty() {
        format!("#{}", index + 1)
    } else {
        format!("#{} ({}.{})", index + 1, input.database, input.table)
    };
    let mut p = Problems {
        label,
        list: Vec::new(),
    };
    check_locations(&input, &mut p);
    check_names(&input, &mut p);
    let keys = parse_keys(input.keys, &mut p);
    let (layout, preset) = parse_layout(&input.layout, &keys, &mut p);
    let column_inputs = match (input.columns, preset) {
        (Some(c), _) => c,
        (None, true) => default_columns(),
        (None, false) => {
            p.add("columns", "required with a custom layout".into());
            Vec::new()
        }
    };
    if column_inputs.is_empty() && preset {
        p.add(
            "columns",
            "at least one partition column is required".into(),
        );
    }
    let columns = parse_columns(column_inputs, layout.as_ref(), &keys, &mut p);
    check_keys_have_columns(&keys, &columns, &mut p);
    if !p.list.is_empty() {
        return Err(p.list);
    }
    // `parse_layout` adds a problem whenever it returns None, and problems returned above.
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
        keys,
    })
}

/// The rules of the named keys; a bad name or rule is a problem naming the key.
fn parse_keys(inputs: BTreeMap<String, KeyRuleInput>, p: &mut Problems) -> KeyRules {
    let mut rules = BTreeMap::new();
    for (name, input) in inputs {
        if !valid_key_name(&name) {
            p.add(
                "keys",
                format!("key name {name:?} must be lowercase letters, digits or `_`, start with a letter, and not be a time token"),
            );
            continue;
        }
        match KeyRule::from_input(input) {
            Ok(rule) => {
                rules.insert(name, rule);
            }
            Err(e) => p.add("keys", format!("key `{name}`: {e}")),
        }
    }
    KeyRules::new(rules)
}

/// Each named key must be the whole value of a column: the column values then tell partitions of
/// two values apart (the registry, the catalog and status know a partition by them).
fn check_keys_have_columns(keys: &KeyRules, columns: &[Column], p: &mut Problems) {
    for name in keys.names() {
        if !columns.iter().any(|c| c.value.is_exactly_key(name)) {
            p.add(
                "columns",
                format!("key `{name}` needs a column whose value is exactly \"{{{name}}}\", or partitions of two values would share one name"),
            );
        }
    }
}

fn check_locations(input: &TableSpecInput, p: &mut Problems) {
    if !valid_bucket(&input.bucket) {
        p.add(
            "bucket",
            format!("{:?} is not an S3 bucket name", input.bucket),
        );
    }
    if !valid_prefix(&input.prefix) {
        p.add(
            "prefix",
            format!(
                "{:?} must be empty or end in `/`, not start with `/`, and use only [A-Za-z0-9-_=./]",
                input.prefix
            ),
        );
    }
    if let Some(ep) = &input.error_prefix {
        if ep.is_empty() || !valid_prefix(ep) {
            p.add(
                "error_prefix",
                format!("{ep:?} must end in `/` and use only [A-Za-z0-9-_=./]"),
            );
        }
    }
}

fn check_names(input: &TableSpecInput, p: &mut Problems) {
    for (field, name) in [("database", &input.database), ("table", &input.table)] {
        if !valid_name(name, true) {
            p.add(
                field,
                format!("{name:?} must be lowercase letters, digits, `_` or `-`"),
            );
        }
    }
}

/// The layout template (a preset name or a template) and whether it was a preset.
fn parse_layout(source: &str, keys: &KeyRules, p: &mut Problems) -> (Option<Template>, bool) {
    let (layout_source, preset) = match source {
        "hive" => (layout::HIVE, true),
        "firehose" => (layout::FIREHOSE, true),
        "flink" => (layout::FLINK, true),
        other => (other, false),
    };
    let layout = match Template::parse_with_keys(layout_source, layout_char, keys) {
        Ok(t) if !t.has_full_date() => {
            p.add(
                "layout",
                format!("{layout_source:?} must contain {{yyyy}}, {{MM}} and {{dd}}"),
            );
            None
        }
        Ok(_) if !layout_source.ends_with('/') => {
            p.add(
                "layout",
                format!("{layout_source:?} must end in `/` (it names a directory)"),
            );
            None
        }
        Ok(t) => check_layout_keys(t, keys, p),
        Err(e) => {
            p.add("layout", format!("{e} (or use hive, firehose, flink)"));
            None
        }
    };
    (layout, preset)
}

/// Every rule's key is in the layout, and each key ends its directory segment.
fn check_layout_keys(layout: Template, keys: &KeyRules, p: &mut Problems) -> Option<Template> {
    let mut ok = true;
    for name in keys.names() {
        if !layout.key_names().contains(&name) {
            p.add(
                "keys",
                format!(
                    "key `{name}` has a rule but layout {:?} has no {{{name}}}",
                    layout.source()
                ),
            );
            ok = false;
        }
    }
    for name in layout.keys_not_ending_a_segment() {
        p.add(
            "layout",
            format!("{{{name}}} in {:?} must be followed by `/`: a named key is the rest of its directory segment", layout.source()),
        );
        ok = false;
    }
    ok.then_some(layout)
}

fn parse_columns(
    inputs: Vec<ColumnInput>,
    layout: Option<&Template>,
    keys: &KeyRules,
    p: &mut Problems,
) -> Vec<Column> {
    let mut seen = BTreeSet::new();
    inputs
        .into_iter()
        .filter_map(|c| parse_column(c, layout, keys, &mut seen, p))
        .collect()
}

fn parse_column(
    c: ColumnInput,
    layout: Option<&Template>,
    keys: &KeyRules,
    seen: &mut BTreeSet<String>,
    p: &mut Problems,
) -> Option<Column> {
    if !valid_name(&c.name, false) {
        p.add(
            "columns",
            format!(
                "column name {:?} must be lowercase letters, digits or `_`",
                c.name
            ),
        );
        return None;
    }
    if !seen.insert(c.name.clone()) {
        p.add("columns", format!("column `{}` is listed twice", c.name));
    }
    let Some(kind) = ColumnType::parse(&c.kind) else {
        p.add(
            "columns",
            format!(
                "column `{}`: type {:?} is not string, int or date",
                c.name, c.kind
            ),
        );
        return None;
    };
    let value = match Template::parse_with_keys(&c.value, value_char, keys) {
        Ok(v) => v,
        Err(e) => {
            p.add("columns", format!("column `{}`: {e}", c.name));
            return None;
        }
    };
    if layout.is_some_and(|l| value.has_hour() && !l.has_hour()) {
        p.add(
            "columns",
            format!("column `{}` uses {{HH}} but the layout has no hour", c.name),
        );
    }
    if kind == ColumnType::Date && value.has_keys() {
        p.add(
            "columns",
            format!(
                "column `{}`: a date column takes time tokens only, not named keys",
                c.name
            ),
        );
        return None;
    }
    if let Some(e) = first_bad_value(kind, &value, keys) {
        p.add(
            "columns",
            format!("column `{}`: template {:?} renders {e}", c.name, c.value),
        );
    }
    Some(Column {
        name: c.name,
        kind,
        value,
    })
}

/// Why a column's values would fail its own type check, if they ever would. Strings and integers
/// pass for every period when they pass for one (digits and literals of a fixed width); a date
/// can be a date on some days only (`{yyyy}-{dd}-{MM}` renders 2026-02-01 on 2 January). A date
/// is ten characters, so its month and day are each one field or two literal digits, and whether
/// it exists depends on the month, the day and whether the year is a leap year: the days 1, 12,
/// 13 and 28 to 31 of every month of a leap and a common year, at hours 0 and 23, meet every way
/// a field can fail (a day or hour as the month, an hour as the day, a literal day past the
/// month's end, a year built of other fields that is not a leap year on 29 February).
/// Named keys render each of their [`KeyRule::samples`] in turn (the other keys their first):
/// an enumerated value or a class's character that is not a digit fails an int column, the
/// longest value a rule allows one too long for its type.
fn first_bad_value(kind: ColumnType, value: &Template, keys: &KeyRules) -> Option<String> {
    let at = |y: i32, m: u32, d: u32, h: u32| {
        chrono::NaiveDate::from_ymd_opt(y, m, d).and_then(|d| d.and_hms_opt(h, 0, 0))
    };
    let sample = at(2026, 1, 2, 3).expect("valid sample");
    for key_sample in key_samples(keys) {
        let rendered = value.render(sample, &key_sample);
        if let Err(e) = validate_value(kind, &rendered) {
            return Some(if key_sample.iter().next().is_some() {
                format!("{e} with {key_sample}")
            } else {
                e
            });
        }
    }
    if kind != ColumnType::Date {
        return None;
    }
    let samples = [2024, 2026].into_iter().flat_map(move |y| {
        (1..=12).flat_map(move |m| {
            [1, 12, 13, 28, 29, 30, 31]
                .into_iter()
                .flat_map(move |d| [0, 23].into_iter().filter_map(move |h| at(y, m, d, h)))
        })
    });
    samples.into_iter().find_map(|t| {
        validate_value(kind, &value.render(t, &KeyValues::none()))
            .err()
            .map(|e| format!("{e} on {}", t.format("%Y-%m-%d %H:00")))
    })
}

/// One set of key values per sample of each key (the other keys at their first sample); a
/// single empty set for a table without keys.
fn key_samples(keys: &KeyRules) -> Vec<KeyValues> {
    let samples: BTreeMap<&str, Vec<String>> = keys
        .names()
        .filter_map(|k| Some((k, keys.get(k)?.samples())))
        .collect();
    let first: BTreeMap<String, String> = samples
        .iter()
        .filter_map(|(k, s)| Some((k.to_string(), s.first()?.clone())))
        .collect();
    let mut out = vec![first.clone()];
    for (k, values) in &samples {
        for v in values.iter().skip(1) {
            let mut set = first.clone();
            set.insert(k.to_string(), v.clone());
            out.push(set);
        }
    }
    // Samples come from the rules, so they pass them.
    out.into_iter()
        .filter_map(|raw| keys.check(raw).ok())
        .collect()
}

impl Tables {
    /// Parses and validates the JSON array of tables; problems name the table and field. An
    /// entry with `"format": "iceberg"` is an Iceberg table ([`crate::iceberg`]); `"hive"` (the
    /// default) is a table whose partitions are registered.
    pub fn from_json(text: &str) -> Result<Self, Vec<String>> {
        let inputs: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_str(text)
            .map_err(|e| vec![format!("not a JSON array of table objects: {e}")])?;
        if inputs.is_empty() {
            return Err(vec!["no tables configured".into()]);
        }
        let mut tables = Vec::new();
        let mut iceberg = Vec::new();
        let mut problems = Vec::new();
        for (i, mut input) in inputs.into_iter().enumerate() {
            let parsed = match TableFormat::of(&mut input, i) {
                Ok(TableFormat::Hive) => {
                    parse_entry(i, input, validate_table).map(|t| tables.push(t))
                }
                Ok(TableFormat::Iceberg) => {
                    parse_entry(i, input, iceberg_entry).map(|t| iceberg.push(t))
                }
                Err(e) => Err(vec![e]),
            };
            problems.extend(parsed.err().unwrap_or_default());
        }
        problems.extend(conflicts(&tables, &iceberg));
        if problems.is_empty() {
            Ok(Self { tables, iceberg })
        } else {
            Err(problems)
        }
    }
}

/// [`validate_iceberg`], its problems named by the table as a Hive entry's are.
fn iceberg_entry(
    index: usize,
    input: IcebergTableInput,
) -> Result<IcebergTable, Vec<TableProblem>> {
    let table = format!("#{} ({}.{})", index + 1, input.database, input.table);
    validate_iceberg(input).map_err(|problems| {
        problems
            .into_iter()
            .map(|(field, message)| TableProblem {
                table: table.clone(),
                field,
                message,
            })
            .collect()
    })
}

/// What an entry's `format` says it is.
enum TableFormat {
    Hive,
    Iceberg,
}

impl TableFormat {
    /// Reads `format` (default `hive`) and takes it out: the entry's own fields remain.
    fn of(
        input: &mut serde_json::Map<String, serde_json::Value>,
        index: usize,
    ) -> Result<Self, String> {
        match input.get("format").map(|f| f.as_str()) {
            None => Ok(TableFormat::Hive),
            Some(Some("hive")) => {
                input.remove("format");
                Ok(TableFormat::Hive)
            }
            Some(Some("iceberg")) => {
                input.remove("format");
                Ok(TableFormat::Iceberg)
            }
            Some(other) => Err(format!(
                "table #{}: field `format`: {} is not hive or iceberg",
                index + 1,
                other.map_or_else(|| input["format"].to_string(), |s| format!("{s:?}"))
            )),
        }
    }
}

/// Deserializes one entry and validates it; problems as text.
fn parse_entry<I: serde::de::DeserializeOwned, T>(
    index: usize,
    input: serde_json::Map<String, serde_json::Value>,
    validate: fn(usize, I) -> Result<T, Vec<TableProblem>>,
) -> Result<T, Vec<String>> {
    let input: I = serde_json::from_value(input.into()).map_err(|e| {
        vec![format!(
            "not a JSON array of table objects: table #{}: {e}",
            index + 1
        )]
    })?;
    validate(index, input).map_err(|p| p.iter().map(ToString::to_string).collect())
}

/// Tables configured twice, and tables whose locations overlap (an Iceberg table's prefix
/// included: an object must belong to one table).
fn conflicts(tables: &[TableDef], iceberg: &[IcebergTable]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut ids = BTreeSet::new();
    let places: Vec<(String, &str, &str)> = tables
        .iter()
        .map(|t| (t.id(), t.bucket.as_str(), t.prefix.as_str()))
        .chain(
            iceberg
                .iter()
                .map(|t| (t.id(), t.bucket.as_str(), t.prefix.as_str())),
        )
        .collect();
    for (id, _, _) in &places {
        if !ids.insert(id.clone()) {
            problems.push(format!("table {id} is configured twice"));
        }
    }
    for (i, (a, a_bucket, a_prefix)) in places.iter().enumerate() {
        for (b, b_bucket, b_prefix) in &places[i + 1..] {
            if a_bucket == b_bucket
                && (a_prefix.starts_with(b_prefix) || b_prefix.starts_with(a_prefix))
            {
                problems.push(format!(
                    "tables {a} and {b} overlap: s3://{a_bucket}/{a_prefix} and s3://{b_bucket}/{b_prefix}"
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn keyed(layout: &str, keys: &str, columns: &str) -> String {
        format!(
            r#"[{{"bucket":"b-1","prefix":"k/","database":"db","table":"k","layout":"{layout}","keys":{keys},"columns":{columns}}}]"#
        )
    }

    const SOURCE_COLUMNS: &str =
        r#"[{"name":"source","value":"{source}"},{"name":"dt","value":"{yyyy}-{MM}-{dd}"}]"#;

    fn problems(json: &str) -> String {
        Tables::from_json(json).unwrap_err().join("\n")
    }

    #[test]
    fn named_keys_are_checked_at_load_naming_table_and_key() {
        let ok = Tables::from_json(&keyed(
            "source={source}/dt={yyyy}-{MM}-{dd}/",
            r#"{"source":{"values":["web","app"]}}"#,
            SOURCE_COLUMNS,
        ))
        .unwrap();
        assert!(ok.tables[0].keys.has("source"));
        for (layout, keys, columns, want) in [
            (
                "source={source}/dt={yyyy}-{MM}-{dd}/",
                "{}",
                SOURCE_COLUMNS,
                "table #1 (db.k): field `layout`: unknown token `{source}`",
            ),
            (
                "dt={yyyy}-{MM}-{dd}/",
                r#"{"source":{"values":["web"]}}"#,
                r#"[{"name":"dt","value":"{yyyy}-{MM}-{dd}"}]"#,
                "table #1 (db.k): field `keys`: key `source` has a rule but layout \"dt={yyyy}-{MM}-{dd}/\" has no {source}",
            ),
            (
                "source={source}/dt={yyyy}-{MM}-{dd}/",
                r#"{"source":{"pattern":"a-z'","max_len":4}}"#,
                SOURCE_COLUMNS,
                "table #1 (db.k): field `keys`: key `source`: character '\\'' cannot be in a pattern",
            ),
            (
                "source={source}/dt={yyyy}-{MM}-{dd}/",
                r#"{"source":{"pattern":"a-z"}}"#,
                SOURCE_COLUMNS,
                "field `keys`: key `source`: `pattern` needs `max_len`",
            ),
            (
                "src={Source}/dt={yyyy}-{MM}-{dd}/",
                r#"{"Source":{"values":["web"]}}"#,
                SOURCE_COLUMNS,
                "field `keys`: key name \"Source\" must be lowercase",
            ),
            (
                "src-{source}-x/dt={yyyy}-{MM}-{dd}/",
                r#"{"source":{"values":["web"]}}"#,
                SOURCE_COLUMNS,
                "field `layout`: {source} in \"src-{source}-x/dt={yyyy}-{MM}-{dd}/\" must be followed by `/`",
            ),
            (
                "source={source}/dt={yyyy}-{MM}-{dd}/",
                r#"{"source":{"values":["web"]}}"#,
                r#"[{"name":"src","value":"s-{source}"},{"name":"dt","value":"{yyyy}-{MM}-{dd}"}]"#,
                "field `columns`: key `source` needs a column whose value is exactly \"{source}\"",
            ),
            (
                "source={source}/dt={yyyy}-{MM}-{dd}/",
                r#"{"source":{"values":["web"]}}"#,
                r#"[{"name":"source","value":"{source}"},{"name":"dt","type":"date","value":"{source}"}]"#,
                "column `dt`: a date column takes time tokens only",
            ),
            (
                "source={source}/dt={yyyy}-{MM}-{dd}/",
                r#"{"source":{"pattern":"0-9a","max_len":4}}"#,
                r#"[{"name":"source","type":"int","value":"{source}"},{"name":"dt","value":"{yyyy}-{MM}-{dd}"}]"#,
                "column `source`: template \"{source}\" renders \"89a\" is not an integer with source=89a",
            ),
            (
                "source={source}/dt={yyyy}-{MM}-{dd}/",
                r#"{"source":{"values":["10","web"]}}"#,
                r#"[{"name":"source","type":"int","value":"{source}"},{"name":"dt","value":"{yyyy}-{MM}-{dd}"}]"#,
                "\"web\" is not an integer with source=web",
            ),
            (
                "source={source}/dt={yyyy}-{MM}-{dd}/",
                r#"{"source":{"pattern":"a-z","max_len":128}}"#,
                r#"[{"name":"source","value":"{source}"},{"name":"long","value":"{source}{source}{source}"},{"name":"dt","value":"{yyyy}-{MM}-{dd}"}]"#,
                "column `long`: template \"{source}{source}{source}\" renders",
            ),
            (
                "hive",
                r#"{"source":{"values":["web"]}}"#,
                SOURCE_COLUMNS,
                "has a rule but layout \"dt={yyyy}-{MM}-{dd}/hour={HH}/\" has no {source}",
            ),
        ] {
            let text = problems(&keyed(layout, keys, columns));
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
    }

    const MIXED: &str = r#"[{"bucket":"b-1","prefix":"hive/","database":"db","table":"h","layout":"hive"},
        {"format":"iceberg","bucket":"b-1","prefix":"ice/","database":"db","table":"ice",
         "optimize_where":{"column":"event_day","last_days":7},"max_runtime_seconds":900}]"#;

    #[test]
    fn iceberg_entries_load_beside_hive_ones_and_their_objects_are_acknowledged() {
        let t = Tables::from_json(MIXED).unwrap();
        assert_eq!(t.tables.len(), 1);
        assert_eq!(t.iceberg[0].id(), "db.ice");
        assert_eq!(t.find_iceberg("ice").unwrap().max_runtime.as_secs(), 900);
        assert!(
            t.find("ice").is_none(),
            "an Iceberg table has no partitions"
        );
        assert!(matches!(
            t.classify(
                "b-1",
                "ice/data/event_day=2026-11-23/00001.parquet",
                Some(10)
            ),
            crate::table::KeyOutcome::Skip(crate::keys::SkipReason::IcebergTable, None)
        ));
        assert!(matches!(
            t.classify("b-1", "ice/metadata/00001.metadata.json", Some(10)),
            crate::table::KeyOutcome::Skip(crate::keys::SkipReason::IcebergTable, None)
        ));
        assert!(matches!(
            t.classify("b-1", "hive/dt=2026-11-23/hour=10/x.gz", Some(10)),
            crate::table::KeyOutcome::Partition(_)
        ));
        let explicit = Tables::from_json(
            r#"[{"format":"hive","bucket":"b-1","prefix":"h/","database":"db","table":"h","layout":"hive"}]"#,
        )
        .unwrap();
        assert_eq!(explicit.tables.len(), 1);
    }

    #[test]
    fn iceberg_problems_name_the_table_and_overlaps_span_both_formats() {
        for (json, want) in [
            (
                r#"[{"format":"delta","bucket":"b-1","database":"db","table":"t","layout":"hive"}]"#,
                "table #1: field `format`: \"delta\" is not hive or iceberg",
            ),
            (
                r#"[{"format":7,"bucket":"b-1","database":"db","table":"t","layout":"hive"}]"#,
                "table #1: field `format`: 7 is not hive or iceberg",
            ),
            (
                r#"[{"format":"iceberg","bucket":"b-1","database":"db","table":"t","layout":"hive"}]"#,
                "table #1: unknown field `layout`",
            ),
            (
                r#"[{"format":"iceberg","bucket":"b-1","database":"db","table":"t","max_runtime_seconds":99999}]"#,
                "table #1 (db.t): field `max_runtime_seconds`: 99999 must be from 60 to 21600",
            ),
            (
                r#"[{"bucket":"b-1","prefix":"a/","database":"db","table":"h","layout":"hive"},
                    {"format":"iceberg","bucket":"b-1","prefix":"a/ice/","database":"db","table":"i"}]"#,
                "tables db.h and db.i overlap: s3://b-1/a/ and s3://b-1/a/ice/",
            ),
            (
                r#"[{"bucket":"b-1","prefix":"a/","database":"db","table":"t","layout":"hive"},
                    {"format":"iceberg","bucket":"b-1","prefix":"b/","database":"db","table":"t"}]"#,
                "table db.t is configured twice",
            ),
        ] {
            let text = problems(json);
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
    }

    #[test]
    fn int_key_columns_load_when_every_value_is_digits() {
        let t = Tables::from_json(&keyed(
            "region={region}/dt={yyyy}-{MM}-{dd}/",
            r#"{"region":{"pattern":"0-9","max_len":4}}"#,
            r#"[{"name":"region","type":"int","value":"{region}"},{"name":"dt","value":"{yyyy}-{MM}-{dd}"}]"#,
        ))
        .unwrap();
        let p = match t.classify("b-1", "k/region=0042/dt=2026-11-23/x", Some(1)) {
            crate::table::KeyOutcome::Partition(p) => p,
            other => panic!("{other:?}"),
        };
        assert_eq!(p.values[0], ("region".into(), "0042".into()));
        assert_eq!(p.int_columns, vec![true, false]);
    }
}
