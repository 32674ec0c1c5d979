//! Fakes of the Flink JobManager's REST API (jobs, savepoints, submissions) and the YARN ResourceManager.

use super::*;

// ---------------------------------------------------------------- Flink

#[derive(Debug, Clone)]
pub struct FakeJob {
    pub id: String,
    pub name: String,
    pub state: String,
    pub start_time: i64,
    pub parallelism: u32,
    pub max_parallelism: u32,
}

/// How a stop-with-savepoint goes.
#[derive(Debug, Clone, Default)]
pub struct SavepointScript {
    /// Polls answered IN_PROGRESS before the outcome.
    pub in_progress_polls: usize,
    /// The savepoint fails with this cause (the job keeps running).
    pub fails: Option<String>,
}

#[derive(Default)]
pub struct FlinkData {
    pub jobs: Vec<FakeJob>,
    pub config: Vec<(String, String)>,
    pub savepoint: SavepointScript,
    /// Trigger -> (job, polls so far).
    pub triggers: HashMap<String, (String, usize)>,
    /// `POST /jars/:id/run` at these parallelisms is refused with HTTP 500.
    pub refuse_run_at: HashSet<u32>,
    /// A job submitted at these parallelisms starts, then goes FAILED.
    pub fail_job_at: HashSet<u32>,
    /// The JobManager forgot every trigger (it restarted).
    pub forgot_triggers: bool,
    /// (jar, savepoint, parallelism, entry class) of every submission.
    pub runs: Vec<(String, String, u32, Option<String>)>,
    pub stops: Vec<(String, String, Option<String>)>,
    pub clock: i64,
}

#[derive(Clone, Default)]
pub struct FakeFlink {
    pub data: Arc<Mutex<FlinkData>>,
    pub script: Script,
}

impl FakeFlink {
    /// A running job `name` at `parallelism` (max parallelism 128).
    pub fn job(&self, id: &str, name: &str, parallelism: u32) {
        let mut d = lock(&self.data);
        d.clock += 1;
        let start_time = d.clock;
        d.jobs.push(FakeJob {
            id: id.into(),
            name: name.into(),
            state: "RUNNING".into(),
            start_time,
            parallelism,
            max_parallelism: 128,
        });
    }

    pub fn data(&self) -> MutexGuard<'_, FlinkData> {
        lock(&self.data)
    }

    /// The newest job named `name` that runs: (id, parallelism).
    pub fn running(&self, name: &str) -> Option<(String, u32)> {
        let d = lock(&self.data);
        d.jobs
            .iter()
            .filter(|j| j.name == name && j.state == "RUNNING")
            .max_by_key(|j| j.start_time)
            .map(|j| (j.id.clone(), j.parallelism))
    }

    /// A submission from a savepoint: a new job of the stopped one's name.
    pub fn submit(&self, savepoint: &str, parallelism: u32) {
        let mut d = lock(&self.data);
        let name = d
            .jobs
            .iter()
            .find(|j| savepoint.contains(&j.id))
            .map(|j| j.name.clone())
            .unwrap_or_else(|| "job".into());
        d.clock += 1;
        let n = d.clock;
        let state = if d.fail_job_at.contains(&parallelism) {
            "FAILED"
        } else {
            "RUNNING"
        };
        d.jobs.push(FakeJob {
            id: format!("job-{n}"),
            name,
            state: state.into(),
            start_time: n,
            parallelism,
            max_parallelism: 128,
        });
    }
}

impl FlinkApi for FakeFlink {
    async fn jobs(&self, _rest_url: &str) -> Result<Vec<JobOverview>, String> {
        with_http_fault(&self.script, "jobs", || {
            Ok(lock(&self.data)
                .jobs
                .iter()
                .map(|j| JobOverview {
                    id: j.id.clone(),
                    name: j.name.clone(),
                    state: j.state.clone(),
                    start_time: j.start_time,
                })
                .collect())
        })
    }

    async fn vertices(&self, _rest_url: &str, job_id: &str) -> Result<Vec<Vertex>, String> {
        with_http_fault(&self.script, "vertices", || {
            let d = lock(&self.data);
            let j = d
                .jobs
                .iter()
                .find(|j| j.id == job_id)
                .ok_or_else(|| format!("GET /jobs/{job_id}: HTTP 404"))?;
            let v = Vertex {
                status: j.state.clone(),
                parallelism: Some(j.parallelism.into()),
                max_parallelism: Some(j.max_parallelism.into()),
            };
            Ok(vec![v.clone(), v])
        })
    }

    async fn job_config(
        &self,
        _rest_url: &str,
        _job_id: &str,
    ) -> Result<Vec<(String, String)>, String> {
        with_http_fault(&self.script, "job_config", || {
            Ok(lock(&self.data).config.clone())
        })
    }

    async fn set_parallelism(&self, _rest_url: &str, job_id: &str, to: u32) -> Result<(), String> {
        with_http_fault(&self.script, "set_parallelism", || {
            let mut d = lock(&self.data);
            let j = d
                .jobs
                .iter_mut()
                .find(|j| j.id == job_id)
                .ok_or("no such job")?;
            j.parallelism = to;
            Ok(())
        })
    }

    async fn stop_with_savepoint(
        &self,
        _rest_url: &str,
        job_id: &str,
        trigger: &str,
        savepoint_dir: Option<&str>,
    ) -> Result<(), String> {
        with_http_fault(&self.script, "stop_with_savepoint", || {
            let mut d = lock(&self.data);
            d.stops.push((
                job_id.into(),
                trigger.into(),
                savepoint_dir.map(str::to_string),
            ));
            // A retried stop with the same trigger finds the same savepoint.
            d.triggers
                .entry(trigger.to_string())
                .or_insert((job_id.to_string(), 0));
            Ok(())
        })
    }

    async fn savepoint(
        &self,
        _rest_url: &str,
        job_id: &str,
        trigger: &str,
    ) -> Result<SavepointStatus, String> {
        with_http_fault(&self.script, "savepoint", || {
            let mut d = lock(&self.data);
            if d.forgot_triggers {
                return Err(format!(
                    "GET /jobs/{job_id}/savepoints/{trigger}: HTTP 404: unknown trigger"
                ));
            }
            let script = d.savepoint.clone();
            let polls = {
                let t = d
                    .triggers
                    .get_mut(trigger)
                    .ok_or_else(|| format!("GET /jobs/{job_id}/savepoints/{trigger}: HTTP 404"))?;
                t.1 += 1;
                t.1
            };
            if polls <= script.in_progress_polls {
                return Ok(SavepointStatus::InProgress);
            }
            if let Some(cause) = script.fails {
                return Ok(SavepointStatus::Failed(cause));
            }
            if let Some(j) = d.jobs.iter_mut().find(|j| j.id == job_id) {
                j.state = "FINISHED".into();
            }
            Ok(SavepointStatus::Completed(format!(
                "s3://savepoints/savepoint-{job_id}-{trigger}"
            )))
        })
    }

    async fn run_jar(
        &self,
        _rest_url: &str,
        jar_id: &str,
        savepoint: &str,
        parallelism: u32,
        entry_class: Option<&str>,
    ) -> Result<(), String> {
        with_http_fault(&self.script, "run_jar", || {
            {
                let mut d = lock(&self.data);
                d.runs.push((
                    jar_id.into(),
                    savepoint.into(),
                    parallelism,
                    entry_class.map(str::to_string),
                ));
                if d.refuse_run_at.contains(&parallelism) {
                    return Err(format!(
                        "POST /jars/{jar_id}/run: HTTP 500: {{\"errors\":[\"refused\"]}}"
                    ));
                }
            }
            self.submit(savepoint, parallelism);
            Ok(())
        })
    }
}

// ---------------------------------------------------------------- YARN

#[derive(Clone, Default)]
pub struct FakeYarn {
    pub nodes: Arc<Mutex<Vec<YarnNode>>>,
    pub script: Script,
}

impl YarnApi for FakeYarn {
    async fn nodes(&self, _rm_url: &str) -> Result<Vec<YarnNode>, String> {
        with_http_fault(&self.script, "nodes", || Ok(lock(&self.nodes).clone()))
    }
}
