//! The Flink JobManager's REST API over HTTP.

use serde_json::{Value, json};
use streamops_shared::flink;

use crate::ports::{FlinkApi, JobOverview, Vertex};
use crate::rescale::{SavepointStatus, savepoint_status};

/// One REST call (`streamops_shared::flink::call`). Calls that are safe to repeat (reads, the
/// resource-requirements PUT, a stop with our own trigger id) are retried on connection errors
/// and HTTP 5xx; a job submission is never retried blindly (the state machine checks first).
pub async fn call(
    rest_url: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let repeatable = method != "POST" || path.ends_with("/stop");
    flink::call(rest_url, method, path, body, repeatable).await
}

/// The JobManager's REST API, reached over plain HTTP.
pub struct FlinkRest;

impl FlinkApi for FlinkRest {
    async fn jobs(&self, rest_url: &str) -> Result<Vec<JobOverview>, String> {
        let overview = call(rest_url, "GET", "/jobs/overview", None).await?;
        Ok(overview["jobs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|j| JobOverview {
                id: j["jid"].as_str().unwrap_or_default().to_string(),
                name: j["name"].as_str().unwrap_or_default().to_string(),
                state: j["state"].as_str().unwrap_or("?").to_string(),
                start_time: j["start-time"].as_i64().unwrap_or_default(),
            })
            .collect())
    }

    async fn vertices(&self, rest_url: &str, job_id: &str) -> Result<Vec<Vertex>, String> {
        let detail = call(rest_url, "GET", &format!("/jobs/{job_id}"), None).await?;
        Ok(detail["vertices"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| Vertex {
                status: v["status"].as_str().unwrap_or_default().to_string(),
                parallelism: v["parallelism"].as_u64(),
                max_parallelism: v["maxParallelism"].as_u64(),
            })
            .collect())
    }

    async fn job_config(
        &self,
        rest_url: &str,
        job_id: &str,
    ) -> Result<Vec<(String, String)>, String> {
        let path = format!("/jobs/{job_id}/jobmanager/config");
        let v = call(rest_url, "GET", &path, None).await?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                Some((
                    e["key"].as_str()?.to_string(),
                    e["value"].as_str()?.to_string(),
                ))
            })
            .collect())
    }

    async fn set_parallelism(&self, rest_url: &str, job_id: &str, to: u32) -> Result<(), String> {
        let path = format!("/jobs/{job_id}/resource-requirements");
        let mut req = call(rest_url, "GET", &path, None).await?;
        let Some(vertices) = req.as_object_mut() else {
            return Err("resource requirements are not an object".into());
        };
        for (_, v) in vertices.iter_mut() {
            v["parallelism"] = json!({"lowerBound": 1, "upperBound": to});
        }
        call(rest_url, "PUT", &path, Some(&req)).await.map(|_| ())
    }

    async fn stop_with_savepoint(
        &self,
        rest_url: &str,
        job_id: &str,
        trigger: &str,
        savepoint_dir: Option<&str>,
    ) -> Result<(), String> {
        let mut body = json!({"drain": false, "triggerId": trigger});
        if let Some(dir) = savepoint_dir {
            body["targetDirectory"] = json!(dir);
        }
        let path = format!("/jobs/{job_id}/stop");
        call(rest_url, "POST", &path, Some(&body)).await.map(|_| ())
    }

    async fn savepoint(
        &self,
        rest_url: &str,
        job_id: &str,
        trigger: &str,
    ) -> Result<SavepointStatus, String> {
        let path = format!("/jobs/{job_id}/savepoints/{trigger}");
        call(rest_url, "GET", &path, None)
            .await
            .map(|v| savepoint_status(&v))
    }

    async fn run_jar(
        &self,
        rest_url: &str,
        jar_id: &str,
        savepoint: &str,
        parallelism: u32,
        entry_class: Option<&str>,
    ) -> Result<(), String> {
        let mut body = json!({"savepointPath": savepoint, "parallelism": parallelism});
        if let Some(c) = entry_class {
            body["entryClass"] = json!(c);
        }
        let path = format!("/jars/{jar_id}/run");
        call(rest_url, "POST", &path, Some(&body)).await.map(|_| ())
    }
}
