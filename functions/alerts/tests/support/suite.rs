//! Fakes of what suite awareness reads: the activities in the state table, the re-checks on
//! the queue, and the checkpoints book.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use alerts::context::RestorePoint;
use alerts::context::{Activity, HeldAlert};
use alerts::ports::{ActivityStore, RestorePoints};
use streamops_shared::AwsCallError;
use streamops_test_support::faults::{Script, lock};

use super::{FakeQueue, FakeStore, StoreOp};

impl ActivityStore for FakeStore {
    async fn record_activity(&self, activity: &Activity) -> Result<(), AwsCallError> {
        self.call(StoreOp::RecordActivity, |s| {
            let later = s
                .activities
                .get(&activity.key)
                .is_some_and(|a| a.since >= activity.since);
            if !later {
                s.activities.insert(activity.key.clone(), activity.clone());
            }
        })
        .await
    }

    async fn list_activities(&self) -> Result<Vec<Activity>, AwsCallError> {
        self.call(StoreOp::ListActivities, |s| {
            s.activities.values().cloned().collect()
        })
        .await
    }
}

impl FakeStore {
    /// The activities stored (not the end markers), by key.
    pub fn activities(&self) -> Vec<Activity> {
        let s = lock(&self.inner);
        s.activities
            .values()
            .filter(|a| !a.ended)
            .cloned()
            .collect()
    }
}

impl FakeQueue {
    /// Takes every re-check queued so far (SQS delivering them).
    pub fn drain_rechecks(&self) -> Vec<HeldAlert> {
        std::mem::take(&mut *lock(&self.rechecks))
    }
}

/// The scaler's "scaled" decision of `events/alerts/scaler-decision-scaled.json` (raw-stream
/// 2 -> 4 on stream `streamops-raw`, settling by 2026-11-23T10:05), with `outcome`, its id
/// (event and decision) and its time set.
pub fn scaler_decision(outcome: &str, id: &str, time: &str) -> serde_json::Value {
    let mut e = streamops_test_support::fixture("alerts/scaler-decision-scaled.json");
    e["id"] = serde_json::json!(id);
    e["detail"]["decision_id"] = serde_json::json!(id);
    e["detail"]["outcome"] = serde_json::json!(outcome);
    e["detail"]["at"] = serde_json::json!(time);
    e
}

/// The SQS event the queue's mapping would deliver for a re-check.
pub fn recheck_event(held: &HeldAlert, message_id: &str) -> serde_json::Value {
    serde_json::json!({"Records": [{
        "messageId": message_id,
        "eventSource": "aws:sqs",
        "body": alerts::queue::recheck_body(held),
    }]})
}

/// The checkpoints book: each pipeline's latest point, as a test sets it.
#[derive(Clone, Default)]
pub struct FakeBook {
    latest: Arc<Mutex<HashMap<String, RestorePoint>>>,
    pub script: Script,
}

impl FakeBook {
    pub fn set_latest(&self, pipeline: &str, point: RestorePoint) {
        lock(&self.latest).insert(pipeline.to_string(), point);
    }
}

impl RestorePoints for FakeBook {
    async fn latest_point(&self, pipeline: &str) -> Result<Option<RestorePoint>, AwsCallError> {
        self.script.call("GetItem (book)", || {
            lock(&self.latest).get(pipeline).cloned()
        })
    }
}
