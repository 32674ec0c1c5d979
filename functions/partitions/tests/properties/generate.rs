//! Tables as people configure them in `PARTITIONS_TABLES` (a preset or a custom layout, columns
//! of each type), the hours they partition and object keys under them — each with its own
//! rendering here, so a property compares the function with an independent reading.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A piece of a template: literal text or a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Lit(String),
    Year,
    Month,
    Day,
    Hour,
}

impl Tok {
    fn source(&self) -> String {
        match self {
            Tok::Lit(s) => s.clone(),
            Tok::Year => "{yyyy}".into(),
            Tok::Month => "{MM}".into(),
            Tok::Day => "{dd}".into(),
            Tok::Hour => "{HH}".into(),
        }
    }
}

fn lit(s: &str) -> Tok {
    Tok::Lit(s.to_string())
}

/// The template text of `tokens`.
pub fn source(tokens: &[Tok]) -> String {
    tokens.iter().map(Tok::source).collect()
}

/// `tokens` rendered for `t` (years 0 to 9999), written out independently of the crate.
pub fn render(tokens: &[Tok], t: NaiveDateTime) -> String {
    tokens
        .iter()
        .map(|tok| match tok {
            Tok::Lit(s) => s.clone(),
            Tok::Year => format!("{:04}", t.year()),
            Tok::Month => format!("{:02}", t.month()),
            Tok::Day => format!("{:02}", t.day()),
            Tok::Hour => format!("{:02}", t.hour()),
        })
        .collect()
}

pub fn has_hour(tokens: &[Tok]) -> bool {
    tokens.contains(&Tok::Hour)
}

/// The start of the hour (or day) of `t`.
pub fn truncate(t: NaiveDateTime, hourly: bool) -> NaiveDateTime {
    t.date()
        .and_hms_opt(if hourly { t.hour() } else { 0 }, 0, 0)
        .expect("valid")
}

/// The presets, as their documentation spells them.
pub fn preset(name: &str) -> Vec<Tok> {
    use Tok::*;
    match name {
        "hive" => vec![
            lit("dt="),
            Year,
            lit("-"),
            Month,
            lit("-"),
            Day,
            lit("/hour="),
            Hour,
            lit("/"),
        ],
        "firehose" => vec![
            Year,
            lit("/"),
            Month,
            lit("/"),
            Day,
            lit("/"),
            Hour,
            lit("/"),
        ],
        _ => vec![
            Year,
            lit("-"),
            Month,
            lit("-"),
            Day,
            lit("--"),
            Hour,
            lit("/"),
        ],
    }
}

/// Custom layouts: year, month and day (an hour, a repeated year) in any order, each after a
/// literal of layout characters, ending in `/`.
pub fn custom_layout() -> impl Strategy<Value = Vec<Tok>> {
    (any::<bool>(), any::<bool>())
        .prop_flat_map(|(hour, repeat)| {
            let mut fields = vec![Tok::Year, Tok::Month, Tok::Day];
            if hour {
                fields.push(Tok::Hour);
            }
            if repeat {
                fields.push(Tok::Year);
            }
            let n = fields.len();
            (
                Just(fields).prop_shuffle(),
                prop::collection::vec("|/|-|=|_|[a-z]{1,5}=|/[a-z0-9]{1,4}=|[a-z]{1,3}/", n),
            )
        })
        .prop_map(|(fields, seps)| {
            let mut tokens = Vec::new();
            for (sep, f) in seps.into_iter().zip(fields) {
                if !sep.is_empty() {
                    tokens.push(Tok::Lit(sep));
                }
                tokens.push(f);
            }
            tokens.push(lit("/"));
            tokens
        })
}

/// A partition column as configured.
#[derive(Debug, Clone)]
pub struct ColumnGen {
    pub name: String,
    pub kind: &'static str,
    pub value: Vec<Tok>,
}

/// A column of `kind` for a layout with or without an hour: strings of fields and value
/// characters, integers of fields, dates `{yyyy}-{MM}-{dd}` (or its fields in another order).
fn column(hourly: bool) -> impl Strategy<Value = (&'static str, Vec<Tok>)> {
    let field = move || {
        let mut fields = vec![Tok::Year, Tok::Month, Tok::Day];
        if hourly {
            fields.push(Tok::Hour);
        }
        prop::sample::select(fields)
    };
    let string = prop::collection::vec(
        prop_oneof![
            field().boxed(),
            "[A-Za-z0-9 _.:=-]{1,4}".prop_map(Tok::Lit).boxed()
        ],
        1..5,
    );
    let int = prop::collection::vec(field(), 1..4);
    let date = prop_oneof![
        4 => Just(vec![Tok::Year, lit("-"), Tok::Month, lit("-"), Tok::Day]),
        1 => Just(vec![Tok::Year, Tok::Month, Tok::Day]).prop_shuffle().prop_map(|f| {
            vec![f[0].clone(), lit("-"), f[1].clone(), lit("-"), f[2].clone()]
        }),
    ];
    prop_oneof![
        string.prop_map(|v| ("string", v)),
        int.prop_map(|v| ("int", v)),
        date.prop_map(|v| ("date", v)),
    ]
}

/// A table as configured.
#[derive(Debug, Clone)]
pub struct TableGen {
    pub bucket: String,
    pub prefix: String,
    pub database: String,
    pub table: String,
    /// `hive`, `firehose`, `flink` or the custom template's text.
    pub layout_name: String,
    pub layout: Vec<Tok>,
    /// Configured columns; `None` for a preset's defaults (`dt` and `hour`).
    pub columns: Option<Vec<ColumnGen>>,
    pub error_prefix: Option<String>,
}

impl TableGen {
    pub fn hourly(&self) -> bool {
        has_hour(&self.layout)
    }

    /// The columns in effect, defaults included.
    pub fn effective_columns(&self) -> Vec<ColumnGen> {
        self.columns.clone().unwrap_or_else(|| {
            vec![
                ColumnGen {
                    name: "dt".into(),
                    kind: "string",
                    value: vec![Tok::Year, lit("-"), Tok::Month, lit("-"), Tok::Day],
                },
                ColumnGen {
                    name: "hour".into(),
                    kind: "string",
                    value: vec![Tok::Hour],
                },
            ]
        })
    }

    pub fn to_json(&self) -> Value {
        let mut t = json!({"bucket": self.bucket, "prefix": self.prefix, "database": self.database,
            "table": self.table, "layout": self.layout_name});
        if let Some(columns) = &self.columns {
            t["columns"] = columns
                .iter()
                .map(|c| json!({"name": c.name, "type": c.kind, "value": source(&c.value)}))
                .collect();
        }
        if let Some(ep) = &self.error_prefix {
            t["error_prefix"] = json!(ep);
        }
        t
    }
}

/// One table, in bucket `bucket_suffix` (distinct suffixes keep tables from overlapping).
pub fn table(bucket_suffix: usize) -> impl Strategy<Value = TableGen> {
    let layout = prop_oneof![
        prop::sample::select(&["hive", "firehose", "flink"][..]).prop_map(|p| (
            p.to_string(),
            preset(p),
            true
        )),
        custom_layout().prop_map(|t| (source(&t), t, false)),
    ];
    (
        "[a-z0-9][a-z0-9-]{1,20}[a-z0-9]",
        prop::collection::vec("[a-z0-9_=.-]{1,8}", 0..3),
        "[a-z][a-z0-9_-]{0,12}",
        "[a-z][a-z0-9_]{0,12}",
        layout,
        any::<bool>(),
    )
        .prop_flat_map(
            move |(bucket, prefix, database, table, (name, layout, preset), ep)| {
                let columns = prop::collection::vec(column(has_hour(&layout)), 1..4);
                let columns = if preset {
                    prop::option::of(columns).boxed()
                } else {
                    columns.prop_map(Some).boxed()
                };
                let prefix: String = prefix.iter().map(|p| format!("{p}/")).collect();
                (
                    Just(TableGen {
                        bucket: format!("{bucket}-{bucket_suffix}"),
                        prefix,
                        database,
                        table: format!("{table}_{bucket_suffix}"),
                        layout_name: name,
                        layout,
                        columns: None,
                        error_prefix: ep.then(|| "firehose-errors/".to_string()),
                    }),
                    columns,
                )
            },
        )
        .prop_map(|(mut t, columns)| {
            t.columns = columns.map(|cs| {
                cs.into_iter()
                    .enumerate()
                    .map(|(i, (kind, value))| ColumnGen {
                        name: format!("c{i}_{kind}"),
                        kind,
                        value,
                    })
                    .collect()
            });
            t
        })
}

/// One to three tables in distinct buckets.
pub fn tables() -> impl Strategy<Value = Vec<TableGen>> {
    prop::collection::vec(any::<u8>(), 1..4).prop_flat_map(|n| {
        n.iter()
            .enumerate()
            .map(|(i, _)| table(i))
            .collect::<Vec<_>>()
    })
}

pub fn tables_json(tables: &[TableGen]) -> String {
    Value::Array(tables.iter().map(TableGen::to_json).collect()).to_string()
}

fn timestamp(y: i32, m: u32, d: u32, h: u32) -> i64 {
    NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|d| d.and_hms_opt(h, 59, 59))
        .expect("valid")
        .and_utc()
        .timestamp()
}

/// Any second of the years 0 to 9999 (what four-digit layouts can name), mostly recent ones.
pub fn period() -> impl Strategy<Value = NaiveDateTime> {
    prop_oneof![
        3 => timestamp(2000, 1, 1, 0)..timestamp(2100, 12, 31, 23),
        1 => timestamp(0, 1, 1, 0)..timestamp(9999, 12, 31, 23),
    ]
    .prop_map(|s| {
        chrono::DateTime::from_timestamp(s, 0)
            .expect("in range")
            .naive_utc()
    })
}

/// Any second chrono can hold, for the readers that must refuse what no layout can name.
pub fn any_time() -> impl Strategy<Value = NaiveDateTime> {
    let min = NaiveDateTime::MIN.and_utc().timestamp();
    let max = NaiveDateTime::MAX.and_utc().timestamp();
    prop_oneof![
        3 => period().boxed(),
        1 => (min..=max).prop_map(|s| chrono::DateTime::from_timestamp(s, 0).unwrap().naive_utc()).boxed(),
        1 => prop::sample::select(vec![min, max, max - 1800, min + 1800])
            .prop_map(|s| chrono::DateTime::from_timestamp(s, 0).unwrap().naive_utc()).boxed(),
    ]
}

/// A data object's name, or one of the names that are skipped whatever the table.
pub fn file_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9-]{1,12}\\.(gz|parquet|json)",
        1 => prop::sample::select(&["_SUCCESS", "x_$folder$", ".part-1.inprogress.5c", "_part-0.pending", "_x_tmp_y", ".hidden", "_metadata"][..])
            .prop_map(str::to_string),
    ]
}
