//! The fakes: registry, DDL runner, Glue catalog, data bucket.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use partitions::{
    ClaimOutcome, DataListing, DdlRunner, EntryResult, PartitionCatalog, PartitionSpec, PollStats,
    QueryReport, QueryResult, RegistryStore,
};
use streamops_shared::AwsCallError;
use streamops_shared::dynamo::WriteOutcome;

use super::Script;

// ------------------------------------------------------------------ registry

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkState {
    Pending,
    Registered,
}

/// One registry item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub state: MarkState,
    pub token: String,
    pub expires_at: i64,
}

impl Mark {
    pub fn pending(token: &str, expires_at: i64) -> Self {
        Self {
            state: MarkState::Pending,
            token: token.into(),
            expires_at,
        }
    }

    pub fn registered(token: &str, expires_at: i64) -> Self {
        Self {
            state: MarkState::Registered,
            token: token.into(),
            expires_at,
        }
    }
}

#[derive(Clone, Default)]
pub struct FakeRegistry {
    state: Arc<Mutex<RegistryState>>,
    pub script: Script,
    /// Its maintenance leases: see `maintenance.rs`.
    pub leases: super::FakeLeases,
}

#[derive(Default)]
struct RegistryState {
    marks: BTreeMap<String, Mark>,
    /// Concurrent writers: key → the mark they put just before our claim (or confirm) of it.
    before_claim: HashMap<String, Mark>,
    before_confirm: HashMap<String, Mark>,
}

impl FakeRegistry {
    pub fn mark(&self, key: &str) -> Option<Mark> {
        self.state.lock().unwrap().marks.get(key).cloned()
    }

    pub fn marks(&self) -> BTreeMap<String, Mark> {
        self.state.lock().unwrap().marks.clone()
    }

    pub fn put(&self, key: &str, mark: Mark) {
        self.state.lock().unwrap().marks.insert(key.into(), mark);
    }

    /// Another invocation writes `mark` for `key` just before our claim of it.
    pub fn concurrent_claim(&self, key: &str, mark: Mark) {
        self.state
            .lock()
            .unwrap()
            .before_claim
            .insert(key.into(), mark);
    }

    /// Our claim of `key` expires and another invocation takes it over just before we confirm.
    pub fn takeover_before_confirm(&self, key: &str, mark: Mark) {
        self.state
            .lock()
            .unwrap()
            .before_confirm
            .insert(key.into(), mark);
    }
}

impl RegistryStore for FakeRegistry {
    async fn claim(
        &self,
        spec: &PartitionSpec,
        token: &str,
        claim_expires_at: i64,
        now: i64,
    ) -> Result<ClaimOutcome, AwsCallError> {
        let key = spec.registry_key();
        let mut s = self.state.lock().unwrap();
        if let Some(theirs) = s.before_claim.remove(&key) {
            s.marks.insert(key.clone(), theirs);
        }
        self.script.call("PutItem (claim)", || {
            match s.marks.get(&key) {
                // As `put_if_absent`: an expired mark counts as absent.
                Some(m) if m.expires_at >= now => {
                    if m.state == MarkState::Pending {
                        ClaimOutcome::InFlight
                    } else {
                        ClaimOutcome::AlreadyRegistered
                    }
                }
                _ => {
                    s.marks
                        .insert(key.clone(), Mark::pending(token, claim_expires_at));
                    ClaimOutcome::Claimed
                }
            }
        })
    }

    async fn confirm(
        &self,
        spec: &PartitionSpec,
        token: &str,
        expires_at: i64,
        _now: i64,
    ) -> Result<(), AwsCallError> {
        let key = spec.registry_key();
        let mut s = self.state.lock().unwrap();
        if let Some(theirs) = s.before_confirm.remove(&key) {
            s.marks.insert(key.clone(), theirs);
        }
        self.script.call("UpdateItem (confirm)", || {
            if let Some(m) = s.marks.get_mut(&key).filter(|m| m.token == token) {
                *m = Mark::registered(token, expires_at);
            }
        })
    }

    async fn release(
        &self,
        spec: &PartitionSpec,
        token: &str,
    ) -> Result<WriteOutcome, AwsCallError> {
        let key = spec.registry_key();
        let mut s = self.state.lock().unwrap();
        self.script.call("DeleteItem (release)", || {
            if s.marks.get(&key).is_some_and(|m| m.token == token) {
                s.marks.remove(&key);
                WriteOutcome::Written
            } else {
                WriteOutcome::ConditionFailed
            }
        })
    }

    async fn forget(&self, spec: &PartitionSpec) -> Result<(), AwsCallError> {
        let key = spec.registry_key();
        let mut s = self.state.lock().unwrap();
        self.script.call("DeleteItem (forget)", || {
            s.marks.remove(&key);
        })
    }

    async fn record_registered(
        &self,
        specs: &[&PartitionSpec],
        token: &str,
        expires_at: i64,
        _now: i64,
    ) -> Result<(), AwsCallError> {
        let mut s = self.state.lock().unwrap();
        self.script.call("BatchWriteItem", || {
            for spec in specs {
                s.marks
                    .insert(spec.registry_key(), Mark::registered(token, expires_at));
            }
        })
    }
}

// ------------------------------------------------------------------ Athena

/// How a scripted query ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryScript {
    Succeed,
    /// FAILED: the DDL did not run.
    Fail,
    /// The DDL ran, but the query was still RUNNING at the deadline.
    TimeOutAfterRunning,
}

/// One statement as the runner received it.
#[derive(Debug, Clone)]
pub struct Executed {
    pub sql: String,
    pub database: String,
    pub idempotency: String,
}

#[derive(Clone, Default)]
pub struct FakeAthena {
    state: Arc<Mutex<AthenaState>>,
    pub script: Script,
    /// Its long (maintenance) queries: see `maintenance.rs`.
    pub maintenance: super::FakeMaintenance,
}

#[derive(Default)]
struct AthenaState {
    executed: Vec<Executed>,
    /// Query ids by client request token (a repeated token is the same query, run once).
    by_token: HashMap<String, String>,
    /// Outcomes of the next queries, in order (then success).
    outcomes: VecDeque<QueryScript>,
    /// What the DDL that ran added: location → how many statements named it.
    catalog: BTreeMap<String, usize>,
}

impl FakeAthena {
    pub fn script_queries(&self, outcomes: &[QueryScript]) {
        self.state
            .lock()
            .unwrap()
            .outcomes
            .extend(outcomes.iter().copied());
    }

    /// Every statement the runner received, oldest first.
    pub fn executed(&self) -> Vec<Executed> {
        self.state.lock().unwrap().executed.clone()
    }

    pub fn statements(&self) -> Vec<String> {
        self.executed().into_iter().map(|e| e.sql).collect()
    }

    /// Locations the DDL that ran added, with how many statements named each.
    pub fn catalog(&self) -> BTreeMap<String, usize> {
        self.state.lock().unwrap().catalog.clone()
    }
}

/// The `LOCATION '...'` literals of a statement.
pub fn locations(sql: &str) -> Vec<String> {
    sql.split("LOCATION '")
        .skip(1)
        .filter_map(|rest| rest.split_once('\'').map(|(l, _)| l.to_string()))
        .collect()
}

impl DdlRunner for FakeAthena {
    async fn run(
        &self,
        sql: &str,
        database: &str,
        idempotency: &str,
        _deadline: Instant,
    ) -> Result<QueryReport, AwsCallError> {
        let mut s = self.state.lock().unwrap();
        let token = format!("{idempotency}\n{sql}");
        let outcome = self.script.call("StartQueryExecution", || {
            if let Some(id) = s.by_token.get(&token) {
                return (id.clone(), QueryScript::Succeed, false);
            }
            let id = format!("q-{}", s.by_token.len() + 1);
            s.by_token.insert(token.clone(), id.clone());
            s.executed.push(Executed {
                sql: sql.into(),
                database: database.into(),
                idempotency: idempotency.into(),
            });
            let outcome = s.outcomes.pop_front().unwrap_or(QueryScript::Succeed);
            (id, outcome, true)
        });
        let ran_now = matches!(&outcome, Ok((_, o, true)) if *o != QueryScript::Fail)
            || matches!(&outcome, Err(e) if e.code.as_deref() == Some("RequestTimeout"));
        if ran_now {
            for l in locations(sql) {
                *s.catalog.entry(l).or_default() += 1;
            }
        }
        let (query_id, outcome, _) = outcome?;
        let result = match outcome {
            QueryScript::Succeed => QueryResult::Succeeded,
            QueryScript::Fail => QueryResult::Failed {
                state: "FAILED".into(),
                reason: "FAILED: Execution Error (injected)".into(),
                category: Some(2),
                error_type: Some(1006),
                retryable: false,
            },
            QueryScript::TimeOutAfterRunning => QueryResult::TimedOut {
                last_state: "RUNNING".into(),
            },
        };
        Ok(QueryReport {
            query_id,
            result,
            stats: PollStats::default(),
            start_retries: 0,
        })
    }
}

// ------------------------------------------------------------------ Glue

#[derive(Clone, Default)]
pub struct FakeGlue {
    state: Arc<Mutex<GlueState>>,
    pub script: Script,
}

#[derive(Default)]
struct GlueState {
    /// (database, table) → values → location.
    partitions: BTreeMap<(String, String), BTreeMap<Vec<String>, String>>,
    /// Value lists whose entry fails with this code.
    failing: HashMap<Vec<String>, String>,
    /// Partition counts of each `BatchCreatePartition` call.
    batches: Vec<usize>,
}

impl FakeGlue {
    pub fn add(&self, database: &str, table: &str, values: &[&str], location: &str) {
        self.state
            .lock()
            .unwrap()
            .partitions
            .entry((database.into(), table.into()))
            .or_default()
            .insert(
                values.iter().map(|v| v.to_string()).collect(),
                location.into(),
            );
    }

    /// The entry for `values` fails with `code` (a per-entry error, the call itself succeeds).
    pub fn fail_entry(&self, values: &[&str], code: &str) {
        self.state
            .lock()
            .unwrap()
            .failing
            .insert(values.iter().map(|v| v.to_string()).collect(), code.into());
    }

    pub fn partitions(&self, database: &str, table: &str) -> BTreeMap<Vec<String>, String> {
        self.state
            .lock()
            .unwrap()
            .partitions
            .get(&(database.to_string(), table.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    pub fn batches(&self) -> Vec<usize> {
        self.state.lock().unwrap().batches.clone()
    }
}

impl PartitionCatalog for FakeGlue {
    async fn create_partitions(
        &self,
        database: &str,
        table: &str,
        specs: &[&PartitionSpec],
        _deadline: Instant,
    ) -> Result<Vec<EntryResult>, AwsCallError> {
        let mut guard = self.state.lock().unwrap();
        let s = &mut *guard;
        self.script.call("BatchCreatePartition", || {
            s.batches.push(specs.len());
            let existing = s
                .partitions
                .entry((database.into(), table.into()))
                .or_default();
            specs
                .iter()
                .map(|p| {
                    let values = p.value_list();
                    if let Some(code) = s.failing.get(&values) {
                        EntryResult::Failed {
                            code: code.clone(),
                            message: "injected entry failure".into(),
                        }
                    } else {
                        match existing.entry(values) {
                            Entry::Occupied(_) => EntryResult::AlreadyExists,
                            Entry::Vacant(v) => {
                                v.insert(p.location.clone());
                                EntryResult::Created
                            }
                        }
                    }
                })
                .collect()
        })
    }

    async fn delete_partitions(
        &self,
        database: &str,
        table: &str,
        specs: &[&PartitionSpec],
        _deadline: Instant,
    ) -> Result<Vec<Result<(), String>>, AwsCallError> {
        let mut guard = self.state.lock().unwrap();
        let s = &mut *guard;
        self.script.call("BatchDeletePartition", || {
            let existing = s
                .partitions
                .entry((database.into(), table.into()))
                .or_default();
            specs
                .iter()
                .map(|p| {
                    let values = p.value_list();
                    match s.failing.get(&values) {
                        Some(code) => Err(format!("{code}: injected entry failure")),
                        None => {
                            existing.remove(&values);
                            Ok(())
                        }
                    }
                })
                .collect()
        })
    }

    async fn partition_values(
        &self,
        database: &str,
        table: &str,
    ) -> Result<BTreeSet<Vec<String>>, AwsCallError> {
        let s = self.state.lock().unwrap();
        self.script.call("GetPartitions", || {
            s.partitions
                .get(&(database.to_string(), table.to_string()))
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default()
        })
    }
}

// ------------------------------------------------------------------ S3

#[derive(Clone, Default)]
pub struct FakeData {
    keys: Arc<Mutex<BTreeSet<(String, String)>>>,
    /// Objects that land just before listing number N: (N, bucket, key).
    landing: Arc<Mutex<Vec<(usize, String, String)>>>,
    pub script: Script,
}

impl FakeData {
    pub fn put(&self, bucket: &str, key: &str) {
        self.keys
            .lock()
            .unwrap()
            .insert((bucket.into(), key.into()));
    }
}

impl FakeData {
    pub fn remove(&self, bucket: &str, key: &str) {
        self.keys
            .lock()
            .unwrap()
            .remove(&(bucket.to_string(), key.to_string()));
    }

    /// `key` lands in `bucket` just before the `nth` listing (counting from 1): an object
    /// arriving while a partition is being dropped.
    pub fn put_before_listing(&self, nth: usize, bucket: &str, key: &str) {
        self.landing
            .lock()
            .unwrap()
            .push((nth, bucket.into(), key.into()));
    }
}

impl DataListing for FakeData {
    async fn has_objects(&self, bucket: &str, prefix: &str) -> Result<bool, AwsCallError> {
        let mut keys = self.keys.lock().unwrap();
        let nth = self.script.calls("ListObjectsV2") + 1;
        let mut landing = self.landing.lock().unwrap();
        for (_, b, k) in landing.iter().filter(|(n, _, _)| *n == nth) {
            keys.insert((b.clone(), k.clone()));
        }
        landing.retain(|(n, _, _)| *n != nth);
        self.script.call("ListObjectsV2", || {
            keys.iter()
                .any(|(b, k)| b == bucket && k.starts_with(prefix))
        })
    }

    async fn directories(
        &self,
        bucket: &str,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>, AwsCallError> {
        let keys = self.keys.lock().unwrap();
        self.script.call("ListObjectsV2", || {
            let dirs: BTreeSet<String> = keys
                .iter()
                .filter(|(b, _)| b == bucket)
                .filter_map(|(_, k)| k.strip_prefix(prefix))
                .filter_map(|rest| rest.split_once('/').map(|(dir, _)| dir.to_string()))
                .collect();
            dirs.into_iter().take(limit + 1).collect()
        })
    }
}
