//! Argument checking: what is refused, in what words, and that nothing is looked up or sent
//! before it (the target here is a local stack whose endpoints file does not exist: reaching
//! for it would be a `Call` error, not an `Invalid` one).

use clap::Parser;
use serde_json::json;

use crate::args::Cli;
use crate::commands::{Effect, Follow, FunctionKind, Request};
use crate::error::CliError;

const NOWHERE: &str = "/nonexistent/streamops/endpoints.json";

fn cli(words: &str) -> Cli {
    cli_argv(&words.split_whitespace().collect::<Vec<_>>())
}

fn cli_argv(words: &[&str]) -> Cli {
    let argv = ["streamops", "--local", NOWHERE].iter().chain(words);
    Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{words:?}: {e}"))
}

fn request(words: &str) -> Request {
    cli(words)
        .function
        .request()
        .unwrap_or_else(|e| panic!("{words}: {e}"))
}

/// The error a run gives, which must be about the arguments.
fn refused(words: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    match rt.block_on(crate::run::run(&cli(words))) {
        Err(CliError::Invalid(e)) => e,
        other => panic!("{words}: expected an argument error before any call, got {other:?}"),
    }
}

/// What clap refuses (unknown commands, missing arguments, words the function does not know).
fn usage_error(words: &str) -> String {
    let mut argv = vec!["streamops", "--local", NOWHERE];
    argv.extend(words.split_whitespace());
    match Cli::try_parse_from(argv) {
        Ok(c) => panic!("{words}: parsed as {:?}", c.function),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_bad_date_is_refused_before_anything_is_sent() {
    let e =
        refused("partitions backfill --table enriched_events --from 2026-13-01 --to 2026-11-02");
    assert!(
        e.starts_with("backfill `from`: \"2026-13-01\" is not a time"),
        "{e}"
    );
    let e = refused("partitions status --table t --from 2026-11-02 --to 2026-11-01");
    assert!(
        e.contains("status `to`") && e.contains("must be after `from`"),
        "{e}"
    );
    let e = refused(
        "partitions backfill --table t --from 2026-11-01 --to 2026-11-02 --resume-from 2026-12-01",
    );
    assert!(
        e.contains("backfill `resume_from`") && e.contains("outside the range"),
        "{e}"
    );
    let e = refused("alerts silence --alarm-prefix streamops-raw- --until 2020-01-01T00:00:00Z");
    assert!(e.contains("is not in the future"), "{e}");
    let e = usage_error("alerts silence --alarm-prefix streamops-raw- --for 2hours");
    assert!(e.contains("\"2hours\" is not a duration"), "{e}");
}

#[test]
fn unknown_commands_targets_and_words_are_refused() {
    let e = usage_error("scaler reboot");
    assert!(e.contains("unrecognized subcommand 'reboot'"), "{e}");
    let e = usage_error(
        "partitions backfill --table t --from 2026-11-01 --to 2026-11-02 --granularity minute",
    );
    assert!(
        e.contains("unknown variant `minute`, expected `hour` or `day`"),
        "{e}"
    );
    let e = usage_error("checkpoints register-job --pipeline p --job-id j --restore-mode COPY");
    assert!(e.contains("unknown variant `COPY`"), "{e}");
    // A pipeline or a job, exactly one: as the function requires.
    let e = usage_error("checkpoints latest");
    assert!(e.contains("--pipeline <PIPELINE>|--job-id <JOB_ID>"), "{e}");
    let e =
        usage_error("checkpoints latest --pipeline p --job-id a1b2c3d4e5f60718293a4b5c6d7e8f90");
    assert!(e.contains("cannot be used with"), "{e}");
    let e = refused("checkpoints register-job --pipeline clickstream-sessionizer --job-id nope");
    assert_eq!(e, "job_id \"nope\" is not a Flink job id (32 hex digits)");
    let e = refused("checkpoints pin flink/savepoints/x");
    assert!(e.contains("is not s3://BUCKET/DIRECTORY"), "{e}");
    let e = refused("alerts silence --fingerprint abc --for 1h");
    assert!(e.contains("not a 32-character hex fingerprint"), "{e}");
    let e = refused("enrich dry-run ../events/enrich/ops-replay.json");
    assert_eq!(e, "the file is a replay command, not records or an event");
    let e = refused("alerts silence --alarm-prefix p --for 100d");
    assert!(e.contains("at most 90 days"), "{e}");
}

#[test]
fn the_target_is_checked_before_any_call() {
    let argv = ["streamops", "scaler", "status"];
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // No STREAMOPS_STACK or STREAMOPS_LOCAL in the test's environment is assumed: say so if set.
    if std::env::var_os("STREAMOPS_STACK").is_none()
        && std::env::var_os("STREAMOPS_LOCAL").is_none()
    {
        let e = rt.block_on(crate::run::run(&Cli::try_parse_from(argv).unwrap()));
        assert!(
            matches!(&e, Err(CliError::Invalid(m)) if m.contains("--stack NAME")),
            "{e:?}"
        );
    }
    let both = [
        "streamops",
        "--stack",
        "s",
        "--function",
        "f",
        "scaler",
        "status",
    ];
    let e = rt.block_on(crate::run::run(&Cli::try_parse_from(both).unwrap()));
    assert!(
        matches!(&e, Err(CliError::Invalid(m)) if m.contains("only one of")),
        "{e:?}"
    );
    // With a valid command, the target is reached for: the missing endpoints file says so.
    let e = rt.block_on(crate::run::run(&cli("scaler status")));
    assert!(
        matches!(&e, Err(CliError::Call(m)) if m.contains(NOWHERE)),
        "{e:?}"
    );
}

#[test]
fn without_apply_destructive_commands_are_dry_runs() {
    let r =
        request("partitions backfill --table enriched_events --from 2026-11-01 --to 2026-11-02");
    assert_eq!(r.effect, Effect::Planned { apply: false });
    assert_eq!(r.follow, Follow::Chunks);
    assert_eq!(
        r.payload,
        json!({"command": "backfill", "table": "enriched_events", "from": "2026-11-01", "to": "2026-11-02",
               "confirm_data": false, "dry_run": true, "max_chunks": 1})
    );
    let r = request(
        "partitions backfill --table enriched_events --from 2026-11-01 --to 2026-11-02 --apply",
    );
    assert_eq!(
        (r.effect, &r.payload["dry_run"]),
        (Effect::Planned { apply: true }, &json!(false))
    );
    for (words, function) in [
        ("scaler scale raw-stream 8", FunctionKind::Scaler),
        (
            "checkpoints prune --pipeline clickstream-sessionizer",
            FunctionKind::Checkpoints,
        ),
        (
            "enrich replay s3://q/quarantine/a.ndjson",
            FunctionKind::Enrich,
        ),
    ] {
        let r = request(words);
        assert_eq!(
            (r.function, r.effect),
            (function, Effect::Planned { apply: false }),
            "{words}"
        );
        assert_eq!(r.payload["dry_run"], json!(true), "{words}");
    }
    // No dry run of their own: nothing is sent without --apply.
    for words in [
        "alerts unsilence sil-0123456789ab",
        "checkpoints unpin s3://b/flink/savepoints/s/",
        "scaler tick",
    ] {
        assert_eq!(
            request(words).effect,
            Effect::Guarded { apply: false },
            "{words}"
        );
    }
}

#[test]
fn a_guarded_command_without_apply_sends_nothing() {
    // The endpoints file does not exist: reaching for the function would fail the run.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let run = rt.block_on(crate::run::run(&cli("alerts unsilence sil-0123456789ab")));
    assert!(run.is_ok(), "{run:?}");
    let e = rt.block_on(crate::run::run(&cli(
        "alerts unsilence sil-0123456789ab --apply",
    )));
    assert!(matches!(e, Err(CliError::Call(_))), "{e:?}");
}

#[test]
fn every_command_of_every_function_is_covered() {
    let sent: Vec<(FunctionKind, String)> = [
        "alerts silence --alarm-prefix streamops-raw- --for 2h --comment reshard",
        "alerts silences",
        "alerts unsilence sil-0123456789ab --apply",
        "alerts test-alert --severity warning",
        "alerts inhibitions",
        "alerts mute-windows",
        "alerts groups",
        "alerts activities",
        "alerts explain ../events/alerts/alarm-iterator-age-alarm.json",
        "checkpoints latest --pipeline clickstream-sessionizer --prefer savepoint",
        "checkpoints list --pipeline clickstream-sessionizer --limit 10",
        "checkpoints register-job --pipeline clickstream-sessionizer --job-id a1b2c3d4e5f60718293a4b5c6d7e8f90 --restore-mode NO_CLAIM",
        "checkpoints pin s3://b/flink/savepoints/savepoint-a1b2c3-5d7e9f0a1b2c/",
        "checkpoints unpin s3://b/flink/savepoints/savepoint-a1b2c3-5d7e9f0a1b2c/",
        "checkpoints verify --job-id a1b2c3d4e5f60718293a4b5c6d7e8f90",
        "checkpoints rescan",
        "checkpoints health --pipeline clickstream-sessionizer --no-notify",
        "checkpoints prune --job-id a1b2c3d4e5f60718293a4b5c6d7e8f90",
        "checkpoints savepoint --pipeline clickstream-sessionizer",
        "enrich dry-run ../events/enrich/ops-dry-run-records.json",
        "enrich columns",
        "enrich dry-run ../events/enrich/kinesis-mixed-batch.json",
        "enrich replay quarantine/kinesis/streamops-raw/dt=2026-11-23/x.ndjson",
        "partitions backfill --table streamops.enriched_events --from 2026-11-22T00 --to 2026-11-23T00 --granularity hour",
        "partitions status --table streamops.enriched_events --from 2026-11-23T00 --to 2026-11-24T00",
        "partitions prune --table streamops.enriched_events --from 2026-01-01 --to 2026-06-01",
        "partitions maintain --table streamops.enriched_iceberg",
        "partitions maintenance-status --table streamops.enriched_iceberg",
        "scaler status",
        "scaler scale raw-stream 4 --reason load-test",
        "scaler pause raw-stream",
        "scaler resume raw-stream",
        "scaler explain ../events/scaler/ops-explain.json",
        "scaler tick",
    ]
    .iter()
    .map(|w| {
        let r = request(w);
        (r.function, r.command().to_string())
    })
    .collect();
    // The functions' own lists of what they accept.
    for (function, accepted) in [
        (FunctionKind::Alerts, alerts::ops::COMMANDS),
        (FunctionKind::Checkpoints, checkpoints::COMMANDS),
        (FunctionKind::Enrich, enrich::ops::COMMANDS),
        (FunctionKind::Partitions, partitions::COMMANDS),
        (FunctionKind::Scaler, scaler::ops::COMMANDS),
    ] {
        for command in accepted.split(", ") {
            assert!(
                sent.iter().any(|(f, c)| *f == function && c == command),
                "{} {command} has no CLI command",
                function.binary()
            );
        }
    }
}

#[test]
fn payloads_match_the_example_events() {
    // The CLI's payloads for the events/ examples are those examples.
    let fixture = |p: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(format!("../events/{p}")).unwrap()).unwrap()
    };
    assert_eq!(
        request("checkpoints latest --pipeline clickstream-sessionizer").payload,
        fixture("checkpoints/ops-latest.json")
    );
    assert_eq!(
        request("alerts mute-windows").payload,
        fixture("alerts/ops-mute-windows.json")
    );
    assert_eq!(
        request("checkpoints health").payload,
        fixture("checkpoints/ops-health.json")
    );
    assert_eq!(
        request("checkpoints health --pipeline clicks --no-notify").payload,
        fixture("checkpoints/ops-health-one-pipeline.json")
    );
    assert_eq!(
        request("scaler status").payload,
        fixture("scaler/ops-status.json")
    );
    assert_eq!(
        request("scaler pause raw-stream").payload,
        fixture("scaler/ops-pause.json")
    );
    let scale = cli_argv(&[
        "scaler",
        "scale",
        "raw-stream",
        "4",
        "--reason",
        "load test at 14:00",
    ]);
    assert_eq!(
        scale.function.request().unwrap().payload,
        fixture("scaler/ops-scale.json")
    );
    let r = request(
        "enrich replay quarantine/kinesis/streamops-raw/dt=2026-11-23/101530250-3b1f0c2e-demo.ndjson",
    );
    assert_eq!(r.payload, fixture("enrich/ops-replay-dry-run.json"));
    let r = request(
        "partitions prune --table streamops.enriched_events --from 2026-01-01 --to 2026-06-01",
    );
    assert_eq!(
        (r.effect, r.payload),
        (
            Effect::Planned { apply: false },
            fixture("partitions/ops-prune.json")
        )
    );
    let r = request("partitions maintain --table streamops.enriched_iceberg");
    assert_eq!(
        (r.effect, r.payload),
        (
            Effect::Planned { apply: false },
            fixture("partitions/ops-maintain.json")
        )
    );
    let all = request("partitions maintain --apply");
    assert_eq!(
        all.payload,
        json!({"command": "maintain", "dry_run": false})
    );
    let st = request("partitions maintenance-status --table streamops.enriched_iceberg");
    assert_eq!(
        (st.effect, st.payload),
        (Effect::Read, fixture("partitions/ops-status-iceberg.json"))
    );
}

#[test]
fn alerts_silences_until_resolved_and_resolved_notices_reach_the_function_as_it_reads_them() {
    let r =
        request("alerts silence --alarm streamops-flink-lag --until-resolved --created-by oncall");
    assert_eq!(
        r.payload,
        json!({"command": "create-silence", "alarm_name": "streamops-flink-lag",
               "until_resolved": true, "created_by": "oncall"})
    );
    let r = request(
        "alerts silence --alarm-prefix streamops-raw- --for 2h --no-notify-resolved --created-by oncall",
    );
    assert_eq!(r.payload["notify_resolved"], false);
    assert_eq!(r.payload["duration_minutes"], 120);
    // The function's own check: a prefix silence cannot end with "its" alert.
    let e = refused("alerts silence --alarm-prefix streamops- --until-resolved");
    assert!(e.contains("`until_resolved` silences one alert"), "{e}");
    let e = usage_error("alerts silence --alarm streamops-flink-lag");
    assert!(e.contains("required"), "{e}");
    assert_eq!(
        request("alerts inhibitions --include-ended").payload,
        json!({"command": "inhibitions", "include_ended": true})
    );
}

#[test]
fn alerts_silences_by_label_matchers_reach_the_function_as_it_reads_them() {
    let r = request(
        "alerts silence --match cluster_id=j-1 --match severity=warning --match severity=critical --for 1h --created-by oncall",
    );
    assert_eq!(
        r.payload,
        json!({"command": "create-silence", "matchers": {"cluster_id": "j-1",
               "severity": ["warning", "critical"]}, "duration_minutes": 60, "created_by": "oncall"})
    );
    // The function's own checks, before anything is sent.
    let e = refused("alerts silence --match kind=emr --for 1h");
    assert!(e.contains("matchers: kind: unknown kind"), "{e}");
    let e = refused("alerts silence --match cluster_id=j-1 --until-resolved");
    assert!(e.contains("`until_resolved` silences one alert"), "{e}");
    let e = usage_error("alerts silence --match cluster_id --for 1h");
    assert!(e.contains("is not label=value"), "{e}");
}

#[test]
fn key_values_become_the_commands_keys() {
    let r = request(
        "partitions backfill --table by_source --from 2026-11-01 --to 2026-11-02 --key source=web --key source=app --key tenant=t1",
    );
    assert_eq!(
        r.payload["keys"],
        json!({"source": ["web", "app"], "tenant": ["t1"]})
    );
    let r = request(
        "partitions status --table by_source --from 2026-11-01 --to 2026-11-02 --key source=web",
    );
    assert_eq!(r.payload["keys"], json!({"source": ["web"]}));
    let r = request("partitions prune --table by_source --from 2026-11-01 --to 2026-11-02");
    assert!(r.payload.get("keys").is_none(), "{}", r.payload);
    for bad in ["source", "=web", "source="] {
        let e = usage_error(&format!(
            "partitions status --table t --from 2026-11-01 --to 2026-11-02 --key {bad}"
        ));
        assert!(e.contains("is not NAME=VALUE"), "{bad}: {e}");
    }
}

#[test]
fn the_newer_read_only_commands_send_their_example_events() {
    let fixture = |p: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(format!("../events/{p}")).unwrap()).unwrap()
    };
    assert_eq!(
        request("alerts groups").payload,
        fixture("alerts/ops-groups.json")
    );
    assert_eq!(
        request("alerts activities").payload,
        fixture("alerts/ops-activities.json")
    );
    assert_eq!(
        request("enrich columns").payload,
        fixture("enrich/ops-columns.json")
    );
    assert_eq!(
        request("alerts explain ../events/alerts/alarm-iterator-age-alarm.json").payload,
        fixture("alerts/ops-explain.json")
    );
}

#[test]
fn savepoint_payloads_match_the_example_events() {
    let fixture = |p: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(format!("../events/{p}")).unwrap()).unwrap()
    };
    assert_eq!(
        request("checkpoints savepoint --pipeline clicks --schedule-time 2026-11-27T00:40:00Z")
            .payload,
        fixture("checkpoints/ops-savepoint-dry-run.json")
    );
    let manual = cli_argv(&[
        "checkpoints",
        "savepoint",
        "--pipeline",
        "clicks",
        "--requested-by",
        "alice before the 2.3 upgrade",
        "--apply",
    ]);
    let manual = manual.function.request().unwrap();
    assert_eq!(manual.payload, fixture("checkpoints/ops-savepoint.json"));
    assert!(manual.effect.acts(), "--apply takes it");
}
