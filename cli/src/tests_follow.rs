//! Names checked against the function's configuration before anything is sent, and a Flink
//! rescale followed to its end, over a fake function (scripted configuration and answers, every
//! payload it was sent recorded) and a fake clock (a sleep moves it; nothing really waits).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::time::Duration;

use clap::Parser;
use serde_json::{Value, json};

use crate::args::Cli;
use crate::book::{BookReader, Presence};
use crate::commands::Follow;
use crate::error::CliError;
use crate::follow::{self, Clock, Followed, Seen};
use crate::known::{ConfigSource, Environment};
use crate::lambda::{Answer, Invoke};

const POLICIES: &str = r#"{"targets": [
  {"id": "raw-stream", "kind": "kinesis_stream", "stream": "streamops-raw", "min": 1, "max": 16},
  {"id": "enriched-stream", "kind": "kinesis_stream", "stream": "streamops-enriched", "min": 1, "max": 16},
  {"id": "flink-job", "kind": "flink_job", "rest_url": "http://127.0.0.1:8081", "job_name": "sessionizer",
   "mode": "savepoint", "jar_id": "abc_job.jar", "pipeline": "sessionizer", "min": 1, "max": 8}],
  "rules": []}"#;

const TABLES: &str = r#"[{"bucket":"data","prefix":"enriched/","database":"streamops","table":"enriched_events","layout":"hive"},
  {"bucket":"data","prefix":"logs/","database":"streamops","table":"suite_logs","layout":"hive"}]"#;

pub(crate) struct Fake {
    env: Result<Environment, String>,
    answers: RefCell<VecDeque<Answer>>,
    pub(crate) sent: RefCell<Vec<Value>>,
    config_reads: Cell<usize>,
    /// The pipelines the checkpoints book has, or why it cannot be read.
    pub(crate) book: Result<Vec<String>, String>,
    /// The (table, pipeline) pairs the book was asked about.
    pub(crate) book_reads: RefCell<Vec<(String, String)>>,
}

impl Fake {
    pub(crate) fn new(env: Result<&[(&str, &str)], &str>, answers: Vec<Value>) -> Self {
        Self {
            env: env
                .map(|pairs| {
                    pairs
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                })
                .map_err(str::to_string),
            answers: RefCell::new(answers.into_iter().map(Answer::Ok).collect()),
            sent: RefCell::new(Vec::new()),
            config_reads: Cell::new(0),
            book: Ok(vec![]),
            book_reads: RefCell::new(Vec::new()),
        }
    }

    fn scaler(answers: Vec<Value>) -> Self {
        Self::new(
            Ok(&[("SCALER_TABLE", "t"), ("SCALER_POLICIES", POLICIES)]),
            answers,
        )
    }

    pub(crate) fn commands(&self) -> Vec<String> {
        let sent = self.sent.borrow();
        sent.iter()
            .map(|p| p["command"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

impl Invoke for Fake {
    fn name(&self) -> &str {
        "fake"
    }
    async fn invoke(&self, payload: &Value) -> Result<Answer, CliError> {
        self.sent.borrow_mut().push(payload.clone());
        let next = self.answers.borrow_mut().pop_front();
        next.ok_or_else(|| CliError::Call(format!("no scripted answer for {payload}")))
    }
}

impl ConfigSource for Fake {
    async fn environment(&self) -> Result<Environment, String> {
        self.config_reads.set(self.config_reads.get() + 1);
        self.env.clone()
    }
}

/// A clock that only moves when slept on.
#[derive(Default)]
struct FakeClock {
    now: Cell<Duration>,
    sleeps: Cell<usize>,
}

impl Clock for FakeClock {
    fn elapsed(&self) -> Duration {
        self.now.get()
    }
    async fn sleep(&self, d: Duration) {
        self.now.set(self.now.get() + d);
        self.sleeps.set(self.sleeps.get() + 1);
    }
}

impl BookReader for Fake {
    async fn pipeline(&self, table: &str, pipeline: &str) -> Result<Presence, String> {
        let asked = (table.to_string(), pipeline.to_string());
        self.book_reads.borrow_mut().push(asked);
        let known = self.book.clone()?;
        Ok(if known.iter().any(|p| p == pipeline) {
            Presence::Present
        } else {
            Presence::Absent { known }
        })
    }
}

/// A run over the fake: its result and what went to standard error.
pub(crate) fn execute(words: &str, fake: &Fake) -> (Result<(), CliError>, Vec<String>) {
    let argv = [
        "streamops",
        "--local",
        "/nonexistent/endpoints.json",
        "--yes",
    ];
    let cli = Cli::try_parse_from(argv.iter().copied().chain(words.split_whitespace()))
        .unwrap_or_else(|e| panic!("{words}: {e}"));
    let request = cli.function.request().unwrap();
    let mut said = Vec::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let clock = FakeClock::default();
    let result = rt.block_on(crate::run::execute(
        &cli,
        &request,
        fake,
        &clock,
        &mut |l: &str| said.push(l.to_string()),
    ));
    (result, said)
}

#[test]
fn an_unknown_target_is_refused_from_the_configuration_and_nothing_is_sent() {
    for words in [
        "scaler scale raw-strem 4 --apply",
        "scaler scale raw-strem 4",
        "scaler pause raw-strem",
        "scaler resume raw-strem",
    ] {
        let fake = Fake::scaler(vec![]);
        let (result, _) = execute(words, &fake);
        let e = result.unwrap_err();
        assert_eq!(e.exit_code(), 5, "{words}: {e}");
        assert_eq!(
            e.to_string(),
            "unknown target \"raw-strem\"; known: raw-stream, enriched-stream, flink-job (from the scaler function's SCALER_POLICIES); nothing was sent"
        );
        assert!(fake.sent.borrow().is_empty(), "{words}: {:?}", fake.sent);
    }
    let fake = Fake::scaler(vec![json!({"target": "raw-stream", "paused": true})]);
    let (result, said) = execute("scaler pause raw-stream", &fake);
    assert!(result.is_ok() && said.is_empty(), "{result:?} {said:?}");
    assert_eq!(fake.commands(), ["pause"]);
}

#[test]
fn an_unknown_table_is_refused_and_both_spellings_of_a_known_one_pass() {
    let env: &[(&str, &str)] = &[
        ("PARTITIONS_TABLES", TABLES),
        ("PARTITIONS_REGISTRY_TABLE", "r"),
    ];
    let fake = Fake::new(Ok(env), vec![]);
    let (result, _) = execute(
        "partitions backfill --table enriched --from 2026-11-01 --to 2026-11-02 --apply",
        &fake,
    );
    let e = result.unwrap_err();
    assert_eq!(
        (e.exit_code(), e.to_string()),
        (5, "unknown table \"enriched\"; known: streamops.enriched_events, streamops.suite_logs, enriched_events, suite_logs (from the partitions function's PARTITIONS_TABLES); nothing was sent".into())
    );
    assert!(fake.sent.borrow().is_empty());
    for table in ["enriched_events", "streamops.enriched_events"] {
        let fake = Fake::new(Ok(env), vec![json!({"command": "status", "gaps": []})]);
        let words = format!("partitions status --table {table} --from 2026-11-01 --to 2026-11-02");
        let (result, said) = execute(&words, &fake);
        assert!(
            result.is_ok() && said.is_empty(),
            "{table}: {result:?} {said:?}"
        );
        assert_eq!(fake.commands(), ["status"]);
    }
}

#[test]
fn key_values_the_tables_rules_refuse_are_not_sent() {
    let tables = r#"[{"bucket":"data","prefix":"events/","database":"streamops","table":"by_source",
      "layout":"source={source}/dt={yyyy}-{MM}-{dd}/hour={HH}/","keys":{"source":{"values":["web","app"]}},
      "columns":[{"name":"source","value":"{source}"},{"name":"dt","value":"{yyyy}-{MM}-{dd}"},{"name":"hour","value":"{HH}"}]}]"#;
    let env: &[(&str, &str)] = &[
        ("PARTITIONS_TABLES", tables),
        ("PARTITIONS_REGISTRY_TABLE", "r"),
    ];
    for (key, want) in [
        (
            "source=we'b",
            "status `keys`: key `source`: \"we'b\" is not one of web, app; nothing was sent",
        ),
        (
            "tenant=t1",
            "status `keys`: table streamops.by_source has no key `tenant` (its named keys: [source]); nothing was sent",
        ),
    ] {
        let fake = Fake::new(Ok(env), vec![]);
        let words = format!(
            "partitions status --table by_source --from 2026-11-01 --to 2026-11-02 --key {key}"
        );
        let (result, _) = execute(&words, &fake);
        let e = result.unwrap_err();
        assert_eq!((e.exit_code(), e.to_string()), (2, want.to_string()));
        assert!(fake.sent.borrow().is_empty());
    }
    let fake = Fake::new(Ok(env), vec![json!({"command": "status", "gaps": []})]);
    let (result, said) = execute(
        "partitions status --table by_source --from 2026-11-01 --to 2026-11-02 --key source=web",
        &fake,
    );
    assert!(result.is_ok() && said.is_empty(), "{result:?} {said:?}");
    assert_eq!(fake.sent.borrow()[0]["keys"], json!({"source": ["web"]}));
}

#[test]
fn a_configuration_that_cannot_be_read_is_said_and_the_function_checks() {
    let fake = Fake::new(
        Err(
            "GetFunctionConfiguration: User is not authorized to perform: lambda:GetFunctionConfiguration",
        ),
        vec![json!({"target": "raw-stream", "paused": true})],
    );
    let (result, said) = execute("scaler pause raw-stream", &fake);
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        said,
        [
            "streamops: warning: target \"raw-stream\" not checked before sending: could not read the scaler function's configuration (GetFunctionConfiguration: User is not authorized to perform: lambda:GetFunctionConfiguration); the function checks it"
        ]
    );
    assert_eq!(fake.commands(), ["pause"]);
    // A configuration the function itself would refuse: said, not trusted.
    let fake = Fake::new(
        Ok(&[("SCALER_TABLE", "t"), ("SCALER_POLICIES", "{")]),
        vec![json!({"target": "raw-stream", "paused": true})],
    );
    let (result, said) = execute("scaler pause raw-stream", &fake);
    assert!(result.is_ok(), "{result:?}");
    assert!(
        said.len() == 1
            && said[0].contains("does not read as the function reads it")
            && said[0].contains("SCALER_POLICIES"),
        "{said:?}"
    );
}

#[test]
fn commands_naming_nothing_configured_read_no_configuration() {
    // A job id is looked up by the function (pipelines are checked: tests_pipelines.rs).
    let fake = Fake::new(Err("must not be read"), vec![json!({"location": null})]);
    let (result, said) = execute(
        "checkpoints latest --job-id 0123456789abcdef0123456789abcdef",
        &fake,
    );
    assert!(result.is_ok() && said.is_empty(), "{result:?} {said:?}");
    let fake2 = Fake::new(Err("must not be read"), vec![json!({"targets": []})]);
    let (result, _) = execute("scaler status", &fake2);
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(fake.config_reads.get() + fake2.config_reads.get(), 0);
}

const AT: &str = "2026-12-01T10:00:00.5+00:00";

fn started() -> Value {
    json!({"dry_run": false,
           "decision": {"decision": "act", "target": "flink-job", "from": 2, "to": 4, "at": AT},
           "progress": [{"decision": "rescale_in_progress", "target": "flink-job", "from": 2, "to": 4,
                         "phase": {"phase": "stopping", "trigger_id": "t1"},
                         "detail": "waiting for the savepoint", "at": "2026-12-01T10:00:01+00:00"}]})
}

fn status(rescale: Option<&str>, recent: Vec<Value>) -> Value {
    let running =
        rescale.map(|p| json!({"job_id": "j", "from": 2, "to": 4, "phase": {"phase": p}}));
    json!({"targets": [
        {"target": "raw-stream", "rescale_in_progress": null, "recent_decisions": []},
        {"target": "flink-job", "rescale_in_progress": running, "recent_decisions": recent}]})
}

fn entry(decision: &str, at: &str, more: Value) -> Value {
    let mut e = json!({"decision": decision, "target": "flink-job", "from": 2, "to": 4, "at": at});
    e.as_object_mut()
        .unwrap()
        .extend(more.as_object().unwrap().clone());
    e
}

#[test]
fn a_rescale_left_running_is_followed_until_done() {
    let older = entry("rescaled", "2026-11-30T08:00:00+00:00", json!({}));
    let fake = Fake::scaler(vec![
        started(),
        status(Some("stopping"), vec![older.clone()]),
        status(
            Some("confirming"),
            vec![
                entry(
                    "rescale_in_progress",
                    "2026-12-01T10:00:20+00:00",
                    json!({"detail": "job submitted, waiting for RUNNING"}),
                ),
                older.clone(),
            ],
        ),
        status(
            None,
            vec![
                entry(
                    "rescaled",
                    "2026-12-01T10:00:31+00:00",
                    json!({"job_id": "k"}),
                ),
                older,
            ],
        ),
    ]);
    let (result, said) = execute("scaler scale flink-job 4 --apply --interval 10s", &fake);
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(fake.commands(), ["scale", "status", "status", "status"]);
    assert_eq!(
        said,
        [
            "rescale of flink-job still running: following it (at most 900 s; --no-wait returns at once)",
            // The audit entry older than this scale is not this rescale's outcome.
            "rescale of flink-job: stopping, 10 s",
            "rescale of flink-job: confirming (job submitted, waiting for RUNNING), 20 s",
        ]
    );
}

#[test]
fn a_failed_or_stranded_rescale_exits_six() {
    let failed = entry(
        "failed",
        "2026-12-01T10:01:00+00:00",
        json!({"error": "savepoint failed: disk full"}),
    );
    let fake = Fake::scaler(vec![
        started(),
        status(Some("stopping"), vec![]),
        status(None, vec![failed]),
    ]);
    let (result, said) = execute("scaler scale flink-job 4 --apply", &fake);
    let e = result.unwrap_err();
    assert_eq!(
        (e.exit_code(), e.to_string()),
        (
            6,
            "the rescale of flink-job failed: savepoint failed: disk full".into()
        )
    );
    assert_eq!(said.len(), 2, "{said:?}");
    // Stranded keeps its state (every invocation retries) but is no way to done: a human acts.
    let stranded = entry(
        "stranded",
        "2026-12-01T10:01:00+00:00",
        json!({"error": "resubmission refused"}),
    );
    let fake = Fake::scaler(vec![started(), status(Some("submitting"), vec![stranded])]);
    let e = execute("scaler scale flink-job 4 --apply", &fake)
        .0
        .unwrap_err();
    assert_eq!(
        (e.exit_code(), e.to_string()),
        (
            6,
            "the rescale of flink-job stranded: resubmission refused".into()
        )
    );
    assert_eq!(fake.commands(), ["scale", "status"]);
}

#[test]
fn a_rescale_still_running_at_the_timeout_exits_seven_after_polling_no_longer() {
    let overdue = entry(
        "failed",
        "2026-12-01T10:00:40+00:00",
        json!({"error": "the savepoint is over its timeout", "phase": {"phase": "stopping"}}),
    );
    let answers = std::iter::once(started())
        .chain(std::iter::repeat_n(
            status(Some("stopping"), vec![overdue]),
            3,
        ))
        .collect();
    let fake = Fake::scaler(answers);
    let (result, said) = execute(
        "scaler scale flink-job 4 --apply --timeout 25s --interval 10s",
        &fake,
    );
    let e = result.unwrap_err();
    assert_eq!(
        (e.exit_code(), e.to_string()),
        (7, "the rescale of flink-job was still stopping after 25 s; it may still finish (`streamops scaler status`)".into())
    );
    // Polls at 10, 20 and 25 s (the last sleep cut to the timeout), then stops.
    assert_eq!(fake.commands(), ["scale", "status", "status", "status"]);
    assert_eq!(
        said.last().unwrap(),
        "rescale of flink-job: stopping (the savepoint is over its timeout), 25 s"
    );
}

#[test]
fn a_scale_that_finished_in_its_invocation_or_no_wait_is_not_followed() {
    let done = json!({"dry_run": false, "decision": {"decision": "act", "at": AT},
                      "progress": [entry("rescaled", AT, json!({}))]});
    let fake = Fake::scaler(vec![done]);
    assert!(execute("scaler scale flink-job 4 --apply", &fake).0.is_ok());
    assert_eq!(fake.commands(), ["scale"]);
    let fake = Fake::scaler(vec![started()]);
    assert!(
        execute("scaler scale flink-job 4 --apply --no-wait", &fake)
            .0
            .is_ok()
    );
    assert_eq!(fake.commands(), ["scale"]);
    // A dry run decides without acting: nothing to follow.
    let cli = Cli::try_parse_from(["streamops", "scaler", "scale", "flink-job", "4"]).unwrap();
    assert_eq!(cli.function.request().unwrap().follow, Follow::Once);
}

#[test]
fn the_status_is_read_as_the_scaler_writes_it() {
    let since = chrono::DateTime::parse_from_rfc3339(AT).unwrap().to_utc();
    let e = follow::seen(&status(None, vec![]), "flink-job", since);
    assert_eq!(e, Ok(Seen::Unknown));
    let e = follow::seen(&status(None, vec![]), "nope", since).unwrap_err();
    assert!(e.contains("no target \"nope\""), "{e}");
    assert!(follow::left_running(&started()));
    let followed = Followed::TimedOut {
        phase: "stopping".into(),
        elapsed: Duration::from_secs(3),
    };
    assert_eq!(followed.to_json()["state"], "still_running");
    assert_eq!(
        crate::commands::scaler::duration("15m"),
        Ok(Duration::from_secs(900))
    );
    assert_eq!(
        crate::commands::scaler::duration("90"),
        Ok(Duration::from_secs(90))
    );
    assert!(
        crate::commands::scaler::duration("0s").is_err()
            && crate::commands::scaler::duration("m").is_err()
            && crate::commands::scaler::duration("2x").is_err()
    );
}
