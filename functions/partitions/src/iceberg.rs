//! Iceberg tables in `PARTITIONS_TABLES` (`"format": "iceberg"`): Iceberg tracks its own data
//! files, so there is nothing to register; what such a table needs is maintenance (compaction
//! and snapshot expiry, [`crate::maintenance`]). Validated once at cold start, every problem
//! naming the table and the field.

use std::time::Duration;

use serde::Deserialize;

use crate::names::{valid_bucket, valid_name, valid_prefix};

/// A problem with one field of an Iceberg entry (the caller names the table).
pub type FieldProblem = (&'static str, String);

/// The bounds of `max_runtime_seconds`: a query is at least given a minute, and an OPTIMIZE that
/// takes more than six hours is a table whose compaction should be split by `optimize_where`.
pub const MIN_RUNTIME_SECONDS: u64 = 60;
pub const MAX_RUNTIME_SECONDS: u64 = 6 * 3600;
pub const DEFAULT_RUNTIME_SECONDS: u64 = 1800;
/// The widest `optimize_where` window, in days.
pub const MAX_WINDOW_DAYS: u32 = 3660;

/// One Iceberg entry of `PARTITIONS_TABLES`, as people write it (its `"format": "iceberg"`
/// taken out when the entry was routed here).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcebergTableInput {
    pub bucket: String,
    #[serde(default)]
    pub prefix: String,
    pub database: String,
    pub table: String,
    /// Run `OPTIMIZE ... REWRITE DATA USING BIN_PACK` (default true).
    #[serde(default = "yes")]
    pub optimize: bool,
    /// Compact only the recent files: a partition column and how many days back from the run.
    #[serde(default)]
    pub optimize_where: Option<WindowInput>,
    /// Run `VACUUM` (snapshot expiry and orphan files, by the table's own retention properties;
    /// default true).
    #[serde(default = "yes")]
    pub vacuum: bool,
    /// How long one maintenance query may run before it is stopped (default 1800).
    #[serde(default)]
    pub max_runtime_seconds: Option<u64>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowInput {
    /// A partition column of the table (Athena refuses a WHERE on any other column).
    pub column: String,
    /// `date` (default), `timestamp`, or `string` (an ISO `yyyy-MM-dd` text column, such as a
    /// Hive-style `dt`): how the window's start is written.
    #[serde(rename = "type", default)]
    pub kind: WindowType,
    /// The window: from this many days before the run's day (00:00 UTC) on.
    pub last_days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowType {
    #[default]
    Date,
    Timestamp,
    String,
}

/// `optimize_where`, validated: never free SQL, only a column name and a number of days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWindow {
    pub column: String,
    pub kind: WindowType,
    pub last_days: u32,
}

/// A validated Iceberg table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcebergTable {
    pub bucket: String,
    pub prefix: String,
    pub database: String,
    pub table: String,
    /// `None`: no OPTIMIZE; `Some(None)`: the whole table; `Some(Some(w))`: the window only.
    pub optimize: Option<Option<TimeWindow>>,
    pub vacuum: bool,
    pub max_runtime: Duration,
}

impl IcebergTable {
    pub fn id(&self) -> String {
        format!("{}.{}", self.database, self.table)
    }
}

/// Validates one Iceberg entry; every problem is reported, each naming its field.
pub fn validate_iceberg(input: IcebergTableInput) -> Result<IcebergTable, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let mut add = |field: &'static str, message: String| problems.push((field, message));
    if !valid_bucket(&input.bucket) {
        add(
            "bucket",
            format!("{:?} is not an S3 bucket name", input.bucket),
        );
    }
    if !valid_prefix(&input.prefix) {
        add(
            "prefix",
            format!(
                "{:?} must be empty or end in `/`, not start with `/`, and use only [A-Za-z0-9-_=./]",
                input.prefix
            ),
        );
    }
    for (field, name) in [("database", &input.database), ("table", &input.table)] {
        if !valid_name(name, true) {
            add(
                field,
                format!("{name:?} must be lowercase letters, digits, `_` or `-`"),
            );
        }
    }
    let window = match input.optimize_where {
        None => None,
        Some(w) => match window_problem(&w, input.optimize) {
            Some(message) => {
                add("optimize_where", message);
                None
            }
            None => Some(TimeWindow {
                column: w.column,
                kind: w.kind,
                last_days: w.last_days,
            }),
        },
    };
    let runtime = input.max_runtime_seconds.unwrap_or(DEFAULT_RUNTIME_SECONDS);
    if !(MIN_RUNTIME_SECONDS..=MAX_RUNTIME_SECONDS).contains(&runtime) {
        add(
            "max_runtime_seconds",
            format!("{runtime} must be from {MIN_RUNTIME_SECONDS} to {MAX_RUNTIME_SECONDS}"),
        );
    }
    if !input.optimize && !input.vacuum {
        add(
            "optimize",
            "optimize and vacuum are both off: the table would have no maintenance".into(),
        );
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(IcebergTable {
        bucket: input.bucket,
        prefix: input.prefix,
        database: input.database,
        table: input.table,
        optimize: input.optimize.then_some(window),
        vacuum: input.vacuum,
        max_runtime: Duration::from_secs(runtime),
    })
}

/// Why a window cannot be used, if it cannot.
fn window_problem(w: &WindowInput, optimize: bool) -> Option<String> {
    if !optimize {
        return Some("is set but optimize is off".into());
    }
    if !valid_name(&w.column, false) {
        return Some(format!(
            "column {:?} must be lowercase letters, digits or `_` (a partition column's name, not SQL)",
            w.column
        ));
    }
    if !(1..=MAX_WINDOW_DAYS).contains(&w.last_days) {
        return Some(format!(
            "last_days {} must be from 1 to {MAX_WINDOW_DAYS}",
            w.last_days
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn load(v: serde_json::Value) -> Result<IcebergTable, String> {
        let input: IcebergTableInput = serde_json::from_value(v).map_err(|e| e.to_string())?;
        validate_iceberg(input).map_err(|p| {
            p.iter()
                .map(|(field, message)| format!("field `{field}`: {message}"))
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    #[test]
    fn defaults_optimize_the_whole_table_then_vacuum_within_half_an_hour() {
        let t = load(json!({"bucket": "b-1", "prefix": "ice/",
                            "database": "db", "table": "events"}))
        .unwrap();
        assert_eq!(t.optimize, Some(None));
        assert!(t.vacuum);
        assert_eq!(t.max_runtime, Duration::from_secs(1800));
        assert_eq!(t.id(), "db.events");
    }

    #[test]
    fn a_window_and_the_bounds_are_read() {
        let t = load(json!({"bucket": "b-1", "database": "db", "table": "t",
            "optimize_where": {"column": "event_day", "last_days": 7}, "vacuum": false,
            "max_runtime_seconds": 600}))
        .unwrap();
        assert_eq!(
            t.optimize,
            Some(Some(TimeWindow {
                column: "event_day".into(),
                kind: WindowType::Date,
                last_days: 7
            }))
        );
        assert!(!t.vacuum);
        assert_eq!(t.max_runtime, Duration::from_secs(600));
        let dt = load(json!({"bucket": "b-1", "database": "db", "table": "t",
            "optimize_where": {"column": "dt", "type": "string", "last_days": 3}}))
        .unwrap();
        assert_eq!(dt.optimize.unwrap().unwrap().kind, WindowType::String);
    }

    #[test]
    fn problems_name_the_table_and_field_and_free_sql_is_refused() {
        for (entry, want) in [
            (
                json!({"optimize_where": {"column": "dt; DROP TABLE x", "last_days": 7}}),
                "field `optimize_where`: column \"dt; DROP TABLE x\" must be",
            ),
            (
                json!({"optimize_where": {"column": "dt\" OR 1=1 --", "last_days": 7}}),
                "field `optimize_where`: column",
            ),
            (
                json!({"optimize_where": {"column": "dt", "last_days": 0}}),
                "field `optimize_where`: last_days 0 must be from 1 to 3660",
            ),
            (
                json!({"optimize_where": {"column": "dt", "last_days": 7, "sql": "1=1"}}),
                "unknown field `sql`",
            ),
            (
                json!({"optimize_where": "dt > now() - 7"}),
                "invalid type: string",
            ),
            (
                json!({"optimize_where": {"column": "dt", "type": "varchar", "last_days": 7}}),
                "unknown variant `varchar`",
            ),
            (
                json!({"optimize": false, "optimize_where": {"column": "dt", "last_days": 7}}),
                "field `optimize_where`: is set but optimize is off",
            ),
            (
                json!({"optimize": false, "vacuum": false}),
                "field `optimize`: optimize and vacuum are both off",
            ),
            (
                json!({"max_runtime_seconds": 5}),
                "field `max_runtime_seconds`: 5 must be from 60 to 21600",
            ),
            (json!({"table": "T`x"}), "field `table`: \"T`x\" must be"),
            (json!({"bucket": "Bad_Bucket"}), "field `bucket`"),
            (json!({"layout": "hive"}), "unknown field `layout`"),
        ] {
            let mut v = json!({"bucket": "b-1", "database": "db", "table": "t"});
            for (k, x) in entry.as_object().unwrap() {
                v[k] = x.clone();
            }
            let e = load(v).unwrap_err();
            assert!(e.contains(want), "missing {want:?} in {e}");
        }
    }
}
