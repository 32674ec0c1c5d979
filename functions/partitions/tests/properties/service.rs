//! Whole SQS batches of generated keys — data keys of the deployed tables, the same spliced with
//! quotes, backticks, semicolons and newlines, junk — through the service over the in-memory
//! fakes (no faults): every message succeeds or is skipped with a reason, the statements Athena
//! receives (or the partitions Glue gets) hold only validated values, and what is registered is
//! exactly the partitions of the valid keys.

use std::collections::BTreeSet;

use partitions::KeyOutcome;
use proptest::prelude::*;
use serde_json::{Value, json};
use streamops_test_support::generate::{form_encode, nasty, text};

use crate::generate::period;
use crate::keys_sql::assert_sql_is_validated;
use crate::support::{self, BUCKET, Fakes, failures, invoke};

/// A key the deployed tables may see: a Hive or Firehose data key, spliced or not, or junk.
fn key() -> impl Strategy<Value = String> {
    let data = || {
        (period(), any::<bool>(), "[a-z0-9-]{1,10}\\.gz").prop_map(|(p, hive, name)| {
            if hive {
                format!("enriched/{}/{name}", p.format("dt=%Y-%m-%d/hour=%H"))
            } else {
                format!("firehose/{}/{name}", p.format("%Y/%m/%d/%H"))
            }
        })
    };
    prop_oneof![
        3 => data(),
        2 => (data(), any::<usize>(), prop_oneof![nasty(), text()]).prop_map(|(mut k, at, s)| {
            let n = k.chars().count();
            let at = k.char_indices().nth(at % (n + 1)).map_or(k.len(), |(i, _)| i);
            k.insert_str(at, &s);
            k
        }),
        1 => text().prop_map(|t| format!("enriched/{t}")),
    ]
}

fn record(key: &str, escape_more: &[bool]) -> Value {
    json!({"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-23T11:59:00Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": BUCKET},
               "object": {"key": form_encode(key, escape_more, false), "size": 100}}})
}

fn batch(messages: &[Vec<String>], escape_more: &[bool]) -> Value {
    json!({"Records": messages.iter().enumerate().map(|(i, keys)| json!({
        "messageId": format!("m{i}"), "eventSource": "aws:sqs", "receiptHandle": "rh",
        "body": json!({"Records": keys.iter().map(|k| record(k, escape_more)).collect::<Vec<_>>()}).to_string(),
    })).collect::<Vec<_>>()})
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        // A whole invocation per case: a quarter of the usual cases, still set by PROPTEST_CASES.
        ProptestConfig::default().cases.div_ceil(4)
    ))]

    #[test]
    fn batches_of_any_keys_register_exactly_the_valid_partitions_in_validated_sql(
        messages in prop::collection::vec(prop::collection::vec(key(), 1..4), 1..5),
        escape_more in prop::collection::vec(any::<bool>(), 0..30),
        glue in any::<bool>(),
    ) {
        let (service, fakes): (_, Fakes) = support::service(if glue { "glue" } else { "athena" });
        let answer = runtime()
            .block_on(invoke(&service, batch(&messages, &escape_more), "req-1"))
            .unwrap();
        prop_assert!(failures(&answer).is_empty(), "{}", answer);
        let mut want = BTreeSet::new();
        for key in messages.iter().flatten().filter(|k| !k.chars().any(char::is_control)) {
            if let KeyOutcome::Partition(spec) = service.config.tables.classify(BUCKET, key, Some(100)) {
                want.insert(spec.registry_key());
            }
        }
        let marks: BTreeSet<String> = fakes.registry.marks().into_keys().collect();
        prop_assert_eq!(&marks, &want);
        for sql in fakes.athena.statements() {
            assert_sql_is_validated(&sql);
        }
        for (db, table) in [("streamops", "enriched_events"), ("streamops", "firehose_events")] {
            for (values, location) in fakes.glue.partitions(db, table) {
                prop_assert!(values.iter().all(|v| v.chars().all(|c| c.is_ascii_digit() || c == '-')), "{:?}", values);
                let under = format!("s3://{BUCKET}/");
                prop_assert!(location.starts_with(&under) && !location.contains(['\'', '`', ';', '\n']), "{}", location);
            }
        }
        prop_assert_eq!(fakes.athena.statements().is_empty() && fakes.glue.batches().is_empty(), want.is_empty());
    }
}
