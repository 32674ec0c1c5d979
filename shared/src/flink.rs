//! What the functions that drive a Flink JobManager share (the scaler's rescales, the
//! checkpoints function's savepoints): one REST call with retries where a repeat is safe, and
//! the reading of an asynchronous savepoint operation's status.

use std::time::Duration;

use serde_json::Value;

use crate::http;

const CALL: Duration = Duration::from_secs(10);

/// One REST call answering 2xx. `repeatable`: safe to send again (reads, a PUT, a POST with our
/// own trigger id, which Flink answers with the operation it already has): retried up to 3
/// times on connection errors and HTTP 5xx, with a short backoff. Anything else is sent once.
pub async fn call(
    rest_url: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    repeatable: bool,
) -> Result<Value, String> {
    let attempts = if repeatable { 3 } else { 1 };
    let mut last = String::new();
    for attempt in 0..attempts {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
        }
        match http::request(rest_url, method, path, body, CALL).await {
            Ok((status, v)) if (200..300).contains(&status) => return Ok(v),
            Ok((status, v)) => {
                last = format!(
                    "{method} {path}: HTTP {status}: {}",
                    v.to_string().chars().take(400).collect::<String>()
                );
                if status < 500 {
                    break;
                }
            }
            Err(e) => last = format!("{method} {path}: {e}"),
        }
    }
    Err(last)
}

/// What the JobManager says of a savepoint trigger (`GET /jobs/:id/savepoints/:trigger`, also
/// for a stop-with-savepoint).
#[derive(Debug, Clone, PartialEq)]
pub enum SavepointStatus {
    InProgress,
    /// The savepoint's path, as Flink names it (no trailing `/`).
    Completed(String),
    /// The first line of the failure cause.
    Failed(String),
}

/// Reads `GET /jobs/:id/savepoints/:trigger`: `COMPLETED` with a `location` is a savepoint,
/// `COMPLETED` with a `failure-cause` a failed one, anything else still in progress.
pub fn savepoint_status(v: &Value) -> SavepointStatus {
    if v["status"]["id"] != "COMPLETED" {
        return SavepointStatus::InProgress;
    }
    match v["operation"]["location"].as_str() {
        Some(l) => SavepointStatus::Completed(l.to_string()),
        None => {
            let cause = &v["operation"]["failure-cause"];
            let text = cause["stack-trace"]
                .as_str()
                .and_then(|s| s.lines().next())
                .map(str::to_string)
                .or_else(|| cause["class"].as_str().map(str::to_string))
                .unwrap_or_else(|| cause.to_string());
            SavepointStatus::Failed(text.chars().take(300).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn savepoint_statuses() {
        assert_eq!(
            savepoint_status(&json!({"status": {"id": "IN_PROGRESS"}})),
            SavepointStatus::InProgress
        );
        assert_eq!(
            savepoint_status(
                &json!({"status": {"id": "COMPLETED"}, "operation": {"location": "file:/sp/1"}})
            ),
            SavepointStatus::Completed("file:/sp/1".into())
        );
        let failed = savepoint_status(&json!({"status": {"id": "COMPLETED"}, "operation":
            {"failure-cause": {"class": "java.io.IOException", "stack-trace": "java.io.IOException: denied\n\tat x"}}}));
        assert_eq!(
            failed,
            SavepointStatus::Failed("java.io.IOException: denied".into())
        );
    }
}
