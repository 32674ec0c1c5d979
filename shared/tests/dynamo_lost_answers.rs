//! The conditional-write helpers when DynamoDB applied a write but its answer was lost: the
//! SDK retries the same request, which now fails its own condition. The helpers must report
//! the write as ours (Written), not as a concurrent writer's (ConditionFailed), or a claim
//! that landed is abandoned and the work it guarded is never done. Real SDK, real retries,
//! moto behind the fault proxy (tests/support/fault_proxy.py).

use aws_sdk_dynamodb::Client;
use serde_json::json;
use streamops_shared::dynamo::{self, Item, WriteOutcome, get_s, n, s};
use streamops_test_support::{MotoServer, fault_proxy::FaultProxy, sdk_config_for};

async fn through_proxy(moto: &MotoServer, proxy: &FaultProxy) -> (Client, Client) {
    let direct = moto.sdk_config().await;
    streamops_test_support::create_table(&direct, "t", None).await;
    (
        Client::new(&sdk_config_for(&proxy.endpoint()).await),
        Client::new(&direct),
    )
}

fn item(pk: &str, owner: &str) -> Item {
    [
        ("pk".to_string(), s(pk)),
        ("owner".to_string(), s(owner)),
        ("expires_at".to_string(), n(2_000_000)),
    ]
    .into()
}

fn lose_next_put(proxy: &FaultProxy) {
    proxy.set_rules(
        json!([{"service": "dynamodb", "operation": "PutItem", "fault": "lost", "times": 1}]),
    );
}

async fn owner(c: &Client, pk: &str) -> Option<String> {
    dynamo::get_item(c, "t", [("pk".to_string(), s(pk))].into())
        .await
        .unwrap()
        .and_then(|i| get_s(&i, "owner").map(str::to_string))
}

#[tokio::test]
async fn each_conditional_put_whose_answer_was_lost_is_still_ours() {
    let moto = MotoServer::start();
    let proxy = FaultProxy::start(&moto);
    let (c, direct) = through_proxy(&moto, &proxy).await;

    lose_next_put(&proxy);
    let absent = dynamo::put_if_absent(&c, "t", "pk", item("a", "one"), 1_000_000)
        .await
        .unwrap();
    assert_eq!(absent, WriteOutcome::Written, "put_if_absent");

    lose_next_put(&proxy);
    let newer = dynamo::put_if_newer(&c, "t", "pk", item("b", "one"), "order", 5)
        .await
        .unwrap();
    assert_eq!(newer, WriteOutcome::Written, "put_if_newer");

    lose_next_put(&proxy);
    let first = dynamo::put_if_version(&c, "t", "pk", item("c", "one"), None)
        .await
        .unwrap();
    assert_eq!(first, WriteOutcome::Written, "put_if_version (new item)");
    lose_next_put(&proxy);
    let next = dynamo::put_if_version(&c, "t", "pk", item("c", "two"), Some(1))
        .await
        .unwrap();
    assert_eq!(next, WriteOutcome::Written, "put_if_version (next version)");

    assert_eq!(
        proxy.injected(Some("dynamodb")),
        4,
        "every answer was lost once"
    );
    assert_eq!(owner(&direct, "c").await.as_deref(), Some("two"));
}

#[tokio::test]
async fn a_real_concurrent_writer_still_wins_after_a_lost_answer() {
    let moto = MotoServer::start();
    let proxy = FaultProxy::start(&moto);
    let (c, direct) = through_proxy(&moto, &proxy).await;
    // Someone else holds the key; our write (answer lost or not) must not count as written.
    dynamo::put_if_absent(&direct, "t", "pk", item("a", "other"), 1_000_000)
        .await
        .unwrap();
    lose_next_put(&proxy);
    let ours = dynamo::put_if_absent(&c, "t", "pk", item("a", "one"), 1_000_000)
        .await
        .unwrap();
    assert_eq!(ours, WriteOutcome::ConditionFailed);
    // Identical contents from another writer are still another writer's claim.
    let same = dynamo::put_if_absent(&c, "t", "pk", item("a", "other"), 1_000_000)
        .await
        .unwrap();
    assert_eq!(same, WriteOutcome::ConditionFailed);
    assert_eq!(owner(&direct, "a").await.as_deref(), Some("other"));
}
