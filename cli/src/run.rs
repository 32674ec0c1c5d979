//! One run: check the command, find the function, confirm, invoke (chunk after chunk for a
//! backfill), and print the answers.

use std::io::{BufRead, IsTerminal, Write};

use serde_json::{Value, json};

use crate::args::{Cli, Output};
use crate::book::BookReader;
use crate::commands::{Effect, Follow, Request, Wait};
use crate::error::CliError;
use crate::follow::{self, Clock, Wall};
use crate::known::{self, ConfigSource};
use crate::lambda::{Function, Invoke, Target};
use crate::render::render;

/// The answer's counts a backfill adds up over its chunks.
const BACKFILL_TOTALS: [&str; 8] = [
    "chunks",
    "periods_done",
    "periods_without_data",
    "partitions",
    "partitions_registered",
    "partitions_already_present",
    "statements",
    "queries_run",
];

pub async fn run(cli: &Cli) -> Result<(), CliError> {
    // Everything about the arguments is checked before anything is looked up or sent.
    let request = cli.function.request().map_err(CliError::Invalid)?;
    let target = Target::from_args(&cli.target)?;
    if request.effect == (Effect::Guarded { apply: false }) {
        print(cli.output, &not_sent(&request));
        return Ok(());
    }
    let function = Function::find(&target, request.function).await?;
    let clock = Wall(std::time::Instant::now());
    let mut say = |line: &str| eprintln!("{line}");
    execute(cli, &request, &function, &clock, &mut say).await
}

/// The run once the function is found: its configuration checks the names the command gives
/// (an unknown one sends nothing), then confirm, invoke, follow. `say` takes what goes to
/// standard error (warnings, a rescale's progress).
pub async fn execute<F: Invoke + ConfigSource + BookReader>(
    cli: &Cli,
    request: &Request,
    function: &F,
    clock: &impl Clock,
    say: &mut impl FnMut(&str),
) -> Result<(), CliError> {
    let check = known::check(request, function).await;
    known::settle(check, request.function.binary(), say)?;
    if request.effect.acts() && !cli.yes && std::io::stdin().is_terminal() {
        confirm(request, function.name())?;
    }
    match request.follow {
        Follow::Once => {
            let answer = function.invoke(&request.payload).await?.into_result()?;
            print(cli.output, &answer);
        }
        Follow::Chunks => chunks(cli.output, function, request.payload.clone()).await?,
        Follow::Rescale(wait) => rescale(cli.output, function, request, (clock, wait), say).await?,
    }
    Ok(())
}

/// A scale, and the Flink rescale it leaves running followed to its end: progress on standard
/// error, the outcome in the answer's `rescale` field, an error when it did not finish done.
async fn rescale(
    output: Output,
    scaler: &impl Invoke,
    request: &Request,
    (clock, wait): (&impl Clock, Wait),
    say: &mut impl FnMut(&str),
) -> Result<(), CliError> {
    let mut answer = scaler.invoke(&request.payload).await?.into_result()?;
    if !follow::left_running(&answer) {
        print(output, &answer);
        return Ok(());
    }
    let target = request.payload["target"].as_str().unwrap_or_default();
    // The decision's own time (the function's clock), so the outcome found is this rescale's.
    let since = answer["decision"]["at"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.to_utc())
        .unwrap_or_else(chrono::Utc::now);
    say(&format!(
        "rescale of {target} still running: following it (at most {} s; --no-wait returns at once)",
        wait.timeout.as_secs()
    ));
    let followed = follow::follow(scaler, clock, wait, (target, since), say).await?;
    answer["rescale"] = followed.to_json();
    print(output, &answer);
    followed.result(target)
}

/// A command the function has no dry run for, without `--apply`: what would be sent.
fn not_sent(request: &Request) -> Value {
    json!({
        "dry_run": true,
        "sent": false,
        "note": format!("nothing was sent: {} changes things and has no dry run of its own; add --apply to send it", request.command()),
        "payload": request.payload,
    })
}

fn print(output: Output, v: &Value) {
    match output {
        Output::Json => println!("{v}"),
        Output::Table => print!("{}", render(v)),
    }
}

fn confirm(request: &Request, function: &str) -> Result<(), CliError> {
    eprint!(
        "{} on {function}: this changes things ({}). Go ahead? [y/N] ",
        request.command(),
        request.payload
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Invalid(format!("reading the answer: {e}")))?;
    match line.trim() {
        "y" | "Y" | "yes" => Ok(()),
        _ => Err(CliError::Declined),
    }
}

/// A backfill, one chunk per invocation, each resumed from the last one's `resume_from` until
/// the answer says `done`; each chunk is printed as it comes, then the totals.
async fn chunks(
    output: Output,
    function: &impl Invoke,
    mut payload: Value,
) -> Result<(), CliError> {
    let mut totals = [0u64; BACKFILL_TOTALS.len()];
    let mut last = Value::Null;
    for n in 1.. {
        let answer = function.invoke(&payload).await?.into_result()?;
        for (total, field) in totals.iter_mut().zip(BACKFILL_TOTALS) {
            *total += answer[field].as_u64().unwrap_or(0);
        }
        match output {
            Output::Json => println!("{answer}"),
            Output::Table => println!("{}", chunk_line(n, &answer)),
        }
        let next = answer["resume_from"].as_str().map(str::to_string);
        let done = answer["done"].as_bool().unwrap_or(true);
        last = answer;
        match next {
            Some(cursor) if !done => {
                if payload.get("resume_from").and_then(Value::as_str) == Some(&cursor) {
                    return Err(CliError::Call(format!(
                        "the backfill did not move past {cursor}; stopping"
                    )));
                }
                payload["resume_from"] = Value::String(cursor);
            }
            _ => break,
        }
    }
    if output == Output::Table {
        for (field, total) in BACKFILL_TOTALS.iter().zip(totals) {
            last[*field] = json!(total);
        }
        println!();
        print(output, &last);
    }
    Ok(())
}

fn chunk_line(n: usize, a: &Value) -> String {
    let from = a["resume_from"].as_str().unwrap_or("the end");
    format!(
        "chunk {n}: {} periods, {} partitions planned, {} registered, {} already present; next: {from}",
        a["periods_done"],
        a["partitions"],
        a["partitions_registered"],
        a["partitions_already_present"]
    )
}
