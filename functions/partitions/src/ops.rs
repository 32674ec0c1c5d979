//! Ops commands, sent by hand (`aws lambda invoke`, `sam remote invoke`) as a JSON object with a
//! `command` field. Anything without `command` is treated as an event. [`parse`] reads a command
//! and checks it against the configured tables, so the service only ever runs a valid [`Command`].

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use serde::Deserialize;
use serde_json::Value;

use crate::iceberg::IcebergTable;
use crate::key_plan::KeyPlan;
use crate::layout::Granularity;
use crate::periods::{PeriodRange, parse_time};
use crate::table::{TableDef, Tables};

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum PartitionsCommand {
    /// Register the partitions of a time range, in resumable chunks; dry run unless told otherwise.
    Backfill(BackfillRequest),
    /// Registered partitions of a range (from the Glue catalog) and the gaps where S3 has data.
    Status(StatusRequest),
    /// Drop every registered partition of a range (a retention applied in one go); dry run
    /// unless told otherwise.
    Prune(PruneRequest),
    /// Iceberg maintenance (OPTIMIZE then VACUUM) of one Iceberg table or all of them; dry run
    /// unless told otherwise.
    Maintain(MaintainRequest),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintainRequest {
    /// One Iceberg table (`database.table` or the table alone); default every Iceberg table.
    #[serde(default)]
    pub table: Option<String>,
    /// Show the statements without running them (default true).
    #[serde(default = "default_true")]
    pub dry_run: bool,
    /// Sent by a follow-up schedule: the lease (run) whose query is looked at again. Needs
    /// `table`; runs only the table's statements after that query's.
    #[serde(default)]
    pub follow_up: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackfillRequest {
    /// `database.table`, or the table name alone when it is unambiguous.
    pub table: String,
    /// Start of the range (included), e.g. `2026-11-01` or `2026-11-01T06`.
    pub from: String,
    /// End of the range (excluded).
    pub to: String,
    /// `hour` or `day`; must match the table's layout (default: the layout's).
    #[serde(default)]
    pub granularity: Option<Granularity>,
    /// Register only periods whose prefix has at least one object (a one-key listing each).
    #[serde(default)]
    pub confirm_data: bool,
    /// Plan and render the statements without running them (default true).
    #[serde(default = "default_true")]
    pub dry_run: bool,
    /// Periods per chunk (default 500, at most 50000); progress is logged per chunk.
    #[serde(default)]
    pub chunk_size: Option<usize>,
    /// Continue where an earlier call stopped (its `resume_from` answer).
    #[serde(default)]
    pub resume_from: Option<String>,
    /// Stop after this many chunks (default: as many as the invocation's time allows).
    #[serde(default)]
    pub max_chunks: Option<usize>,
    /// Values of the table's named keys, by key (default: the rule's values, or a listing).
    #[serde(default)]
    pub keys: BTreeMap<String, Vec<String>>,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    pub table: String,
    /// Start of the range (included); required but for an Iceberg table.
    #[serde(default)]
    pub from: Option<String>,
    /// End of the range (excluded); required but for an Iceberg table.
    #[serde(default)]
    pub to: Option<String>,
    /// Values of the table's named keys, by key (default: the rule's values, or a listing).
    #[serde(default)]
    pub keys: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneRequest {
    pub table: String,
    /// Start of the range (included): the oldest partition to consider.
    pub from: String,
    /// End of the range (excluded): the retention's cut-off.
    pub to: String,
    /// List what would be dropped without dropping it (default true).
    #[serde(default = "default_true")]
    pub dry_run: bool,
    /// Values of the table's named keys, by key (default: the rule's values, or a listing).
    #[serde(default)]
    pub keys: BTreeMap<String, Vec<String>>,
}

pub const COMMANDS: &str = "backfill, status, prune, maintain";
pub const DEFAULT_CHUNK_SIZE: usize = 500;
pub const MAX_CHUNK_SIZE: usize = 50_000;
/// The most periods one `status` command checks (each missing one costs a one-key listing).
pub const STATUS_MAX_PERIODS: i64 = 2_000;

/// `None` when the payload is not a command; `Some(Err)` with a clear message when it is one but
/// does not parse.
pub fn parse_command(payload: &Value) -> Option<Result<PartitionsCommand, String>> {
    streamops_shared::ops::parse_command(payload, "partitions", COMMANDS)
}

/// A command checked against the configuration: what the service runs.
#[derive(Debug, Clone)]
pub enum Command<'t> {
    Backfill(BackfillPlan<'t>),
    Status(StatusPlan<'t>),
    Prune(PrunePlan<'t>),
    Maintain(MaintainPlan<'t>),
    /// `status` of an Iceberg table: its maintenance lease and latest run.
    MaintenanceStatus(&'t IcebergTable),
}

#[derive(Debug, Clone)]
pub struct MaintainPlan<'t> {
    /// In configuration order.
    pub tables: Vec<&'t IcebergTable>,
    pub dry_run: bool,
    /// The lease token of the run a follow-up follows (one table then).
    pub follow_up: Option<String>,
}

#[derive(Debug, Clone)]
pub struct BackfillPlan<'t> {
    pub table: &'t TableDef,
    /// In the table's granularity.
    pub range: PeriodRange,
    /// Where to start (`resume_from`), inside the range.
    pub cursor: Option<NaiveDateTime>,
    pub chunk_size: usize,
    pub confirm_data: bool,
    pub dry_run: bool,
    pub max_chunks: Option<usize>,
    pub keys: KeyPlan,
}

#[derive(Debug, Clone)]
pub struct StatusPlan<'t> {
    pub table: &'t TableDef,
    pub range: PeriodRange,
    pub keys: KeyPlan,
}

#[derive(Debug, Clone)]
pub struct PrunePlan<'t> {
    pub table: &'t TableDef,
    pub range: PeriodRange,
    pub dry_run: bool,
    pub keys: KeyPlan,
}

/// `None` when the payload is not a command; `Some(Err)` with a clear message when it is one but
/// does not parse or does not fit the configured tables.
pub fn parse<'t>(payload: &Value, tables: &'t Tables) -> Option<Result<Command<'t>, String>> {
    Some(parse_command(payload)?.and_then(|command| match command {
        PartitionsCommand::Backfill(req) => req.plan(tables).map(Command::Backfill),
        PartitionsCommand::Status(req) => match tables.find_iceberg(&req.table) {
            Some(iceberg) => req.iceberg(iceberg).map(Command::MaintenanceStatus),
            None => req.plan(tables).map(Command::Status),
        },
        PartitionsCommand::Prune(req) => req.plan(tables).map(Command::Prune),
        PartitionsCommand::Maintain(req) => req.plan(tables).map(Command::Maintain),
    }))
}

fn find_table<'t>(tables: &'t Tables, name: &str) -> Result<&'t TableDef, String> {
    if let Some(t) = tables.find_iceberg(name) {
        return Err(format!(
            "table {} is an Iceberg table: it has no partitions to register or drop (its command is maintain)",
            t.id()
        ));
    }
    tables.find(name).ok_or_else(|| {
        let known: Vec<String> = tables.tables.iter().map(TableDef::id).collect();
        format!(
            "no table {name:?} is configured (configured: {})",
            known.join(", ")
        )
    })
}

impl BackfillRequest {
    pub fn plan(self, tables: &Tables) -> Result<BackfillPlan<'_>, String> {
        let table = find_table(tables, &self.table)?;
        let granularity = self.granularity.unwrap_or(table.granularity);
        if granularity != table.granularity {
            return Err(format!(
                "table {} is partitioned by {} (layout {:?}); granularity {} does not fit",
                table.id(),
                table.granularity,
                table.layout.source(),
                granularity
            ));
        }
        let chunk_size = self.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE);
        if chunk_size == 0 || chunk_size > MAX_CHUNK_SIZE {
            return Err(format!("chunk_size must be between 1 and {MAX_CHUNK_SIZE}"));
        }
        let bad = |field: &str, e: String| format!("backfill `{field}`: {e}");
        let from = parse_time(&self.from).map_err(|e| bad("from", e))?;
        let to = parse_time(&self.to).map_err(|e| bad("to", e))?;
        let range = PeriodRange::new(from, to, granularity).map_err(|e| bad("to", e))?;
        let cursor = match &self.resume_from {
            Some(c) => {
                let c = parse_time(c).map_err(|e| bad("resume_from", e))?;
                range.chunk(Some(c), 1).map_err(|e| bad("resume_from", e))?;
                Some(c)
            }
            None => None,
        };
        let keys = KeyPlan::new(table, self.keys).map_err(|e| bad("keys", e))?;
        Ok(BackfillPlan {
            table,
            range,
            cursor,
            chunk_size,
            confirm_data: self.confirm_data,
            dry_run: self.dry_run,
            max_chunks: self.max_chunks,
            keys,
        })
    }
}

impl MaintainRequest {
    pub fn plan(self, tables: &Tables) -> Result<MaintainPlan<'_>, String> {
        let chosen = match &self.table {
            Some(name) => vec![tables.find_iceberg(name).ok_or_else(|| {
                match tables.find(name) {
                    Some(t) => format!("table {} is not an Iceberg table: maintain runs on tables with \"format\": \"iceberg\"", t.id()),
                    None => format!("no Iceberg table {name:?} is configured (Iceberg tables: {})", iceberg_ids(tables)),
                }
            })?],
            None if tables.iceberg.is_empty() => {
                return Err("no Iceberg table is configured: maintain runs on tables with \"format\": \"iceberg\"".into());
            }
            None => tables.iceberg.iter().collect(),
        };
        if self.follow_up.is_some() && (self.table.is_none() || self.dry_run) {
            return Err(
                "maintain `follow_up` names one `table` and is not a dry run (it is sent by a follow-up schedule)"
                    .into(),
            );
        }
        Ok(MaintainPlan {
            tables: chosen,
            dry_run: self.dry_run,
            follow_up: self.follow_up,
        })
    }
}

fn iceberg_ids(tables: &Tables) -> String {
    let ids: Vec<String> = tables.iceberg.iter().map(IcebergTable::id).collect();
    if ids.is_empty() {
        "none".into()
    } else {
        ids.join(", ")
    }
}

impl StatusRequest {
    pub fn plan(self, tables: &Tables) -> Result<StatusPlan<'_>, String> {
        let table = find_table(tables, &self.table)?;
        let bad = |field: &str, e: String| format!("status `{field}`: {e}");
        let required = |field: &str, v: &Option<String>| {
            v.clone().ok_or_else(|| {
                bad(
                    field,
                    format!("required for table {} (the range to check)", table.id()),
                )
            })
        };
        let from = parse_time(&required("from", &self.from)?).map_err(|e| bad("from", e))?;
        let to = parse_time(&required("to", &self.to)?).map_err(|e| bad("to", e))?;
        let range = PeriodRange::new(from, to, table.granularity).map_err(|e| bad("to", e))?;
        if range.len() > STATUS_MAX_PERIODS {
            return Err(bad(
                "to",
                format!(
                    "the range spans {} {}s; status checks at most {STATUS_MAX_PERIODS}",
                    range.len(),
                    table.granularity
                ),
            ));
        }
        let keys = KeyPlan::new(table, self.keys).map_err(|e| bad("keys", e))?;
        Ok(StatusPlan { table, range, keys })
    }
}

impl StatusRequest {
    /// An Iceberg table's status is its maintenance: no range, no keys.
    fn iceberg(self, table: &IcebergTable) -> Result<&IcebergTable, String> {
        if self.from.is_some() || self.to.is_some() || !self.keys.is_empty() {
            return Err(format!(
                "status of Iceberg table {} shows its maintenance and takes no `from`, `to` or `keys` (it has no partitions to check)",
                table.id()
            ));
        }
        Ok(table)
    }
}

impl PruneRequest {
    pub fn plan(self, tables: &Tables) -> Result<PrunePlan<'_>, String> {
        let table = find_table(tables, &self.table)?;
        let bad = |field: &str, e: String| format!("prune `{field}`: {e}");
        let from = parse_time(&self.from).map_err(|e| bad("from", e))?;
        let to = parse_time(&self.to).map_err(|e| bad("to", e))?;
        let range = PeriodRange::new(from, to, table.granularity).map_err(|e| bad("to", e))?;
        let keys = KeyPlan::new(table, self.keys).map_err(|e| bad("keys", e))?;
        Ok(PrunePlan {
            table,
            range,
            dry_run: self.dry_run,
            keys,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_parse_from_their_event_files() {
        for (file, expect) in [
            ("backfill", "Backfill"),
            ("status", "Status"),
            ("prune", "Prune"),
            ("maintain", "Maintain"),
        ] {
            let v = streamops_test_support::fixture(&format!("partitions/ops-{file}.json"));
            let cmd = parse_command(&v).unwrap().unwrap();
            assert!(format!("{cmd:?}").starts_with(expect), "{file}: {cmd:?}");
        }
    }

    #[test]
    fn backfill_is_a_dry_run_unless_told_otherwise() {
        let c = parse_command(
            &json!({"command": "backfill", "table": "t", "from": "2026-11-01", "to": "2026-11-02"}),
        )
        .unwrap()
        .unwrap();
        match c {
            PartitionsCommand::Backfill(b) => {
                assert!(b.dry_run);
                assert!(!b.confirm_data);
                assert_eq!(b.granularity, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_commands_get_clear_errors() {
        let e = parse_command(&json!({"command": "repair"}))
            .unwrap()
            .unwrap_err();
        assert!(
            e.contains("invalid ops command \"repair\"") && e.contains("backfill, status"),
            "{e}"
        );
        let e = plan_error(json!({"command": "status", "table": "h", "to": "2026-11-02"}));
        assert_eq!(
            e,
            "status `from`: required for table db.h (the range to check)"
        );
        let e = parse_command(&json!({"command": "backfill", "table": "t", "from": "a", "to": "b", "granularity": "minute"}))
            .unwrap()
            .unwrap_err();
        assert!(e.contains("unknown variant `minute`"), "{e}");
        let e = parse_command(
            &json!({"command": "backfill", "table": "t", "from": "a", "to": "b", "dryrun": false}),
        )
        .unwrap()
        .unwrap_err();
        assert!(e.contains("unknown field `dryrun`"), "{e}");
        assert!(parse_command(&json!({"Records": []})).is_none());
    }

    fn tables() -> Tables {
        Tables::from_json(
            r#"[{"bucket":"b-1","prefix":"h/","database":"db","table":"h","layout":"hive"},
                {"bucket":"b-1","prefix":"d/","database":"db","table":"d","layout":"year={yyyy}/month={MM}/day={dd}/",
                 "columns":[{"name":"day","type":"date","value":"{yyyy}-{MM}-{dd}"}]}]"#,
        )
        .unwrap()
    }

    fn plan_error(payload: Value) -> String {
        parse(&payload, &tables()).unwrap().unwrap_err()
    }

    #[test]
    fn commands_are_checked_against_the_tables() {
        let t = tables();
        let ok = parse(
            &json!({"command": "backfill", "table": "h", "from": "2026-11-01", "to": "2026-11-02",
                    "resume_from": "2026-11-01T05", "chunk_size": 7}),
            &t,
        )
        .unwrap()
        .unwrap();
        match ok {
            Command::Backfill(p) => {
                assert_eq!(
                    (p.table.id().as_str(), p.range.len(), p.chunk_size),
                    ("db.h", 24, 7)
                );
                assert_eq!(p.cursor, Some(parse_time("2026-11-01T05").unwrap()));
                assert!(p.dry_run);
            }
            other => panic!("{other:?}"),
        }
        let e = plan_error(
            json!({"command": "backfill", "table": "nope", "from": "2026-11-01", "to": "2026-11-02"}),
        );
        assert_eq!(
            e,
            "no table \"nope\" is configured (configured: db.h, db.d)"
        );
        let e = plan_error(
            json!({"command": "backfill", "table": "d", "from": "2026-11-01", "to": "2026-11-02", "granularity": "hour"}),
        );
        assert!(
            e.contains("table db.d is partitioned by day")
                && e.contains("granularity hour does not fit"),
            "{e}"
        );
        let e = plan_error(
            json!({"command": "backfill", "table": "h", "from": "2026-11-01", "to": "2026-11-02", "chunk_size": 0}),
        );
        assert_eq!(e, "chunk_size must be between 1 and 50000");
        let e = plan_error(
            json!({"command": "backfill", "table": "h", "from": "soon", "to": "2026-11-02"}),
        );
        assert!(
            e.starts_with("backfill `from`: \"soon\" is not a time"),
            "{e}"
        );
        let e = plan_error(
            json!({"command": "backfill", "table": "h", "from": "2026-11-01", "to": "2026-11-02", "resume_from": "2026-12-01"}),
        );
        assert!(
            e.starts_with("backfill `resume_from`: resume_from") && e.contains("outside the range"),
            "{e}"
        );
        let e = plan_error(
            json!({"command": "status", "table": "db.h", "from": "2026-01-01", "to": "2026-06-01"}),
        );
        assert!(
            e.starts_with("status `to`: the range spans 3624 hours; status checks at most 2000"),
            "{e}"
        );
        assert!(matches!(
            parse(
                &json!({"command": "status", "table": "d", "from": "2026-01-01", "to": "2026-06-01"}),
                &t
            ),
            Some(Ok(Command::Status(StatusPlan { .. })))
        ));
        assert!(parse(&json!({"Records": []}), &t).is_none());
    }

    #[test]
    fn maintain_takes_one_iceberg_table_or_all_and_is_a_dry_run_unless_told() {
        let t = Tables::from_json(
            r#"[{"bucket":"b-1","prefix":"h/","database":"db","table":"h","layout":"hive"},
                {"format":"iceberg","bucket":"b-1","prefix":"i/","database":"db","table":"i"},
                {"format":"iceberg","bucket":"b-1","prefix":"j/","database":"db","table":"j","vacuum":false}]"#,
        )
        .unwrap();
        let plan = |v: Value| match parse(&v, &t).unwrap() {
            Ok(Command::Maintain(p)) => Ok(p),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e),
        };
        let all = plan(json!({"command": "maintain"})).unwrap();
        assert!(all.dry_run);
        let ids: Vec<String> = all.tables.iter().map(|t| t.id()).collect();
        assert_eq!(ids, vec!["db.i", "db.j"]);
        let one = plan(json!({"command": "maintain", "table": "db.j", "dry_run": false})).unwrap();
        assert_eq!((one.tables.len(), one.dry_run), (1, false));
        assert_eq!(
            plan(json!({"command": "maintain", "table": "h"})).unwrap_err(),
            "table db.h is not an Iceberg table: maintain runs on tables with \"format\": \"iceberg\""
        );
        assert_eq!(
            plan(json!({"command": "maintain", "table": "k"})).unwrap_err(),
            "no Iceberg table \"k\" is configured (Iceberg tables: db.i, db.j)"
        );
        let e = plan(json!({"command": "maintain", "tables": ["i"]})).unwrap_err();
        assert!(e.contains("unknown field `tables`"), "{e}");
        let e = parse(
            &json!({"command": "backfill", "table": "i", "from": "2026-11-01", "to": "2026-11-02"}),
            &t,
        )
        .unwrap()
        .unwrap_err();
        assert_eq!(
            e,
            "table db.i is an Iceberg table: it has no partitions to register or drop (its command is maintain)"
        );
        let e = parse(&json!({"command": "maintain"}), &tables())
            .unwrap()
            .unwrap_err();
        assert!(e.starts_with("no Iceberg table is configured"), "{e}");
        // A follow-up names its table and is never a dry run.
        let f = plan(
            json!({"command": "maintain", "table": "i", "dry_run": false, "follow_up": "req-1"}),
        )
        .unwrap();
        assert_eq!(f.follow_up.as_deref(), Some("req-1"));
        for bad in [
            json!({"command": "maintain", "dry_run": false, "follow_up": "req-1"}),
            json!({"command": "maintain", "table": "i", "follow_up": "req-1"}),
        ] {
            assert!(
                plan(bad)
                    .unwrap_err()
                    .contains("`follow_up` names one `table`")
            );
        }
    }

    #[test]
    fn an_iceberg_tables_status_is_its_maintenance_and_takes_no_range() {
        let t = Tables::from_json(
            r#"[{"bucket":"b-1","prefix":"h/","database":"db","table":"h","layout":"hive"},
                {"format":"iceberg","bucket":"b-1","prefix":"i/","database":"db","table":"i"}]"#,
        )
        .unwrap();
        match parse(&json!({"command": "status", "table": "i"}), &t).unwrap() {
            Ok(Command::MaintenanceStatus(table)) => assert_eq!(table.id(), "db.i"),
            other => panic!("{other:?}"),
        }
        let e = parse(
            &json!({"command": "status", "table": "db.i", "from": "2026-11-01", "to": "2026-11-02"}),
            &t,
        )
        .unwrap()
        .unwrap_err();
        assert!(e.contains("takes no `from`, `to` or `keys`"), "{e}");
        let e = parse(&json!({"command": "status", "table": "h"}), &t)
            .unwrap()
            .unwrap_err();
        assert_eq!(
            e,
            "status `from`: required for table db.h (the range to check)"
        );
    }

    #[test]
    fn key_values_in_commands_are_checked_against_the_rules() {
        let t = Tables::from_json(
            r#"[{"bucket":"b-1","prefix":"s/","database":"db","table":"s","layout":"source={source}/{yyyy}/{MM}/{dd}/{HH}/",
                 "keys":{"source":{"pattern":"a-z","max_len":8}},
                 "columns":[{"name":"source","value":"{source}"},{"name":"dt","value":"{yyyy}-{MM}-{dd}"}]}]"#,
        )
        .unwrap();
        let ok = parse(
            &json!({"command": "backfill", "table": "s", "from": "2026-11-01", "to": "2026-11-02",
                    "keys": {"source": ["web", "app"]}}),
            &t,
        )
        .unwrap()
        .unwrap();
        let Command::Backfill(p) = ok else {
            panic!("{ok:?}")
        };
        assert_eq!(p.keys.keys.len(), 1);
        for (verb, values, want) in [
            (
                "backfill",
                json!({"source": ["we'b"]}),
                "backfill `keys`: key `source`: \"we'b\"",
            ),
            (
                "status",
                json!({"source": ["web;--"]}),
                "status `keys`: key `source`",
            ),
            (
                "prune",
                json!({"source": ["../x"]}),
                "prune `keys`: key `source`",
            ),
            (
                "backfill",
                json!({"src": ["web"]}),
                "backfill `keys`: table db.s has no key `src`",
            ),
        ] {
            let e = parse(
                &json!({"command": verb, "table": "s", "from": "2026-11-01", "to": "2026-11-02", "keys": values}),
                &t,
            )
            .unwrap()
            .unwrap_err();
            assert!(e.starts_with(want), "{e}");
        }
        let e = parse_command(&json!({"command": "status", "table": "s", "from": "a", "to": "b", "keys": {"source": "web"}}))
            .unwrap()
            .unwrap_err();
        assert!(e.contains("expected a sequence"), "{e}");
    }
}
