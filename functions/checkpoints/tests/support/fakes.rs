//! The fakes: the book, the checkpoint bucket, Flink's REST API, the health event bus.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use checkpoints::{
    BookStore, CheckpointObjects, CheckpointRecord, FlinkRest, HEADER_BYTES, HealthEvent,
    HealthNotifier, JobLineage, LatestPointer, ListedObject, PointId, PointStatus, SavepointClaim,
    SavepointEvent, SavepointTrigger, Scope, is_protected,
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use streamops_shared::AwsCallError;
use streamops_shared::dynamo::WriteOutcome;

use super::{BUCKET, Script};

// ------------------------------------------------------------------ the book

/// What a concurrent writer does to a point just before a prune marks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interference {
    Pin,
    Status(PointStatus),
}

#[derive(Clone, Default)]
pub struct FakeBook {
    state: Arc<Mutex<BookState>>,
    pub script: Script,
}

#[derive(Default)]
struct BookState {
    points: BTreeMap<PointId, CheckpointRecord>,
    latest: HashMap<Scope, (i64, LatestPointer)>,
    lineage: BTreeMap<String, BTreeMap<String, JobLineage>>,
    owners: HashMap<String, String>,
    prefixes: BTreeMap<String, BTreeSet<String>>,
    before_mark: HashMap<String, Interference>,
    claims: BTreeMap<(String, String), SavepointClaim>,
    triggers: HashMap<String, SavepointTrigger>,
}

impl FakeBook {
    pub fn points(&self) -> Vec<CheckpointRecord> {
        self.state
            .lock()
            .unwrap()
            .points
            .values()
            .cloned()
            .collect()
    }

    /// The point whose location is `location`.
    pub fn at(&self, location: &str) -> Option<CheckpointRecord> {
        self.points().into_iter().find(|p| p.location == location)
    }

    pub fn latest_of(&self, scope: &Scope) -> Option<String> {
        self.state
            .lock()
            .unwrap()
            .latest
            .get(scope)
            .map(|(_, p)| p.location.clone())
    }

    pub fn claims(&self) -> Vec<SavepointClaim> {
        self.state
            .lock()
            .unwrap()
            .claims
            .values()
            .cloned()
            .collect()
    }

    /// Just before a prune marks the point at `location`, somebody else changes it.
    pub fn interfere_before_mark(&self, location: &str, what: Interference) {
        self.state
            .lock()
            .unwrap()
            .before_mark
            .insert(location.into(), what);
    }
}

fn prefix6(job: &str) -> String {
    job.chars().take(6).collect()
}

impl BookStore for FakeBook {
    async fn record(&self, r: &CheckpointRecord) -> Result<WriteOutcome, AwsCallError> {
        let mut s = self.state.lock().unwrap();
        self.script
            .call("PutItem (record)", || match s.points.entry(r.id()) {
                Entry::Occupied(_) => WriteOutcome::ConditionFailed,
                Entry::Vacant(v) => {
                    v.insert(r.clone());
                    WriteOutcome::Written
                }
            })
    }

    async fn advance_latest(
        &self,
        of: &Scope,
        r: &CheckpointRecord,
    ) -> Result<WriteOutcome, AwsCallError> {
        let mut s = self.state.lock().unwrap();
        self.script.call("PutItem (latest)", || {
            if s.latest.get(of).is_some_and(|(o, _)| *o >= r.order()) {
                return WriteOutcome::ConditionFailed;
            }
            let pointer = LatestPointer {
                location: r.location.clone(),
                point: r.id(),
            };
            s.latest.insert(of.clone(), (r.order(), pointer));
            WriteOutcome::Written
        })
    }

    async fn latest(&self, of: &Scope) -> Result<Option<LatestPointer>, AwsCallError> {
        let s = self.state.lock().unwrap();
        self.script.call("GetItem (latest)", || {
            s.latest.get(of).map(|(_, p)| p.clone())
        })
    }

    async fn point(&self, id: &PointId) -> Result<Option<CheckpointRecord>, AwsCallError> {
        let s = self.state.lock().unwrap();
        self.script
            .call("GetItem (point)", || s.points.get(id).cloned())
    }

    async fn points(&self, job: &str) -> Result<Vec<CheckpointRecord>, AwsCallError> {
        let s = self.state.lock().unwrap();
        self.script.call("Query (points)", || {
            s.points
                .values()
                .filter(|p| p.job_id == job)
                .cloned()
                .collect()
        })
    }

    async fn set_status(
        &self,
        id: &PointId,
        from: PointStatus,
        to: PointStatus,
    ) -> Result<bool, AwsCallError> {
        let mut s = self.state.lock().unwrap();
        self.script.call("UpdateItem (status)", || {
            match s.points.get_mut(id).filter(|p| p.status == from) {
                Some(p) => {
                    p.status = to;
                    true
                }
                None => false,
            }
        })
    }

    async fn mark_pruning(&self, id: &PointId, from: PointStatus) -> Result<bool, AwsCallError> {
        let mut guard = self.state.lock().unwrap();
        let s = &mut *guard;
        if let Some(p) = s.points.get_mut(id)
            && let Some(what) = s.before_mark.remove(&p.location)
        {
            match what {
                Interference::Pin => p.pinned = true,
                Interference::Status(st) => p.status = st,
            }
        }
        self.script.call("UpdateItem (prune)", || {
            match s
                .points
                .get_mut(id)
                .filter(|p| p.status == from && !p.pinned)
            {
                Some(p) => {
                    p.status = PointStatus::Pruning;
                    true
                }
                None => false,
            }
        })
    }

    async fn forget(&self, id: &PointId) -> Result<(), AwsCallError> {
        let mut s = self.state.lock().unwrap();
        self.script.call("DeleteItem (forget)", || {
            s.points.remove(id);
        })
    }

    async fn set_pinned(&self, id: &PointId, pinned: bool) -> Result<bool, AwsCallError> {
        let mut s = self.state.lock().unwrap();
        self.script
            .call("UpdateItem (pin)", || match s.points.get_mut(id) {
                Some(p) => {
                    p.pinned = pinned;
                    true
                }
                None => false,
            })
    }

    async fn register_job(&self, j: &JobLineage) -> Result<(), AwsCallError> {
        let mut s = self.state.lock().unwrap();
        self.script.call("PutItem (lineage)", || {
            s.lineage
                .entry(j.pipeline.clone())
                .or_default()
                .insert(j.job_id.clone(), j.clone());
            s.owners.insert(j.job_id.clone(), j.pipeline.clone());
            s.prefixes
                .entry(prefix6(&j.job_id))
                .or_default()
                .insert(j.job_id.clone());
        })
    }

    async fn index_job(&self, job: &str) -> Result<(), AwsCallError> {
        let mut s = self.state.lock().unwrap();
        self.script.call("PutItem (job index)", || {
            s.prefixes
                .entry(prefix6(job))
                .or_default()
                .insert(job.to_string());
        })
    }

    async fn jobs_with_prefix(&self, prefix: &str) -> Result<Vec<String>, AwsCallError> {
        let s = self.state.lock().unwrap();
        self.script.call("Query (job prefix)", || {
            s.prefixes
                .get(prefix)
                .map(|j| j.iter().cloned().collect())
                .unwrap_or_default()
        })
    }

    async fn pipeline_of(&self, job: &str) -> Result<Option<String>, AwsCallError> {
        let s = self.state.lock().unwrap();
        self.script
            .call("GetItem (pipeline)", || s.owners.get(job).cloned())
    }

    async fn lineage(&self, pipeline: &str) -> Result<Vec<JobLineage>, AwsCallError> {
        let s = self.state.lock().unwrap();
        self.script.call("Query (lineage)", || {
            s.lineage
                .get(pipeline)
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default()
        })
    }

    async fn claim_savepoint(&self, c: &SavepointClaim) -> Result<WriteOutcome, AwsCallError> {
        let mut s = self.state.lock().unwrap();
        let key = (c.pipeline.clone(), c.slot.clone());
        self.script
            .call("PutItem (savepoint claim)", || match s.claims.entry(key) {
                Entry::Occupied(_) => WriteOutcome::ConditionFailed,
                Entry::Vacant(v) => {
                    v.insert(c.clone());
                    WriteOutcome::Written
                }
            })
    }

    async fn savepoint_claim(
        &self,
        pipeline: &str,
        slot: &str,
    ) -> Result<Option<SavepointClaim>, AwsCallError> {
        let s = self.state.lock().unwrap();
        let key = (pipeline.to_string(), slot.to_string());
        self.script
            .call("GetItem (savepoint claim)", || s.claims.get(&key).cloned())
    }

    async fn update_claim(&self, c: &SavepointClaim) -> Result<(), AwsCallError> {
        let mut s = self.state.lock().unwrap();
        let key = (c.pipeline.clone(), c.slot.clone());
        self.script.call("PutItem (savepoint claim state)", || {
            s.claims.insert(key, c.clone());
        })
    }

    async fn note_trigger(&self, dir: &str, t: &SavepointTrigger) -> Result<(), AwsCallError> {
        let mut s = self.state.lock().unwrap();
        self.script.call("PutItem (trigger)", || {
            s.triggers.insert(dir.to_string(), t.clone());
        })
    }

    async fn trigger_of(&self, dir: &str) -> Result<Option<SavepointTrigger>, AwsCallError> {
        let s = self.state.lock().unwrap();
        self.script
            .call("GetItem (trigger)", || s.triggers.get(dir).cloned())
    }

    async fn set_trigger(&self, id: &PointId, t: &SavepointTrigger) -> Result<bool, AwsCallError> {
        let mut s = self.state.lock().unwrap();
        self.script
            .call("UpdateItem (trigger)", || match s.points.get_mut(id) {
                Some(p) => {
                    p.trigger = Some(t.clone());
                    true
                }
                None => false,
            })
    }

    /// As the pipelines index lists them: every pipeline with a lineage or a latest pointer.
    async fn pipelines(&self) -> Result<Vec<String>, AwsCallError> {
        let s = self.state.lock().unwrap();
        self.script.call("Query (pipelines index)", || {
            let pointers = s.latest.keys().filter_map(|k| match k {
                Scope::Pipeline(p) => Some(p.clone()),
                Scope::Job(_) => None,
            });
            let names: BTreeSet<String> = s.lineage.keys().cloned().chain(pointers).collect();
            names.into_iter().collect()
        })
    }
}

// ------------------------------------------------------------------ the bucket

#[derive(Clone, Default)]
pub struct FakeBucket {
    state: Arc<Mutex<BucketState>>,
    pub script: Script,
}

#[derive(Default)]
struct BucketState {
    objects: BTreeMap<String, (Vec<u8>, DateTime<Utc>)>,
    deleted: Vec<String>,
}

impl FakeBucket {
    pub fn put(&self, key: &str, body: Vec<u8>, at: DateTime<Utc>) -> i64 {
        let len = body.len() as i64;
        self.state
            .lock()
            .unwrap()
            .objects
            .insert(key.into(), (body, at));
        len
    }

    /// An object deleted by someone else (Flink discarding a subsumed checkpoint).
    pub fn remove(&self, key: &str) {
        self.state.lock().unwrap().objects.remove(key);
    }

    pub fn keys(&self) -> Vec<String> {
        self.state.lock().unwrap().objects.keys().cloned().collect()
    }

    pub fn deleted(&self) -> Vec<String> {
        self.state.lock().unwrap().deleted.clone()
    }
}

impl CheckpointObjects for FakeBucket {
    fn name(&self) -> &str {
        BUCKET
    }

    async fn head_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, AwsCallError> {
        let s = self.state.lock().unwrap();
        self.script.call("GetObject", || {
            s.objects.get(key).map(|(b, _)| {
                let mut b = b.clone();
                b.truncate(HEADER_BYTES);
                b
            })
        })
    }

    async fn list_objects(&self, prefix: &str) -> Result<Vec<ListedObject>, AwsCallError> {
        let s = self.state.lock().unwrap();
        self.script.call("ListObjectsV2", || {
            s.objects
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(k, (b, at))| ListedObject {
                    key: k.clone(),
                    size: b.len() as i64,
                    etag: Some(format!("etag-{}", b.len())),
                    last_modified: *at,
                })
                .collect()
        })
    }

    async fn delete_dir(&self, dir: &str) -> Result<usize, AwsCallError> {
        assert!(
            dir.ends_with('/') && !is_protected(dir),
            "refusing to delete {dir:?}"
        );
        let mut guard = self.state.lock().unwrap();
        let s = &mut *guard;
        self.script.call("DeleteObjects", || {
            let keys: Vec<String> = s
                .objects
                .keys()
                .filter(|k| k.starts_with(dir) && !is_protected(k))
                .cloned()
                .collect();
            for k in &keys {
                s.objects.remove(k);
                s.deleted.push(k.clone());
            }
            keys.len()
        })
    }
}

// ------------------------------------------------------------------ Flink

#[derive(Clone)]
pub struct FakeFlink {
    answer: Arc<Mutex<Result<Value, String>>>,
    config: Arc<Mutex<Result<Value, String>>>,
    /// (endpoint, job) of every `/checkpoints` request.
    pub asked: Arc<Mutex<Vec<(String, String)>>>,
    overview: Arc<Mutex<Result<Value, String>>>,
    /// What the next savepoint triggers answer (then: the trigger id acknowledged).
    trigger_answers: Arc<Mutex<VecDeque<Result<Value, String>>>>,
    /// What the status reads answer in turn; the last one stays.
    statuses: Arc<Mutex<VecDeque<Result<Value, String>>>>,
    /// (job, body) of every savepoint trigger sent.
    pub triggered: Arc<Mutex<Vec<(String, Value)>>>,
    pub status_reads: Arc<Mutex<usize>>,
}

fn refused<T>() -> Arc<Mutex<Result<T, String>>> {
    Arc::new(Mutex::new(Err("connect 127.0.0.1:8081: refused".into())))
}

impl Default for FakeFlink {
    fn default() -> Self {
        Self {
            answer: refused(),
            config: refused(),
            asked: Arc::default(),
            overview: refused(),
            trigger_answers: Arc::default(),
            statuses: Arc::default(),
            triggered: Arc::default(),
            status_reads: Arc::default(),
        }
    }
}

impl FakeFlink {
    /// What `GET /jobs/:id/checkpoints` answers.
    pub fn answer(&self, a: Result<Value, String>) {
        *self.answer.lock().unwrap() = a;
    }

    /// What `GET /jobs/:id/checkpoints/config` answers.
    pub fn answer_config(&self, a: Result<Value, String>) {
        *self.config.lock().unwrap() = a;
    }

    /// `GET /jobs/overview` lists these (id, name, state).
    pub fn jobs(&self, jobs: &[(&str, &str, &str)]) {
        let jobs: Vec<Value> = jobs
            .iter()
            .map(|(id, name, state)| json!({"jid": id, "name": name, "state": state}))
            .collect();
        *self.overview.lock().unwrap() = Ok(json!({ "jobs": jobs }));
    }

    pub fn overview_fails(&self, e: &str) {
        *self.overview.lock().unwrap() = Err(e.into());
    }

    /// The next savepoint trigger answers `a`.
    pub fn next_trigger(&self, a: Result<Value, String>) {
        self.trigger_answers.lock().unwrap().push_back(a);
    }

    /// The savepoint status reads answer these in turn (the last one stays).
    pub fn statuses(&self, answers: Vec<Result<Value, String>>) {
        *self.statuses.lock().unwrap() = answers.into();
    }

    pub fn triggered(&self) -> Vec<(String, Value)> {
        self.triggered.lock().unwrap().clone()
    }
}

impl FlinkRest for FakeFlink {
    async fn job_checkpoints(&self, endpoint: &str, job: &str) -> Result<Value, String> {
        self.asked
            .lock()
            .unwrap()
            .push((endpoint.into(), job.into()));
        self.answer.lock().unwrap().clone()
    }

    async fn checkpoint_config(&self, _endpoint: &str, _job: &str) -> Result<Value, String> {
        self.config.lock().unwrap().clone()
    }

    async fn jobs_overview(&self, _endpoint: &str) -> Result<Value, String> {
        self.overview.lock().unwrap().clone()
    }

    async fn trigger_savepoint(
        &self,
        _endpoint: &str,
        job: &str,
        body: &Value,
    ) -> Result<Value, String> {
        let scripted = self.trigger_answers.lock().unwrap().pop_front();
        let answer = scripted.unwrap_or_else(|| Ok(json!({"request-id": body["triggerId"]})));
        if answer.is_ok() {
            self.triggered
                .lock()
                .unwrap()
                .push((job.to_string(), body.clone()));
        }
        answer
    }

    async fn savepoint_status(
        &self,
        _endpoint: &str,
        _job: &str,
        _trigger: &str,
    ) -> Result<Value, String> {
        *self.status_reads.lock().unwrap() += 1;
        let mut q = self.statuses.lock().unwrap();
        let answer = if q.len() > 1 {
            q.pop_front()
        } else {
            q.front().cloned()
        };
        answer.unwrap_or_else(|| Err("no savepoint status scripted".into()))
    }
}

// ------------------------------------------------------------------ the health event bus

/// Records what it is given; `script` fails `PutEvents` calls.
#[derive(Clone, Default)]
pub struct FakeNotifier {
    pub sent: Arc<Mutex<Vec<HealthEvent>>>,
    pub savepoints: Arc<Mutex<Vec<SavepointEvent>>>,
    pub script: Script,
}

impl FakeNotifier {
    pub fn sent(&self) -> Vec<HealthEvent> {
        self.sent.lock().unwrap().clone()
    }

    pub fn savepoint_events(&self) -> Vec<SavepointEvent> {
        self.savepoints.lock().unwrap().clone()
    }
}

impl HealthNotifier for FakeNotifier {
    async fn publish(&self, event: &HealthEvent) -> Result<(), AwsCallError> {
        let sent = self.sent.clone();
        self.script
            .call("PutEvents", || sent.lock().unwrap().push(event.clone()))
    }

    async fn publish_savepoint(&self, event: &SavepointEvent) -> Result<(), AwsCallError> {
        let sent = self.savepoints.clone();
        self.script
            .call("PutEvents", || sent.lock().unwrap().push(event.clone()))
    }
}
