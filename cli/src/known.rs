//! The names a command gives that only the deployed function's configuration knows (a scaler
//! target, a partitions table), checked against that configuration before anything is sent.
//!
//! The configuration is the function's environment, read without invoking it (Lambda
//! `GetFunctionConfiguration`, or on the local stack the environment file it launched the
//! function with), and parsed with the function crate's own reader (`ScalerConfig::read`,
//! `PartitionsConfig::read`): the CLI and the function cannot disagree on what a name means.
//! A checkpoints pipeline is listed by no configuration (register-job makes a new one, and
//! CHECKPOINTS_RETENTION names overrides only): it is known when the book has it, read from the
//! table the function's `CHECKPOINTS_TABLE` names ([`crate::book`]).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use checkpoints::CheckpointsConfig;
use partitions::PartitionsConfig;
use scaler::config::ScalerConfig;
use serde_json::Value;
use streamops_shared::EnvReader;

use crate::book::{BookReader, Presence};
use crate::commands::{FunctionKind, Request};
use crate::error::CliError;

/// A function's environment variables, as the function reads them at cold start.
pub type Environment = BTreeMap<String, String>;

/// Where a function's configuration is read from, without invoking it.
pub trait ConfigSource {
    /// The environment, or why it cannot be read (no permission, not served, not decryptable).
    fn environment(&self) -> impl Future<Output = Result<Environment, String>>;
}

/// A name the command gives, of a kind the configuration lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// What it names: `target`, `table`, `pipeline`.
    pub what: &'static str,
    pub name: String,
}

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The command names nothing the configuration lists.
    Nothing,
    /// The configuration knows the name.
    Known,
    /// The configuration does not: nothing may be sent.
    Unknown {
        named: Named,
        known: Vec<String>,
        /// Where the names come from (`SCALER_POLICIES`, `the book (table t)`).
        source: String,
    },
    /// The configuration could not be read or parsed: the function checks the name itself.
    Unchecked { named: Named, why: String },
    /// The configuration knows the name but refuses what the command says of it (a partitions
    /// key value its key's rule does not admit): nothing may be sent.
    Refused { why: String },
}

/// The name a command gives that its function's configuration lists, if any.
pub fn named(request: &Request) -> Option<Named> {
    let field = |what: &'static str, field: &str| {
        request.payload[field].as_str().map(|name| Named {
            what,
            name: name.to_string(),
        })
    };
    match (request.function, request.command()) {
        (FunctionKind::Scaler, "scale" | "pause" | "resume") => field("target", "target"),
        (FunctionKind::Partitions, "backfill" | "status" | "prune") => field("table", "table"),
        // register-job makes a pipeline; the job-id forms name none.
        (FunctionKind::Checkpoints, "latest" | "list" | "prune" | "health" | "savepoint") => {
            field("pipeline", "pipeline")
        }
        _ => None,
    }
}

/// Checks the request's name against the configuration `source` gives (and, for a pipeline,
/// the book that configuration names).
pub async fn check(request: &Request, source: &(impl ConfigSource + BookReader)) -> Check {
    let Some(named) = named(request) else {
        return Check::Nothing;
    };
    let env = match source.environment().await {
        Ok(env) => env,
        Err(why) => return Check::Unchecked { named, why },
    };
    let listed = match request.function {
        FunctionKind::Checkpoints => in_book(env, &named.name, source).await,
        kind => names(kind, env, &named.name, &request.payload),
    };
    match listed {
        Ok(Listed {
            knows: true,
            refused: Some(why),
            ..
        }) => Check::Refused { why },
        Ok(Listed { knows: true, .. }) => Check::Known,
        Ok(Listed { source, known, .. }) => Check::Unknown {
            named,
            known,
            source,
        },
        Err(why) => Check::Unchecked { named, why },
    }
}

/// Whether the book the checkpoints configuration names has `pipeline`.
async fn in_book(
    env: Environment,
    pipeline: &str,
    book: &impl BookReader,
) -> Result<Listed, String> {
    let reader = EnvReader::from_map(env.into_iter().collect::<HashMap<_, _>>());
    let config = CheckpointsConfig::read(reader).map_err(unreadable)?;
    let source = format!("book (table {})", config.table);
    let presence = book
        .pipeline(&config.table, pipeline)
        .await
        .map_err(|e| format!("its book, {e}"))?;
    Ok(match presence {
        Presence::Present => Listed {
            source,
            known: vec![],
            knows: true,
            refused: None,
        },
        Presence::Absent { known } => Listed {
            source,
            known,
            knows: false,
            refused: None,
        },
    })
}

fn unreadable(e: streamops_shared::ConfigError) -> String {
    format!("its configuration does not read as the function reads it: {e}")
}

/// What the configuration lists, read with the function's own reader.
struct Listed {
    /// Where the names come from.
    source: String,
    /// Its names, for the message.
    known: Vec<String>,
    /// Whether the function finds the name (its own lookup: `Policies::target`, `Tables::find`).
    knows: bool,
    /// What the function would refuse in the command about the name it finds, if anything.
    refused: Option<String>,
}

/// The names the function's configuration lists and whether it finds `name` among them, as
/// the function itself looks it up.
fn names(
    kind: FunctionKind,
    env: Environment,
    name: &str,
    payload: &Value,
) -> Result<Listed, String> {
    let reader = EnvReader::from_map(env.into_iter().collect::<HashMap<_, _>>());
    match kind {
        FunctionKind::Scaler => {
            let config = ScalerConfig::read(reader).map_err(unreadable)?;
            let policies = &config.policies;
            Ok(Listed {
                source: "SCALER_POLICIES".into(),
                known: policies.targets.iter().map(|t| t.id.clone()).collect(),
                knows: policies.target(name).is_some(),
                refused: None,
            })
        }
        FunctionKind::Partitions => {
            let config = PartitionsConfig::read(reader).map_err(unreadable)?;
            let tables = &config.tables;
            // Both spellings a command may use: `database.table`, or the table name alone.
            let ids = tables.tables.iter().map(|t| t.id());
            let bare = tables.tables.iter().map(|t| t.table.clone());
            Ok(Listed {
                source: "PARTITIONS_TABLES".into(),
                known: ids.chain(bare).collect(),
                knows: tables.find(name).is_some(),
                refused: key_problem(payload, tables),
            })
        }
        other => Err(format!("{} names nothing checked here", other.binary())),
    }
}

/// What the function would say of the command's `keys` (a key the table does not have, a value
/// its key's rule refuses), checked with the function's own planning; `None` without `keys`.
fn key_problem(payload: &Value, tables: &partitions::Tables) -> Option<String> {
    payload.get("keys")?;
    match partitions::check_command(payload, tables)? {
        Err(e) if e.contains("`keys`: ") => Some(e),
        _ => None,
    }
}

/// What a check means for the run: an unknown name is an error (nothing is sent); a check
/// that could not be made is said on standard error, never silently skipped.
pub fn settle(check: Check, function: &str, warn: &mut impl FnMut(&str)) -> Result<(), CliError> {
    match check {
        Check::Nothing | Check::Known => Ok(()),
        Check::Unknown {
            named,
            known,
            source,
        } => Err(CliError::Unknown {
            what: named.what,
            name: named.name,
            known: shown(&known),
            from: format!("the {function} function's {source}"),
        }),
        Check::Refused { why } => Err(CliError::Invalid(format!("{why}; nothing was sent"))),
        Check::Unchecked { named, why } => {
            warn(&format!(
                "streamops: warning: {} {:?} not checked before sending: could not read the {function} function's configuration ({why}); the function checks it",
                named.what, named.name
            ));
            Ok(())
        }
    }
}

/// The known names for the message, each once, in the configuration's order (`none` for none).
fn shown(known: &[String]) -> Vec<String> {
    if known.is_empty() {
        return vec!["none".into()];
    }
    let mut seen = Vec::new();
    for k in known {
        if !seen.contains(k) {
            seen.push(k.clone());
        }
    }
    seen
}

/// The local stack's environment file (`environment.json` beside its endpoints file): each
/// function's variables from template.yaml, as the stack launched it (without the local
/// endpoint and keys it adds), which is what `GetFunctionConfiguration` returns on a deploy.
pub fn local_environment(endpoints: &std::path::Path, binary: &str) -> Result<Environment, String> {
    let file = endpoints.with_file_name("environment.json");
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let all: BTreeMap<String, Value> = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not an environment file: {e}", file.display()))?;
    let vars = all
        .get(binary)
        .and_then(Value::as_object)
        .ok_or_else(|| format!("{} has no environment for {binary}", file.display()))?;
    Ok(vars
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect())
}
