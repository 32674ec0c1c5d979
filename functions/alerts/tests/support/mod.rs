//! In-memory fakes of the alerts ports, with scripted faults: what DynamoDB and SNS do to the
//! service, without moto. The store keeps the conditional-write contract of
//! `alerts::ports::StateStore` (versions, claims, roll-back); faults come from the shared fault
//! script (`streamops_test_support::faults`), by operation name ([`StoreOp::name`]).

#![allow(dead_code)] // each test binary uses a part

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use alerts::ports::{
    Alert, FlushQueue, FlushRequest, Group, GroupStore, Inhibitor, MutedTarget, Publisher, Silence,
    SnsMessage, StateStore, StoredState,
};
use streamops_shared::AwsCallError;
use streamops_shared::dynamo::WriteOutcome;
use streamops_test_support::faults::{lock, outcome};
use tokio::sync::Notify;

#[allow(unused_imports)] // each test binary uses part of the support
pub use streamops_test_support::faults::{Fault, Interleave, Script};

mod fixture;
mod suite;
#[allow(unused_imports)] // each test binary uses part of the support
pub use fixture::{Fixture, at, config, ctx};
#[allow(unused_imports)] // each test binary uses part of the support
pub use suite::{FakeBook, recheck_event, scaler_decision};
#[cfg(feature = "integration")]
pub mod moto_harness;
mod moto_topic;
#[allow(unused_imports)] // each test binary uses part of the support
pub use moto_topic::{named_topic_with_subscriber, queue, topic_with_subscriber};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StoreOp {
    LoadState,
    WriteState,
    ReleaseClaim,
    RollBackClaim,
    PutSilence,
    ListSilences,
    DeleteSilence,
    PutInhibitor,
    ListInhibitors,
    PutMuted,
    ListMuted,
    LoadGroup,
    WriteGroup,
    ListGroups,
    RecordActivity,
    ListActivities,
}

impl StoreOp {
    /// The operation's name in the fault script (and in the errors it injects).
    pub fn name(self) -> &'static str {
        match self {
            StoreOp::LoadState => "GetItem",
            StoreOp::WriteState => "PutItem (if version)",
            StoreOp::ReleaseClaim => "UpdateItem (release claim)",
            StoreOp::RollBackClaim => "PutItem (roll back claim)",
            StoreOp::PutSilence => "PutItem (silence)",
            StoreOp::ListSilences => "Query (silences)",
            StoreOp::DeleteSilence => "DeleteItem (silence)",
            StoreOp::PutInhibitor => "PutItem (inhibitor)",
            StoreOp::ListGroups => "Query (groups)",
            StoreOp::ListInhibitors => "Query (inhibitors)",
            StoreOp::PutMuted => "PutItem (muted)",
            StoreOp::ListMuted => "Query (muted)",
            StoreOp::LoadGroup => "GetItem (group)",
            StoreOp::WriteGroup => "PutItem (group, if version)",
            StoreOp::RecordActivity => "PutItem (if newer)",
            StoreOp::ListActivities => "Query (activities)",
        }
    }
}

/// A write held before it is judged, until the test lets it go: what a slow invocation
/// looks like to a concurrent one.
#[derive(Clone, Default)]
pub struct Gate {
    reached: Arc<Notify>,
    open: Arc<Notify>,
}

impl Gate {
    /// Waits until the held call has arrived at the gate.
    pub async fn reached(&self) {
        self.reached.notified().await;
    }

    pub fn open(&self) {
        self.open.notify_one();
    }
}

#[derive(Default)]
pub struct StoreState {
    records: HashMap<String, StoredState>,
    silences: BTreeMap<String, Silence>,
    inhibitors: BTreeMap<String, Inhibitor>,
    /// Source fingerprint to its muted targets, by target fingerprint.
    muted: BTreeMap<String, BTreeMap<String, MutedTarget>>,
    groups: HashMap<String, Group>,
    /// The suite's activities by key (see `suite.rs`).
    activities: BTreeMap<String, alerts::context::Activity>,
    gates: HashMap<StoreOp, Gate>,
}

/// The state table, in memory.
#[derive(Clone, Default)]
pub struct FakeStore {
    inner: Arc<Mutex<StoreState>>,
    pub script: Script,
    /// Another invocation's writes, run just before one of ours is judged.
    pub interleave: Interleave<StoreState>,
}

impl FakeStore {
    /// Just before our next write is judged, another invocation writes `state` for its
    /// fingerprint (the version moves on), as a concurrent writer would.
    pub fn concurrent_write_before_next_write(&self, state: StoredState) {
        self.interleave
            .before_next(StoreOp::WriteState.name(), move |s, fingerprint| {
                let mut other = state;
                other.version = s.records.get(fingerprint).map_or(0, |r| r.version) + 1;
                s.records.insert(fingerprint.to_string(), other);
            });
    }

    /// Holds the next call of `op` until the returned gate is opened.
    pub fn hold_next(&self, op: StoreOp) -> Gate {
        let gate = Gate::default();
        lock(&self.inner).gates.insert(op, gate.clone());
        gate
    }

    pub fn record(&self, fingerprint: &str) -> Option<StoredState> {
        lock(&self.inner).records.get(fingerprint).cloned()
    }

    pub fn put_record(&self, fingerprint: &str, state: StoredState) {
        lock(&self.inner)
            .records
            .insert(fingerprint.to_string(), state);
    }

    /// The stored group, with its version.
    pub fn group(&self, key: &str) -> Option<Group> {
        lock(&self.inner).groups.get(key).cloned()
    }

    /// Every silence stored, ended or not.
    pub fn silences(&self) -> Vec<Silence> {
        lock(&self.inner).silences.values().cloned().collect()
    }

    pub fn calls(&self, op: StoreOp) -> usize {
        self.script.calls(op.name())
    }

    /// Runs `apply` on the table as the script says for this call of `op` (see
    /// `faults::outcome`), after a held call's gate opens.
    async fn call<T>(
        &self,
        op: StoreOp,
        apply: impl FnOnce(&mut StoreState) -> T,
    ) -> Result<T, AwsCallError> {
        let fault = self.script.next(op.name());
        let gate = lock(&self.inner).gates.remove(&op);
        if let Some(gate) = gate {
            gate.reached.notify_one();
            gate.open.notified().await;
        }
        outcome(fault, || apply(&mut lock(&self.inner))).map_err(|f| f.aws_error(op.name()))
    }
}

fn write_if_version(
    s: &mut StoreState,
    fingerprint: &str,
    state: &StoredState,
    expected: Option<u64>,
) -> WriteOutcome {
    let current = s.records.get(fingerprint).map(|r| r.version);
    if current != expected {
        return WriteOutcome::ConditionFailed;
    }
    let mut stored = state.clone();
    stored.version = expected.map_or(1, |v| v + 1);
    s.records.insert(fingerprint.to_string(), stored);
    WriteOutcome::Written
}

fn claimed_by(s: &StoreState, fingerprint: &str, event_id: &str) -> bool {
    s.records
        .get(fingerprint)
        .and_then(|r| r.claim.as_ref())
        .is_some_and(|c| c.event_id == event_id)
}

impl StateStore for FakeStore {
    async fn load_state(&self, fingerprint: &str) -> Result<Option<StoredState>, AwsCallError> {
        self.call(StoreOp::LoadState, |s| s.records.get(fingerprint).cloned())
            .await
    }

    async fn write_state(
        &self,
        alert: &Alert,
        state: &StoredState,
        expected: Option<u64>,
        _expires_at: i64,
    ) -> Result<WriteOutcome, AwsCallError> {
        self.call(StoreOp::WriteState, |s| {
            self.interleave
                .run(StoreOp::WriteState.name(), s, &alert.fingerprint);
            write_if_version(s, &alert.fingerprint, state, expected)
        })
        .await
    }

    async fn release_claim(&self, fingerprint: &str, event_id: &str) -> Result<(), AwsCallError> {
        self.call(StoreOp::ReleaseClaim, |s| {
            if claimed_by(s, fingerprint, event_id) {
                let r = s.records.get_mut(fingerprint).expect("claimed");
                r.claim = None;
                r.version += 1;
            }
        })
        .await
    }

    async fn roll_back_claim(
        &self,
        alert: &Alert,
        previous: Option<&StoredState>,
        _expires_at: i64,
    ) -> Result<(), AwsCallError> {
        self.call(StoreOp::RollBackClaim, |s| {
            if !claimed_by(s, &alert.fingerprint, &alert.event_id) {
                return;
            }
            match previous {
                None => {
                    s.records.remove(&alert.fingerprint);
                }
                Some(prev) => {
                    let mut back = prev.clone();
                    back.version = prev.version + 2;
                    s.records.insert(alert.fingerprint.clone(), back);
                }
            }
        })
        .await
    }

    async fn put_silence(&self, silence: &Silence) -> Result<(), AwsCallError> {
        self.call(StoreOp::PutSilence, |s| {
            s.silences.insert(silence.id.clone(), silence.clone());
        })
        .await
    }

    async fn list_silences(&self) -> Result<Vec<Silence>, AwsCallError> {
        self.call(StoreOp::ListSilences, |s| {
            s.silences.values().cloned().collect()
        })
        .await
    }

    async fn delete_silence(&self, id: &str) -> Result<bool, AwsCallError> {
        self.call(StoreOp::DeleteSilence, |s| s.silences.remove(id).is_some())
            .await
    }

    async fn put_inhibitor(
        &self,
        inhibitor: &Inhibitor,
        _expires_at: i64,
    ) -> Result<(), AwsCallError> {
        self.call(StoreOp::PutInhibitor, |s| {
            s.inhibitors.insert(inhibitor.sort_key(), inhibitor.clone());
        })
        .await
    }

    async fn list_inhibitors(&self, prefix: &str) -> Result<Vec<Inhibitor>, AwsCallError> {
        self.call(StoreOp::ListInhibitors, |s| {
            s.inhibitors
                .range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(_, v)| v.clone())
                .collect()
        })
        .await
    }

    async fn put_muted(
        &self,
        source_fingerprint: &str,
        target: &MutedTarget,
        _expires_at: i64,
    ) -> Result<(), AwsCallError> {
        self.call(StoreOp::PutMuted, |s| {
            s.muted
                .entry(source_fingerprint.to_string())
                .or_default()
                .insert(target.fingerprint.clone(), target.clone());
        })
        .await
    }

    async fn list_muted(&self, source_fingerprint: &str) -> Result<Vec<MutedTarget>, AwsCallError> {
        self.call(StoreOp::ListMuted, |s| {
            s.muted
                .get(source_fingerprint)
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default()
        })
        .await
    }
}

impl GroupStore for FakeStore {
    async fn load_group(&self, key: &str) -> Result<Option<Group>, AwsCallError> {
        self.call(StoreOp::LoadGroup, |s| s.groups.get(key).cloned())
            .await
    }

    async fn write_group(
        &self,
        group: &Group,
        expected: Option<u64>,
        _expires_at: i64,
    ) -> Result<WriteOutcome, AwsCallError> {
        self.call(StoreOp::WriteGroup, |s| {
            if s.groups.get(&group.key).map(|g| g.version) != expected {
                return WriteOutcome::ConditionFailed;
            }
            let mut stored = group.clone();
            stored.version = expected.map_or(1, |v| v + 1);
            s.groups.insert(group.key.clone(), stored);
            WriteOutcome::Written
        })
        .await
    }

    async fn list_group_keys(&self) -> Result<Vec<String>, AwsCallError> {
        self.call(StoreOp::ListGroups, |s| s.groups.keys().cloned().collect())
            .await
    }
}

/// The flush queue, in memory: every message sent, in order; a test delivers them by hand
/// (as SQS would, after their delay), as often as it likes.
#[derive(Clone, Default)]
pub struct FakeQueue {
    sent: Arc<Mutex<Vec<FlushRequest>>>,
    /// The re-checks of held alerts queued, in order (see `suite.rs`).
    rechecks: Arc<Mutex<Vec<alerts::context::HeldAlert>>>,
    pub script: Script,
}

impl FakeQueue {
    pub fn sent(&self) -> Vec<FlushRequest> {
        lock(&self.sent).clone()
    }

    /// Takes every message sent so far (SQS delivering them).
    pub fn drain(&self) -> Vec<FlushRequest> {
        std::mem::take(&mut *lock(&self.sent))
    }
}

impl FlushQueue for FakeQueue {
    async fn schedule(&self, request: &FlushRequest) -> Result<(), AwsCallError> {
        self.script.call("SendMessage", || {
            lock(&self.sent).push(request.clone());
        })
    }

    async fn schedule_recheck(
        &self,
        held: &alerts::context::HeldAlert,
    ) -> Result<(), AwsCallError> {
        self.script.call("SendMessage", || {
            lock(&self.rechecks).push(held.clone());
        })
    }
}

/// The SQS event the flush queue's mapping would deliver for `request`.
pub fn flush_event(request: &FlushRequest, message_id: &str) -> serde_json::Value {
    serde_json::json!({"Records": [{
        "messageId": message_id,
        "eventSource": "aws:sqs",
        "body": alerts::queue::flush_body(request),
    }]})
}

/// The topic, in memory: what subscribers would receive.
#[derive(Clone, Default)]
pub struct FakePublisher {
    delivered: Arc<Mutex<Vec<SnsMessage>>>,
    pub script: Script,
}

impl FakePublisher {
    /// Every message the topic accepted, in order.
    pub fn delivered(&self) -> Vec<SnsMessage> {
        lock(&self.delivered).clone()
    }

    pub fn attempts(&self) -> usize {
        self.script.calls("Publish")
    }
}

impl Publisher for FakePublisher {
    async fn publish(&self, message: &SnsMessage) -> Result<String, AwsCallError> {
        self.script.call("Publish", || {
            let mut delivered = lock(&self.delivered);
            delivered.push(message.clone());
            format!("msg-{}", delivered.len())
        })
    }
}
