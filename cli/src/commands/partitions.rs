//! `streamops partitions ...`: the partitions function's commands
//! (functions/partitions/src/ops.rs).

use clap::{Args, Subcommand};
use partitions::{
    Granularity, MAX_CHUNK_SIZE, PartitionsCommand, PeriodRange, parse_command, parse_time,
};
use serde_json::{Value, json};

use super::{Effect, Follow, FunctionKind, Request, parsed, payload, serde_word, string};

#[derive(Debug, Args)]
pub struct RangeArgs {
    /// `database.table`, or the table name alone when it is unambiguous.
    #[arg(long)]
    table: String,
    /// Start of the range, included: 2026-11-01 or 2026-11-01T06.
    #[arg(long)]
    from: String,
    /// End of the range, excluded.
    #[arg(long)]
    to: String,
    /// A value of one of the table's named keys, e.g. `source=web` (repeat for more values or
    /// keys); without it the function takes the key's configured values, or lists them.
    #[arg(long = "key", value_name = "NAME=VALUE", value_parser = key_value)]
    keys: Vec<(String, String)>,
}

/// `source=web` as a key name and a value; the function checks the value against the key's
/// rule.
fn key_value(word: &str) -> Result<(String, String), String> {
    match word.split_once('=') {
        Some((name, value)) if !name.is_empty() && !value.is_empty() => {
            Ok((name.to_string(), value.to_string()))
        }
        _ => Err(format!("{word:?} is not NAME=VALUE (e.g. source=web)")),
    }
}

#[derive(Debug, Subcommand)]
pub enum PartitionsCmd {
    /// Register the partitions of a time range, chunk by chunk: plans unless --apply.
    Backfill {
        #[command(flatten)]
        range: RangeArgs,
        /// hour or day; must match the table's layout (default: the layout's).
        #[arg(long, value_parser = serde_word::<Granularity>)]
        granularity: Option<Granularity>,
        /// Register only periods whose prefix has at least one object.
        #[arg(long)]
        confirm_data: bool,
        /// Periods per chunk (the function's default: 500).
        #[arg(long)]
        chunk_size: Option<usize>,
        /// Continue where an earlier backfill stopped (its `resume_from`).
        #[arg(long)]
        resume_from: Option<String>,
        #[arg(long)]
        apply: bool,
    },
    /// Registered partitions of a range and the gaps where S3 has data.
    Status {
        #[command(flatten)]
        range: RangeArgs,
    },
    /// Drop every registered partition of a range (a retention in one go): lists unless --apply.
    Prune {
        #[command(flatten)]
        range: RangeArgs,
        #[arg(long)]
        apply: bool,
    },
    /// An Iceberg table's maintenance: the run holding it, a query left running with its
    /// runtime bound and follow-up, and how the latest run ended.
    MaintenanceStatus {
        /// The Iceberg table (`database.table` or the name alone).
        #[arg(long)]
        table: String,
    },
    /// Iceberg maintenance (OPTIMIZE then VACUUM) of one Iceberg table or all of them: shows the
    /// statements unless --apply.
    Maintain {
        /// One Iceberg table (`database.table` or the name alone); default every Iceberg table.
        #[arg(long)]
        table: Option<String>,
        #[arg(long)]
        apply: bool,
    },
}

impl PartitionsCmd {
    pub fn request(&self) -> Result<Request, String> {
        let (payload, effect, follow) = match self {
            PartitionsCmd::Backfill {
                range,
                granularity,
                confirm_data,
                chunk_size,
                resume_from,
                apply,
            } => {
                let fields = [
                    ("granularity", granularity.map(|g| json!(g))),
                    ("confirm_data", Some(json!(confirm_data))),
                    ("chunk_size", chunk_size.map(|c| json!(c))),
                    ("resume_from", string(resume_from)),
                    ("dry_run", Some(json!(!apply))),
                    // One chunk per invocation, so each chunk's answer is shown as it comes.
                    ("max_chunks", Some(json!(1))),
                ];
                let p = range.payload("backfill", fields);
                (p, Effect::Planned { apply: *apply }, Follow::Chunks)
            }
            PartitionsCmd::Status { range } => {
                (range.payload("status", []), Effect::Read, Follow::Once)
            }
            PartitionsCmd::Prune { range, apply } => {
                let p = range.payload("prune", [("dry_run", Some(json!(!apply)))]);
                (p, Effect::Planned { apply: *apply }, Follow::Once)
            }
            PartitionsCmd::MaintenanceStatus { table } => {
                let p = payload("status", [("table", Some(json!(table)))]);
                (p, Effect::Read, Follow::Once)
            }
            PartitionsCmd::Maintain { table, apply } => {
                let fields = [("table", string(table)), ("dry_run", Some(json!(!apply)))];
                let p = payload("maintain", fields);
                (p, Effect::Planned { apply: *apply }, Follow::Once)
            }
        };
        check(parsed(parse_command(&payload))?)?;
        let mut request = Request::new(FunctionKind::Partitions, payload, effect);
        request.follow = follow;
        Ok(request)
    }
}

impl RangeArgs {
    fn payload<const N: usize>(&self, command: &str, more: [(&str, Option<Value>); N]) -> Value {
        let mut p = payload(
            command,
            [
                ("table", Some(json!(self.table))),
                ("from", Some(json!(self.from))),
                ("to", Some(json!(self.to))),
            ],
        );
        for (name, value) in more {
            if let Some(v) = value {
                p[name] = v;
            }
        }
        if !self.keys.is_empty() {
            // Each key's values in the order given, as the function walks them.
            let mut keys = serde_json::Map::new();
            for (name, value) in &self.keys {
                let values = keys.entry(name.clone()).or_insert_with(|| json!([]));
                if let Some(list) = values.as_array_mut() {
                    list.push(json!(value));
                }
            }
            p["keys"] = Value::Object(keys);
        }
        p
    }
}

/// What the function checks of a command without its table configuration, worded as it words
/// it: the times, their order, the chunk size and the cursor. The table (and its granularity)
/// the function checks against its configuration.
fn check(command: PartitionsCommand) -> Result<(), String> {
    let (verb, from, to, granularity) = match &command {
        PartitionsCommand::Backfill(b) => ("backfill", &b.from, &b.to, b.granularity),
        PartitionsCommand::Status(s) => match (&s.from, &s.to) {
            (Some(from), Some(to)) => ("status", from, to, None),
            // An Iceberg table's status takes no range; whether the table is one, and that a
            // range is given otherwise, the function checks against its configuration.
            _ => return Ok(()),
        },
        PartitionsCommand::Prune(p) => ("prune", &p.from, &p.to, None),
        // Its table the function checks against its configuration; nothing else to check.
        PartitionsCommand::Maintain(_) => return Ok(()),
    };
    let bad = |field: &str, e: String| format!("{verb} `{field}`: {e}");
    let from = parse_time(from).map_err(|e| bad("from", e))?;
    let to = parse_time(to).map_err(|e| bad("to", e))?;
    // Days when the table's granularity is not given: a range too long in days is too long in
    // hours too, and `to` must follow `from` either way.
    let range = PeriodRange::new(from, to, granularity.unwrap_or(Granularity::Day))
        .map_err(|e| bad("to", e))?;
    if let PartitionsCommand::Backfill(b) = &command {
        if b.chunk_size.is_some_and(|c| c == 0 || c > MAX_CHUNK_SIZE) {
            return Err(format!("chunk_size must be between 1 and {MAX_CHUNK_SIZE}"));
        }
        if let Some(cursor) = &b.resume_from {
            let c = parse_time(cursor).map_err(|e| bad("resume_from", e))?;
            if c < range.start || c >= range.end {
                return Err(bad(
                    "resume_from",
                    format!("{cursor:?} is outside the range"),
                ));
            }
        }
    }
    Ok(())
}
