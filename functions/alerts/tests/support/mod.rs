//! In-memory fakes of the alerts ports, with scripted faults: what DynamoDB and SNS do to the
//! service, without moto. The store keeps the conditional-write contract of
//! `alerts::ports::StateStore` (versions, claims, roll-back); faults are queued per operation
//! and consumed by its next calls.

#![allow(dead_code)] // each test binary uses a part

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use alerts::ports::{Alert, Publisher, Silence, SnsMessage, StateStore, StoredState};
use streamops_shared::dynamo::WriteOutcome;
use streamops_shared::{AwsCallError, ErrorClass};
use tokio::sync::Notify;

/// What an injected fault does to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Refused before anything happened (`ThrottlingException`, retryable).
    Throttled,
    /// A 5xx: nothing happened (`InternalServerError`, retryable).
    ServerError,
    /// The call took effect on the server, but its answer was lost (a timeout, retryable).
    TimeoutAfterApplying,
}

impl Fault {
    fn error(self, operation: &'static str) -> AwsCallError {
        let (code, message) = match self {
            Fault::Throttled => (Some("ThrottlingException"), "Rate exceeded (injected)"),
            Fault::ServerError => (Some("InternalServerError"), "500 (injected)"),
            Fault::TimeoutAfterApplying => (None, "timed out waiting for the answer (injected)"),
        };
        AwsCallError {
            operation,
            resource: "fake".into(),
            class: ErrorClass::Retryable,
            code: code.map(str::to_string),
            message: message.into(),
        }
    }

    fn applies_first(self) -> bool {
        self == Fault::TimeoutAfterApplying
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StoreOp {
    LoadState,
    WriteState,
    ReleaseClaim,
    RollBackClaim,
    PutSilence,
    ListSilences,
    DeleteSilence,
}

impl StoreOp {
    fn name(self) -> &'static str {
        match self {
            StoreOp::LoadState => "GetItem",
            StoreOp::WriteState => "PutItem (if version)",
            StoreOp::ReleaseClaim => "UpdateItem (release claim)",
            StoreOp::RollBackClaim => "PutItem (roll back claim)",
            StoreOp::PutSilence => "PutItem (silence)",
            StoreOp::ListSilences => "Query (silences)",
            StoreOp::DeleteSilence => "DeleteItem (silence)",
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
struct StoreState {
    records: HashMap<String, StoredState>,
    silences: BTreeMap<String, Silence>,
    faults: HashMap<StoreOp, VecDeque<Fault>>,
    /// Records written by "another invocation" just before our next writes are judged.
    interference: VecDeque<StoredState>,
    gates: HashMap<StoreOp, Gate>,
    calls: Vec<StoreOp>,
}

/// The state table, in memory.
#[derive(Clone, Default)]
pub struct FakeStore {
    inner: Arc<Mutex<StoreState>>,
}

impl FakeStore {
    /// The next call of `op` fails with `fault` (queued after any fault already scripted).
    pub fn fail_next(&self, op: StoreOp, fault: Fault) {
        let mut s = self.inner.lock().unwrap();
        s.faults.entry(op).or_default().push_back(fault);
    }

    /// Just before our next write is judged, another invocation writes `state` for its
    /// fingerprint (the version moves on), as a concurrent writer would.
    pub fn concurrent_write_before_next_write(&self, state: StoredState) {
        self.inner.lock().unwrap().interference.push_back(state);
    }

    /// Holds the next call of `op` until the returned gate is opened.
    pub fn hold_next(&self, op: StoreOp) -> Gate {
        let gate = Gate::default();
        self.inner.lock().unwrap().gates.insert(op, gate.clone());
        gate
    }

    pub fn record(&self, fingerprint: &str) -> Option<StoredState> {
        self.inner.lock().unwrap().records.get(fingerprint).cloned()
    }

    pub fn put_record(&self, fingerprint: &str, state: StoredState) {
        let mut s = self.inner.lock().unwrap();
        s.records.insert(fingerprint.to_string(), state);
    }

    pub fn calls(&self, op: StoreOp) -> usize {
        let s = self.inner.lock().unwrap();
        s.calls.iter().filter(|c| **c == op).count()
    }

    /// Notes the call and takes its fault, if one is scripted.
    fn begin(&self, op: StoreOp) -> (Option<Fault>, Option<Gate>) {
        let mut s = self.inner.lock().unwrap();
        s.calls.push(op);
        let fault = s.faults.get_mut(&op).and_then(VecDeque::pop_front);
        (fault, s.gates.remove(&op))
    }

    /// Runs `apply` on the table unless the fault refuses the call; a fault that lets the call
    /// apply still fails it afterwards.
    async fn call<T>(
        &self,
        op: StoreOp,
        apply: impl FnOnce(&mut StoreState) -> T,
    ) -> Result<T, AwsCallError> {
        let (fault, gate) = self.begin(op);
        if let Some(gate) = gate {
            gate.reached.notify_one();
            gate.open.notified().await;
        }
        match fault {
            Some(f) if !f.applies_first() => Err(f.error(op.name())),
            fault => {
                let out = apply(&mut self.inner.lock().unwrap());
                match fault {
                    Some(f) => Err(f.error(op.name())),
                    None => Ok(out),
                }
            }
        }
    }
}

fn write_if_version(
    s: &mut StoreState,
    fingerprint: &str,
    state: &StoredState,
    expected: Option<u64>,
) -> WriteOutcome {
    if let Some(mut other) = s.interference.pop_front() {
        let version = s.records.get(fingerprint).map_or(0, |r| r.version);
        other.version = version + 1;
        s.records.insert(fingerprint.to_string(), other);
    }
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
}

#[derive(Default)]
struct PublisherState {
    delivered: Vec<SnsMessage>,
    faults: VecDeque<Fault>,
    attempts: usize,
}

/// The topic, in memory: what subscribers would receive.
#[derive(Clone, Default)]
pub struct FakePublisher {
    inner: Arc<Mutex<PublisherState>>,
}

impl FakePublisher {
    pub fn fail_next(&self, fault: Fault) {
        self.inner.lock().unwrap().faults.push_back(fault);
    }

    /// Every message the topic accepted, in order.
    pub fn delivered(&self) -> Vec<SnsMessage> {
        self.inner.lock().unwrap().delivered.clone()
    }

    pub fn attempts(&self) -> usize {
        self.inner.lock().unwrap().attempts
    }
}

impl Publisher for FakePublisher {
    async fn publish(&self, message: &SnsMessage) -> Result<String, AwsCallError> {
        let mut s = self.inner.lock().unwrap();
        s.attempts += 1;
        let fault = s.faults.pop_front();
        if let Some(f) = fault.filter(|f| !f.applies_first()) {
            return Err(f.error("Publish"));
        }
        s.delivered.push(message.clone());
        let id = format!("msg-{}", s.delivered.len());
        match fault {
            Some(f) => Err(f.error("Publish")),
            None => Ok(id),
        }
    }
}
