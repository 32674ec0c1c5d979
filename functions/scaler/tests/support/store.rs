//! Fakes of the scaler's state store and of the checkpoints book it registers resubmitted jobs in.

use super::*;
use streamops_test_support::faults::outcome;

// ---------------------------------------------------------------- the state store

#[derive(Default)]
pub struct StoreData {
    /// Claim key -> expiry (epoch seconds).
    pub claims: HashMap<String, i64>,
    /// Target -> (owner, expiry).
    pub leases: HashMap<String, (String, DateTime<Utc>)>,
    pub states: HashMap<String, TargetState>,
    /// (target, audit key) -> entry: a write to the same key replaces, as in DynamoDB.
    pub audit: BTreeMap<(String, String), AuditEntry>,
    /// Every call, in order (`put_state raw-stream`, `release raw-stream`, ...).
    pub calls: Vec<String>,
}

impl StoreData {
    /// Another invocation writes the target's state (its version moves on).
    pub fn concurrent_write(&mut self, target: &str) {
        let st = self.states.entry(target.to_string()).or_default();
        st.version = Some(st.version.map_or(1, |v| v + 1));
    }
}

#[derive(Clone, Default)]
pub struct FakeStore {
    pub data: Arc<Mutex<StoreData>>,
    pub script: Script,
    /// Another invocation acting just before one of our calls.
    pub interleave: Interleave<StoreData>,
}

impl FakeStore {
    pub fn data(&self) -> MutexGuard<'_, StoreData> {
        lock(&self.data)
    }

    /// Runs `hook` on the store just before the next call of `op`.
    pub fn before(&self, op: &'static str, hook: impl FnOnce(&mut StoreData) + Send + 'static) {
        self.interleave.before_next(op, move |d, _target| hook(d));
    }

    fn enter(&self, op: &str, target: &str) {
        let mut d = self.data();
        self.interleave.run(op, &mut d, target);
        d.calls.push(format!("{op} {target}"));
    }

    /// The target's trail, oldest first.
    pub fn trail(&self, target: &str) -> Vec<AuditEntry> {
        self.data()
            .audit
            .iter()
            .filter(|((t, _), _)| t == target)
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// The target's trail as `decision`/`reason` words, oldest first.
    pub fn trail_words(&self, target: &str) -> Vec<String> {
        self.trail(target)
            .iter()
            .map(|e| words(&e.to_json()))
            .collect()
    }

    pub fn state_of(&self, target: &str) -> TargetState {
        self.data().states.get(target).cloned().unwrap_or_default()
    }

    pub fn set_state(&self, target: &str, edit: impl FnOnce(&mut TargetState)) {
        let mut d = self.data();
        let st = d.states.entry(target.to_string()).or_default();
        edit(st);
        st.version = Some(st.version.map_or(1, |v| v + 1));
    }

    pub fn count(&self, call: &str) -> usize {
        self.data().calls.iter().filter(|c| *c == call).count()
    }
}

/// `act`, `skip cooldown`, `failed`, `rescaled`...: what an entry says, in a word or two.
pub fn words(entry: &Value) -> String {
    let decision = entry["decision"].as_str().unwrap_or("?");
    match entry["reason"].as_str() {
        Some(reason) if decision == "skip" || decision == "defer" => format!("{decision} {reason}"),
        _ => decision.to_string(),
    }
}

impl StateStore for FakeStore {
    async fn claim(
        &self,
        alarm: &str,
        state_time: &str,
        target: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, AwsCallError> {
        self.enter("claim", target);
        let key = format!("{alarm}#{state_time}#{target}");
        let expires = (now + Duration::days(7)).timestamp();
        let data = self.data.clone();
        let fault = self.script.next("claim");
        // A lost response on a conditional write: the SDK's retry finds the item written.
        if fault == Some(Fault::LostResponse) {
            lock(&data).claims.insert(key, expires);
            return Ok(false);
        }
        outcome(fault, || {
            let mut d = lock(&data);
            match d.claims.get(&key) {
                Some(exp) if *exp >= now.timestamp() => false,
                _ => {
                    d.claims.insert(key, expires);
                    true
                }
            }
        })
        .map_err(|f| f.aws_error(operation("claim")))
    }

    async fn unclaim(
        &self,
        alarm: &str,
        state_time: &str,
        target: &str,
    ) -> Result<(), AwsCallError> {
        self.enter("unclaim", target);
        let data = self.data.clone();
        let key = format!("{alarm}#{state_time}#{target}");
        with_fault(&self.script, "unclaim", || {
            lock(&data).claims.remove(&key);
        })
    }

    async fn lease(
        &self,
        target: &str,
        owner: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Result<(), String>, AwsCallError> {
        self.enter("lease", target);
        let data = self.data.clone();
        with_fault(&self.script, "lease", || {
            let mut d = lock(&data);
            match d.leases.get(target) {
                Some((holder, exp)) if exp.timestamp() >= now.timestamp() => {
                    Err(format!("{holder} until {}", exp.to_rfc3339()))
                }
                _ => {
                    d.leases
                        .insert(target.to_string(), (owner.to_string(), until));
                    Ok(())
                }
            }
        })
    }

    async fn release(&self, target: &str, owner: &str) -> Result<(), AwsCallError> {
        self.enter("release", target);
        let data = self.data.clone();
        with_fault(&self.script, "release", || {
            let mut d = lock(&data);
            if d.leases.get(target).is_some_and(|(o, _)| o == owner) {
                d.leases.remove(target);
            }
        })
    }

    async fn state(&self, target: &str) -> Result<TargetState, AwsCallError> {
        self.enter("state", target);
        let data = self.data.clone();
        with_fault(&self.script, "state", || {
            lock(&data).states.get(target).cloned().unwrap_or_default()
        })
    }

    async fn put_state(
        &self,
        target: &str,
        state: &TargetState,
        now: DateTime<Utc>,
    ) -> Result<bool, AwsCallError> {
        self.enter("put_state", target);
        let data = self.data.clone();
        with_fault(&self.script, "put_state", || {
            let mut d = lock(&data);
            let stored = d.states.get(target).and_then(|s| s.version);
            if stored != state.version {
                return false;
            }
            let mut new = state.clone();
            new.kinesis_calls.retain(|t| now - *t < Duration::hours(24));
            new.version = Some(state.version.map_or(1, |v| v + 1));
            d.states.insert(target.to_string(), new);
            true
        })
    }

    async fn audit(
        &self,
        target: &str,
        entry: &AuditEntry,
        now: DateTime<Utc>,
        seq: usize,
    ) -> Result<(), AwsCallError> {
        self.enter("audit", target);
        let data = self.data.clone();
        with_fault(&self.script, "audit", || {
            lock(&data)
                .audit
                .insert((target.to_string(), audit_key(now, seq)), entry.clone());
        })
    }

    async fn recent_audit(&self, target: &str, limit: i32) -> Result<Vec<Value>, AwsCallError> {
        self.enter("recent_audit", target);
        let data = self.data.clone();
        with_fault(&self.script, "recent_audit", || {
            let d = lock(&data);
            d.audit
                .iter()
                .rev()
                .filter(|((t, _), _)| t == target)
                .take(limit.max(0) as usize)
                .map(|(_, e)| e.to_json())
                .collect()
        })
    }
}

// ---------------------------------------------------------------- the checkpoints book

/// A registration: (pipeline, job, restored from, restore mode).
pub type Registration = (String, String, String, String);

#[derive(Clone, Default)]
pub struct FakeBook {
    pub jobs: Arc<Mutex<Vec<Registration>>>,
    pub script: Script,
}

impl CheckpointsBook for FakeBook {
    async fn register_job(
        &self,
        pipeline: &str,
        job_id: &str,
        restored_from: &str,
        restore_mode: &str,
        _now: DateTime<Utc>,
    ) -> Result<(), AwsCallError> {
        let jobs = self.jobs.clone();
        with_fault(&self.script, "register_job", || {
            lock(&jobs).push((
                pipeline.into(),
                job_id.into(),
                restored_from.into(),
                restore_mode.into(),
            ))
        })
    }
}
