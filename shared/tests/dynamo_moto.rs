//! The conditional-write helpers against a real moto DynamoDB.

use aws_sdk_dynamodb::Client;
use streamops_shared::dynamo::{self, Item, WriteOutcome, get_n, get_s, n, s};
use streamops_test_support::MotoServer;

async fn table(moto: &MotoServer) -> Client {
    let sdk = moto.sdk_config().await;
    streamops_test_support::create_table(&sdk, "t", None).await;
    Client::new(&sdk)
}

fn item(pk: &str, extra: &[(&str, aws_sdk_dynamodb::types::AttributeValue)]) -> Item {
    let mut i: Item = [("pk".to_string(), s(pk))].into();
    for (k, v) in extra {
        i.insert(k.to_string(), v.clone());
    }
    i
}

fn key(pk: &str) -> Item {
    item(pk, &[])
}

#[tokio::test]
async fn put_if_absent_claims_once_and_treats_expired_items_as_absent() {
    let moto = MotoServer::start();
    let c = table(&moto).await;
    let now = 1_000_000;
    let first = dynamo::put_if_absent(
        &c,
        "t",
        "pk",
        item("a", &[("expires_at", n(now + 60)), ("owner", s("one"))]),
        now,
    )
    .await
    .unwrap();
    assert_eq!(first, WriteOutcome::Written);
    let second = dynamo::put_if_absent(
        &c,
        "t",
        "pk",
        item("a", &[("expires_at", n(now + 60)), ("owner", s("two"))]),
        now,
    )
    .await
    .unwrap();
    assert_eq!(second, WriteOutcome::ConditionFailed);
    // Past its TTL (DynamoDB has not deleted it yet): the key is free again.
    let later = dynamo::put_if_absent(
        &c,
        "t",
        "pk",
        item("a", &[("expires_at", n(now + 600)), ("owner", s("three"))]),
        now + 61,
    )
    .await
    .unwrap();
    assert_eq!(later, WriteOutcome::Written);
    let stored = dynamo::get_item(&c, "t", key("a")).await.unwrap().unwrap();
    assert_eq!(get_s(&stored, "owner"), Some("three"));
}

#[tokio::test]
async fn put_if_newer_only_moves_forward() {
    let moto = MotoServer::start();
    let c = table(&moto).await;
    let put = |v: i64| {
        dynamo::put_if_newer(
            &c,
            "t",
            "pk",
            item("ptr", &[("path", s(format!("chk-{v}")))]),
            "order",
            v,
        )
    };
    assert_eq!(put(5).await.unwrap(), WriteOutcome::Written);
    assert_eq!(
        put(3).await.unwrap(),
        WriteOutcome::ConditionFailed,
        "older"
    );
    assert_eq!(
        put(5).await.unwrap(),
        WriteOutcome::ConditionFailed,
        "redelivered"
    );
    assert_eq!(put(9).await.unwrap(), WriteOutcome::Written);
    let stored = dynamo::get_item(&c, "t", key("ptr"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(get_n::<i64>(&stored, "order"), Some(9));
    assert_eq!(get_s(&stored, "path"), Some("chk-9"));
}

#[tokio::test]
async fn put_if_version_detects_concurrent_writers_and_delete_if_equals_releases_only_own_claims() {
    let moto = MotoServer::start();
    let c = table(&moto).await;
    assert_eq!(
        dynamo::put_if_version(&c, "t", "pk", item("v", &[]), None)
            .await
            .unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(
        dynamo::put_if_version(&c, "t", "pk", item("v", &[]), None)
            .await
            .unwrap(),
        WriteOutcome::ConditionFailed
    );
    // Two writers read version 1; the first wins, the second must re-read.
    assert_eq!(
        dynamo::put_if_version(&c, "t", "pk", item("v", &[("by", s("a"))]), Some(1))
            .await
            .unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(
        dynamo::put_if_version(&c, "t", "pk", item("v", &[("by", s("b"))]), Some(1))
            .await
            .unwrap(),
        WriteOutcome::ConditionFailed
    );
    let stored = dynamo::get_item(&c, "t", key("v")).await.unwrap().unwrap();
    assert_eq!(
        (get_s(&stored, "by"), get_n::<u64>(&stored, "version")),
        (Some("a"), Some(2))
    );

    assert_eq!(
        dynamo::delete_if_equals(&c, "t", key("v"), "by", s("b"))
            .await
            .unwrap(),
        WriteOutcome::ConditionFailed
    );
    assert_eq!(
        dynamo::delete_if_equals(&c, "t", key("v"), "by", s("a"))
            .await
            .unwrap(),
        WriteOutcome::Written
    );
    assert!(dynamo::get_item(&c, "t", key("v")).await.unwrap().is_none());
}

#[tokio::test]
async fn errors_name_the_operation_and_table_and_are_classified() {
    let moto = MotoServer::start();
    let c = table(&moto).await;
    let err = dynamo::get_item(&c, "missing-table", key("x"))
        .await
        .unwrap_err();
    assert_eq!(err.operation, "GetItem");
    assert_eq!(err.resource, "table missing-table");
    assert!(!err.is_retryable(), "{err}");
    assert!(
        err.to_string()
            .starts_with("GetItem on table missing-table failed (permanent"),
        "{err}"
    );
}
