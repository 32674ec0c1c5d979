//! The ops commands, the quarantine entries and the configuration: a command parses to what
//! it says or is refused naming what is wrong; a quarantined record comes back from its NDJSON
//! line as it was delivered (bytes or undecoded text, coordinates, Kafka headers); a
//! configuration is read, or refused naming every variable that is wrong.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use enrich::config::EnrichConfig;
use enrich::input::{
    InputRecord, KafkaHeaders, Original, kafka_headers_from_json, kafka_headers_json,
};
use enrich::ops::{EnrichCommand, dry_run_records, parse_command};
use enrich::origin::{RecordOrigin, SourceKind};
use enrich::poison::{Poison, PoisonReason};
use enrich::quarantine::{QuarantineEntry, parse_ndjson, render_ndjson};
use proptest::prelude::*;
use serde_json::{Value, json};
use streamops_shared::EnvReader;

use crate::r#gen::{json_value, text};

fn headers() -> impl Strategy<Value = KafkaHeaders> {
    let name = prop_oneof!["[a-z-]{1,6}", text(6)];
    let bytes = prop_oneof![
        "[ -~]{0,8}".prop_map(|s| s.bytes().map(|b| b as i8).collect::<Vec<i8>>()),
        Just("base64:AAAA".bytes().map(|b| b as i8).collect()),
        prop::collection::vec(any::<i8>(), 0..8),
    ];
    prop::collection::vec(
        (name, bytes).prop_map(|(n, b)| HashMap::from([(n, b)])),
        0..4,
    )
}

fn record() -> impl Strategy<Value = InputRecord> {
    (
        (any::<bool>(), text(10), "[0-9]{1,3}", "[0-9]{1,20}"),
        prop::option::of(0i64..4_000_000_000_000),
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64).prop_map(Original::Bytes),
            text(20).prop_map(Original::Undecoded),
        ],
        headers(),
    )
        .prop_map(
            |((msk, stream, shard, position), arrival, original, headers)| InputRecord {
                origin: RecordOrigin {
                    source: if msk {
                        SourceKind::Msk
                    } else {
                        SourceKind::Kinesis
                    },
                    stream: stream.as_str().into(),
                    shard: shard.as_str().into(),
                    position,
                    arrival: arrival.and_then(DateTime::<Utc>::from_timestamp_millis),
                    key: None,
                    sub_sequence: None,
                },
                original,
                poison: None,
                headers,
            },
        )
}

proptest! {
    #[test]
    fn a_quarantined_record_comes_back_as_it_was_delivered(
        records in prop::collection::vec(record(), 1..5),
        message in text(30),
    ) {
        let now: DateTime<Utc> = "2026-11-23T10:11:12.345Z".parse().unwrap();
        let poison = Poison::new(PoisonReason::InvalidJson, message);
        let entries: Vec<QuarantineEntry> = records
            .iter()
            .map(|r| QuarantineEntry::new(r, &poison, "spec", now, "req-1"))
            .collect();
        let body = render_ndjson(&entries);
        let back = parse_ndjson(&body).map_err(proptest::test_runner::TestCaseError::fail)?;
        prop_assert_eq!(&back, &entries);
        for (r, e) in records.iter().zip(&back) {
            let input = e.to_input();
            prop_assert_eq!(&input.origin, &r.origin);
            prop_assert_eq!(&input.original, &r.original);
            prop_assert_eq!(&input.headers, &r.headers, "headers {:?}", e.headers);
            let undecoded = matches!(r.original, Original::Undecoded(_));
            prop_assert_eq!(input.poison.map(|p| p.reason), undecoded.then_some(PoisonReason::InvalidBase64));
        }
    }

    #[test]
    fn kafka_headers_survive_their_json(h in headers()) {
        prop_assert_eq!(kafka_headers_from_json(kafka_headers_json(&h).as_ref()), h);
    }

    #[test]
    fn a_dry_run_takes_every_record_in_order(records in prop::collection::vec(json_value(), 1..6)) {
        let cmd = parse_command(&json!({"command": "dry-run", "records": records}))
            .map_err(proptest::test_runner::TestCaseError::fail)?;
        let EnrichCommand::DryRun { records: got, event } = cmd else { panic!("{cmd:?}") };
        prop_assert!(event.is_none());
        let inputs = dry_run_records(&got, None).unwrap();
        prop_assert_eq!(inputs.len(), records.len());
        for (i, (input, r)) in inputs.iter().zip(&records).enumerate() {
            prop_assert_eq!(&input.origin.position, &i.to_string());
            let want = match r { Value::String(s) => s.clone().into_bytes(), other => other.to_string().into_bytes() };
            prop_assert_eq!(input.bytes(), &want[..]);
        }
    }

    #[test]
    fn a_replay_command_reads_back_its_arguments(
        key in text(30), bucket in prop::option::of("[a-z0-9.-]{3,20}"), dry_run in any::<bool>(),
    ) {
        let mut v = json!({"command": "replay", "key": key, "dry_run": dry_run});
        if let Some(b) = &bucket {
            v["bucket"] = json!(b);
        }
        match parse_command(&v) {
            Ok(EnrichCommand::Replay { bucket: b, key: k, dry_run: d }) => {
                prop_assert_eq!((b, k, d), (bucket, key, dry_run));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_bad_command_is_refused_naming_what_is_wrong(
        name in text(12), extra in "[a-z_]{1,8}", value in json_value(),
    ) {
        if name != "dry-run" && name != "replay" {
            let e = parse_command(&json!({"command": name})).unwrap_err();
            prop_assert!(e.contains("unknown command") && e.contains("dry-run, replay"), "{e}");
        }
        if !["records", "event"].contains(&extra.as_str()) {
            let e = parse_command(&json!({"command": "dry-run", "records": [], (extra.clone()): value})).unwrap_err();
            prop_assert!(e.contains(&format!("unknown field `{extra}`")), "{e}");
        }
        let e = parse_command(&json!({"command": 7})).unwrap_err();
        prop_assert!(e.contains("must be a string"), "{e}");
    }
}

/// A variable's value: unset, good, or bad (and then the error must name it).
#[derive(Debug, Clone)]
enum Var {
    Unset,
    Good(&'static str),
    Bad(&'static str),
}

fn var(good: &'static [&'static str], bad: &'static [&'static str]) -> impl Strategy<Value = Var> {
    let bad = if bad.is_empty() { good } else { bad };
    let bad_weight = if std::ptr::eq(bad, good) { 0 } else { 1 };
    prop_oneof![
        1 => Just(Var::Unset),
        3 => prop::sample::select(good).prop_map(Var::Good),
        bad_weight => prop::sample::select(bad).prop_map(Var::Bad),
    ]
}

fn environment() -> impl Strategy<Value = Vec<(&'static str, Var, bool)>> {
    // (variable, value, whether unset is a problem)
    (
        (
            var(&["enriched"], &[]),
            var(&["q"], &[]),
            var(&["ledger"], &[]),
        ),
        (
            var(&["quarantine/", "x/y/"], &["no-slash"]),
            var(&["1", "8", " 30 "], &["0", "-1", "a week"]),
        ),
        (
            var(&["300", "0"], &["5m", "-3"]),
            var(&["partial", "fail-batch"], &["sometimes", "PARTIAL"]),
        ),
        (
            var(&["3000"], &["soon"]),
            var(&["true", "false"], &["maybe"]),
        ),
        (
            var(&["ref"], &[]),
            var(&["arn:aws:secretsmanager:us-east-1:1:secret:k"], &[]),
        ),
    )
        .prop_map(|((a, b, c), (d, e), (f, g), (h, i), (j, k))| {
            vec![
                ("ENRICH_OUTPUT_STREAM", a, true),
                ("ENRICH_QUARANTINE_BUCKET", b, true),
                ("ENRICH_LEDGER_TABLE", c, true),
                ("ENRICH_QUARANTINE_PREFIX", d, false),
                ("ENRICH_LEDGER_TTL_DAYS", e, false),
                ("ENRICH_REFERENCE_CACHE_SECONDS", f, false),
                ("ENRICH_MSK_FAILURE_MODE", g, false),
                ("ENRICH_DEADLINE_MARGIN_MS", h, false),
                ("S3_FORCE_PATH_STYLE", i, false),
                // The shipped spec joins reference data and has hmac rules: both are needed.
                ("ENRICH_REFERENCE_TABLE", j, true),
                ("ENRICH_PII_KEY_SECRET_ARN", k, true),
            ]
        })
}

proptest! {
    #[test]
    fn a_configuration_is_read_or_every_wrong_variable_is_named(env in environment()) {
        let map: HashMap<String, String> = env
            .iter()
            .filter_map(|(k, v, _)| match v {
                Var::Unset => None,
                Var::Good(s) | Var::Bad(s) => Some((k.to_string(), s.to_string())),
            })
            .collect();
        let wrong: Vec<&str> = env
            .iter()
            .filter(|(_, v, needed)| matches!(v, Var::Bad(_)) || (matches!(v, Var::Unset) && *needed))
            .map(|(k, _, _)| *k)
            .collect();
        match EnrichConfig::read(EnvReader::from_map(map), |_| Err("no files".into())) {
            Ok(_) => prop_assert!(wrong.is_empty(), "accepted with {wrong:?} wrong"),
            Err(e) => {
                let text = e.to_string();
                prop_assert!(!wrong.is_empty(), "refused: {text}");
                for w in wrong {
                    prop_assert!(text.contains(w), "{w} not named in {text}");
                }
            }
        }
    }
}
