//! Fakes of the maintenance ports: the registry's leases, Athena's long queries (scripted to
//! succeed, fail or run past any bound, with faults from the shared [`Script`]) and the events
//! alerts reads. The query fake
//! records every start, wait and stop, and the most queries it saw in flight, overall and per
//! table, so a test can check the concurrency bounds.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use partitions::{
    EventPublisher, FollowUpScheduler, LeaseOutcome, LeaseView, LeftQuery, MaintenanceEvent,
    MaintenanceLeases, MaintenanceQueries, MaintenanceState, PollStats, QueryResult,
};
use serde_json::Value;
use streamops_shared::AwsCallError;

use super::{FakeAthena, FakeRegistry, Script};

/// How the next maintenance query goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Run {
    Succeed,
    /// Athena fails it with this reason.
    Fail(&'static str),
    /// Still RUNNING whenever it is waited for: only a stop (or the deadline) ends the wait.
    Forever,
    /// RUNNING for this many waits, then it succeeds.
    SucceedAfter(usize),
}

/// One call of the fake, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Start {
        sql: String,
        database: String,
        idempotency: String,
        id: String,
    },
    Wait {
        id: String,
    },
    Stop {
        id: String,
    },
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    runs: VecDeque<Run>,
    /// Query id → its run and its table (`"db"."t"` from the SQL).
    queries: BTreeMap<String, (Run, String)>,
    /// Queries started and not ended (final, or stopped).
    in_flight: BTreeMap<String, String>,
    max_in_flight: usize,
    max_in_flight_per_table: usize,
}

#[derive(Clone, Default)]
pub struct FakeMaintenance {
    state: Arc<Mutex<State>>,
    pub script: Script,
}

impl FakeMaintenance {
    /// The runs of the next queries, in start order (then successes).
    pub fn script_runs(&self, runs: &[Run]) {
        self.state.lock().unwrap().runs.extend(runs.iter().cloned());
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The statements started, in order.
    pub fn started(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Start { sql, .. } => Some(sql),
                _ => None,
            })
            .collect()
    }

    pub fn stopped(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Stop { id } => Some(id),
                _ => None,
            })
            .collect()
    }

    /// The most queries in flight at once, overall and of one table.
    pub fn max_in_flight(&self) -> (usize, usize) {
        let s = self.state.lock().unwrap();
        (s.max_in_flight, s.max_in_flight_per_table)
    }
}

/// `"db"."t"`: the table a maintenance statement names (its second word).
fn table_of(sql: &str) -> String {
    sql.split(' ').nth(1).unwrap_or_default().to_string()
}

impl State {
    fn note_in_flight(&mut self) {
        self.max_in_flight = self.max_in_flight.max(self.in_flight.len());
        let mut per_table: BTreeMap<&str, usize> = BTreeMap::new();
        for t in self.in_flight.values() {
            *per_table.entry(t).or_default() += 1;
        }
        let most = per_table.values().copied().max().unwrap_or(0);
        self.max_in_flight_per_table = self.max_in_flight_per_table.max(most);
    }
}

impl MaintenanceQueries for FakeAthena {
    async fn start(
        &self,
        sql: &str,
        database: &str,
        idempotency: &str,
        _deadline: Instant,
    ) -> Result<String, AwsCallError> {
        let m = &self.maintenance;
        let mut s = m.state.lock().unwrap();
        m.script.call("StartQueryExecution", || {
            let id = format!("mq-{}", s.queries.len() + 1);
            let run = s.runs.pop_front().unwrap_or(Run::Succeed);
            s.queries.insert(id.clone(), (run, table_of(sql)));
            s.in_flight.insert(id.clone(), table_of(sql));
            s.note_in_flight();
            s.calls.push(Call::Start {
                sql: sql.into(),
                database: database.into(),
                idempotency: idempotency.into(),
                id: id.clone(),
            });
            id
        })
    }

    async fn wait(
        &self,
        query_id: &str,
        _until: Instant,
    ) -> Result<(QueryResult, PollStats), AwsCallError> {
        // A pause, so queries of other tables overlap as they would.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let m = &self.maintenance;
        let mut s = m.state.lock().unwrap();
        s.calls.push(Call::Wait {
            id: query_id.into(),
        });
        m.script.call("GetQueryExecution", || ())?;
        let run = s.queries.get(query_id).map(|(r, _)| r.clone());
        let result = match run {
            Some(Run::Succeed) => QueryResult::Succeeded,
            Some(Run::Fail(reason)) => QueryResult::Failed {
                state: "FAILED".into(),
                reason: reason.into(),
                category: Some(2),
                error_type: Some(1100),
                retryable: false,
            },
            Some(Run::SucceedAfter(n)) if n > 0 => {
                if let Some((run, _)) = s.queries.get_mut(query_id) {
                    *run = Run::SucceedAfter(n - 1);
                }
                return Ok((
                    QueryResult::TimedOut {
                        last_state: "RUNNING".into(),
                    },
                    PollStats::default(),
                ));
            }
            Some(Run::SucceedAfter(_)) => QueryResult::Succeeded,
            Some(Run::Forever) => {
                return Ok((
                    QueryResult::TimedOut {
                        last_state: "RUNNING".into(),
                    },
                    PollStats::default(),
                ));
            }
            None => panic!("wait for an unknown query {query_id}"),
        };
        s.in_flight.remove(query_id);
        Ok((result, PollStats::default()))
    }

    async fn stop(&self, query_id: &str) -> Result<(), AwsCallError> {
        let m = &self.maintenance;
        let mut s = m.state.lock().unwrap();
        s.calls.push(Call::Stop {
            id: query_id.into(),
        });
        m.script.call("StopQueryExecution", || ())?;
        s.in_flight.remove(query_id);
        Ok(())
    }
}

/// The events put for alerts.
#[derive(Clone, Default)]
pub struct FakeEvents {
    sent: Arc<Mutex<Vec<MaintenanceEvent>>>,
    pub script: Script,
}

impl FakeEvents {
    pub fn sent(&self) -> Vec<MaintenanceEvent> {
        self.sent.lock().unwrap().clone()
    }
}

impl EventPublisher for FakeEvents {
    async fn publish(&self, event: &MaintenanceEvent) -> Result<(), AwsCallError> {
        self.script.call("PutEvents", || {
            self.sent.lock().unwrap().push(event.clone());
        })
    }
}

/// One table's lease as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub token: String,
    pub expires_at: i64,
    pub left: Option<LeftQuery>,
}

/// A table's latest run as recorded for `status`: when, and its part of the answer.
pub type RecordedRun = (DateTime<Utc>, Value);

/// The registry's maintenance leases, by table, and each table's latest run.
#[derive(Clone, Default)]
pub struct FakeLeases {
    leases: Arc<Mutex<BTreeMap<String, Lease>>>,
    runs: Arc<Mutex<BTreeMap<String, RecordedRun>>>,
    pub script: Script,
}

impl FakeLeases {
    pub fn get(&self, table: &str) -> Option<Lease> {
        self.leases.lock().unwrap().get(table).cloned()
    }

    /// The latest run recorded for `status`.
    pub fn last_run(&self, table: &str) -> Option<RecordedRun> {
        self.runs.lock().unwrap().get(table).cloned()
    }

    /// Another run's lease (or one left behind).
    pub fn put(&self, table: &str, lease: Lease) {
        self.leases.lock().unwrap().insert(table.into(), lease);
    }
}

impl MaintenanceLeases for FakeRegistry {
    async fn acquire_lease(
        &self,
        table: &str,
        token: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<LeaseOutcome, AwsCallError> {
        let l = &self.leases;
        let mut leases = l.leases.lock().unwrap();
        l.script
            .call("PutItem (lease)", || match leases.get(table) {
                Some(held) if held.expires_at >= now => LeaseOutcome::Held {
                    left: held.left.clone(),
                },
                before => {
                    let left = before.and_then(|b| b.left.clone());
                    let lease = Lease {
                        token: token.into(),
                        expires_at,
                        left: None,
                    };
                    leases.insert(table.into(), lease);
                    LeaseOutcome::Acquired { left }
                }
            })
    }

    async fn hold_lease(
        &self,
        table: &str,
        token: &str,
        left: &LeftQuery,
        expires_at: i64,
    ) -> Result<(), AwsCallError> {
        let l = &self.leases;
        let mut leases = l.leases.lock().unwrap();
        l.script.call("UpdateItem (hold lease)", || {
            if let Some(lease) = leases.get_mut(table).filter(|x| x.token == token) {
                lease.left = Some(left.clone());
                lease.expires_at = expires_at;
            }
        })
    }

    async fn release_lease(&self, table: &str, token: &str) -> Result<(), AwsCallError> {
        let l = &self.leases;
        let mut leases = l.leases.lock().unwrap();
        l.script.call("DeleteItem (release lease)", || {
            if leases.get(table).is_some_and(|x| x.token == token) {
                leases.remove(table);
            }
        })
    }

    async fn take_over_lease(
        &self,
        table: &str,
        from: &str,
        to: &str,
        expires_at: i64,
    ) -> Result<Option<LeftQuery>, AwsCallError> {
        let l = &self.leases;
        let mut leases = l.leases.lock().unwrap();
        l.script.call("UpdateItem (take over lease)", || {
            let lease = leases
                .get_mut(table)
                .filter(|x| (x.token == from || x.token == to) && x.left.is_some())?;
            lease.token = to.into();
            lease.expires_at = expires_at;
            lease.left.clone()
        })
    }

    async fn record_run(
        &self,
        table: &str,
        at: DateTime<Utc>,
        run: &Value,
    ) -> Result<(), AwsCallError> {
        let l = &self.leases;
        l.script.call("PutItem (maintenance run)", || {
            l.runs
                .lock()
                .unwrap()
                .insert(table.into(), (at, run.clone()));
        })
    }

    async fn maintenance_state(&self, table: &str) -> Result<MaintenanceState, AwsCallError> {
        let l = &self.leases;
        l.script
            .call("GetItem (maintenance state)", || MaintenanceState {
                lease: l.leases.lock().unwrap().get(table).map(|x| LeaseView {
                    token: x.token.clone(),
                    expires_at: x.expires_at,
                    left: x.left.clone(),
                }),
                last_run: l.runs.lock().unwrap().get(table).cloned(),
            })
    }
}

/// One follow-up schedule asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheduled {
    pub name: String,
    pub at: DateTime<Utc>,
    pub input: Value,
}

/// EventBridge Scheduler's one-time schedules, by name (a second ask for a name is a no-op, as
/// Scheduler's conflict is to the adapter).
#[derive(Clone, Default)]
pub struct FakeFollowUps {
    schedules: Arc<Mutex<Vec<Scheduled>>>,
    pub script: Script,
}

impl FakeFollowUps {
    pub fn scheduled(&self) -> Vec<Scheduled> {
        self.schedules.lock().unwrap().clone()
    }
}

impl FollowUpScheduler for FakeFollowUps {
    async fn schedule_once(
        &self,
        name: &str,
        at: DateTime<Utc>,
        input: &Value,
    ) -> Result<(), AwsCallError> {
        self.script.call("CreateSchedule", || {
            let mut schedules = self.schedules.lock().unwrap();
            if !schedules.iter().any(|s| s.name == name) {
                schedules.push(Scheduled {
                    name: name.into(),
                    at,
                    input: input.clone(),
                });
            }
        })
    }
}
