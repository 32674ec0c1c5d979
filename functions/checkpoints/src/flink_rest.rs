//! Flink's REST API for `verify`, `health` and `savepoint`: the adapter ([`FlinkHttp`], `GET
//! /jobs/:id/checkpoints` and `/jobs/:id/checkpoints/config` through `shared::http`, the job
//! overview and the savepoint trigger and status through `shared::flink`), and what
//! the book and the health evaluation read from the answers (pure).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::health::{FailedCheckpoint, FlinkStats, GoodPoint, Source};
use crate::ports::FlinkRest;
use streamops_shared::flink;

pub use streamops_shared::http::parse_endpoint;

/// The JobManager's REST endpoint over plain HTTP.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlinkHttp;

impl FlinkRest for FlinkHttp {
    async fn job_checkpoints(&self, endpoint: &str, job: &str) -> Result<Value, String> {
        streamops_shared::http::get_json(endpoint, &format!("/jobs/{job}/checkpoints")).await
    }

    async fn checkpoint_config(&self, endpoint: &str, job: &str) -> Result<Value, String> {
        streamops_shared::http::get_json(endpoint, &format!("/jobs/{job}/checkpoints/config")).await
    }

    async fn jobs_overview(&self, endpoint: &str) -> Result<Value, String> {
        flink::call(endpoint, "GET", "/jobs/overview", None, true).await
    }

    async fn trigger_savepoint(
        &self,
        endpoint: &str,
        job: &str,
        body: &Value,
    ) -> Result<Value, String> {
        let path = format!("/jobs/{job}/savepoints");
        // Our trigger id makes a repeat find the operation Flink already has.
        flink::call(endpoint, "POST", &path, Some(body), true).await
    }

    async fn savepoint_status(
        &self,
        endpoint: &str,
        job: &str,
        trigger: &str,
    ) -> Result<Value, String> {
        let path = format!("/jobs/{job}/savepoints/{trigger}");
        flink::call(endpoint, "GET", &path, None, true).await
    }
}

fn millis(v: &Value) -> Option<DateTime<Utc>> {
    v.as_i64()
        .filter(|ms| *ms > 0)
        .and_then(DateTime::from_timestamp_millis)
}

/// Health's view of `GET /jobs/:id/checkpoints` (and of `/checkpoints/config` when it answered):
/// the latest completed checkpoint, the failed checkpoints after it in `history` (newest
/// first), the latest failure and the configured interval. An answer without `counts` is not
/// checkpoint statistics (an error document, another endpoint).
pub fn flink_stats(stats: &Value, config: Option<&Value>) -> Result<FlinkStats, String> {
    if !stats["counts"].is_object() {
        return Err(format!(
            "no `counts` in the checkpoint statistics: {}",
            streamops_shared::text::clean_inline(&stats.to_string())
        ));
    }
    let completed = &stats["latest"]["completed"];
    let latest_completed = completed["id"].as_u64().and_then(|id| {
        Some(GoodPoint {
            checkpoint_id: Some(id),
            location: completed["external_path"].as_str()?.to_string(),
            // Completion: the last acknowledgement (Flink finalizes right after it).
            completed_at: millis(&completed["latest_ack_timestamp"])?,
            known_from: Source::FlinkRest,
        })
    });
    let completed_id = completed["id"].as_u64();
    let history = stats["history"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let after_completed = |h: &&Value| {
        h["id"]
            .as_u64()
            .is_some_and(|id| completed_id.is_none_or(|c| id > c))
            && h["is_savepoint"] != Value::Bool(true)
    };
    let mut consecutive_failures = history
        .iter()
        .filter(after_completed)
        .filter(|h| h["status"] == "FAILED")
        .count() as u32;
    let failed = &stats["latest"]["failed"];
    let latest_failed = failed["id"].as_u64().map(|id| FailedCheckpoint {
        id,
        failed_at: millis(&failed["failure_timestamp"]),
        message: failed["failure_message"].as_str().map(str::to_string),
    });
    // An empty history (web.checkpoints.history 0) still shows the latest failure.
    if consecutive_failures == 0
        && latest_failed
            .as_ref()
            .is_some_and(|f| completed_id.is_none_or(|c| f.id > c))
    {
        consecutive_failures = 1;
    }
    let interval_seconds = config
        .and_then(|c| c["interval"].as_u64())
        .map(|ms| ms.div_ceil(1000));
    Ok(FlinkStats {
        latest_completed,
        consecutive_failures,
        latest_failed,
        interval_seconds,
    })
}

/// What Flink says about a job's checkpoints, reduced to what the book tracks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlinkView {
    pub latest_completed_id: Option<u64>,
    pub latest_completed_path: Option<String>,
    pub latest_savepoint_id: Option<u64>,
    pub latest_savepoint_path: Option<String>,
}

pub fn flink_view(stats: &Value) -> FlinkView {
    let latest = &stats["latest"];
    FlinkView {
        latest_completed_id: latest["completed"]["id"].as_u64(),
        latest_completed_path: latest["completed"]["external_path"]
            .as_str()
            .map(str::to_string),
        latest_savepoint_id: latest["savepoint"]["id"].as_u64(),
        latest_savepoint_path: latest["savepoint"]["external_path"]
            .as_str()
            .map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::relative_to;
    use serde_json::json;

    /// What a real Flink 2.3 answered (events/checkpoints/flink/).
    #[test]
    fn the_answers_of_a_real_flink_read_as_recorded() {
        use streamops_test_support::fixture;
        let config = fixture("checkpoints/flink/checkpoints-config.json");
        let ok = flink_stats(
            &fixture("checkpoints/flink/job-checkpoints.json"),
            Some(&config),
        )
        .unwrap();
        let latest = ok.latest_completed.unwrap();
        assert_eq!(latest.checkpoint_id, Some(9));
        assert!(latest.location.ends_with("/chk-9"), "{}", latest.location);
        assert_eq!(latest.completed_at.timestamp_millis(), 1_796_175_309_139);
        assert_eq!((ok.consecutive_failures, ok.interval_seconds), (0, Some(1)));
        let failing = flink_stats(
            &fixture("checkpoints/flink/job-checkpoints-failing.json"),
            None,
        )
        .unwrap();
        assert!(failing.latest_completed.is_none());
        assert_eq!(
            failing.consecutive_failures, 4,
            "IN_PROGRESS is not a failure"
        );
        let f = failing.latest_failed.unwrap();
        assert_eq!(f.id, 4);
        assert_eq!(f.failed_at.unwrap().timestamp_millis(), 1_796_175_320_665);
    }

    #[test]
    fn stats_count_the_failures_after_the_latest_completed_checkpoint() {
        let stats = json!({
            "counts": {"completed": 7, "failed": 3},
            "latest": {"completed": {"id": 7, "external_path": "s3://b/chk-7", "latest_ack_timestamp": 1_763_632_800_000i64},
                       "failed": {"id": 10, "failure_timestamp": 1_763_633_000_000i64, "failure_message": "timeout"}},
            "history": [
                {"id": 10, "status": "FAILED", "is_savepoint": false},
                {"id": 9, "status": "FAILED", "is_savepoint": true},
                {"id": 8, "status": "FAILED", "is_savepoint": false},
                {"id": 7, "status": "COMPLETED", "is_savepoint": false},
                {"id": 6, "status": "FAILED", "is_savepoint": false}]
        });
        let s = flink_stats(&stats, Some(&json!({"interval": 1500}))).unwrap();
        assert_eq!(
            s.consecutive_failures, 2,
            "savepoints and older failures do not count"
        );
        assert_eq!(s.latest_completed.unwrap().checkpoint_id, Some(7));
        assert_eq!(s.latest_failed.unwrap().message.as_deref(), Some("timeout"));
        assert_eq!(s.interval_seconds, Some(2), "rounded up");
        let no_history = json!({"counts": {}, "latest": {"completed": null, "failed": {"id": 1}}});
        let s = flink_stats(&no_history, None).unwrap();
        assert_eq!((s.consecutive_failures, s.interval_seconds), (1, None));
        assert!(s.latest_completed.is_none());
        let e = flink_stats(&json!({"errors": ["Job not found"]}), None).unwrap_err();
        assert!(e.contains("Job not found"), "{e}");
    }

    #[test]
    fn view_and_relative_paths() {
        let v = flink_view(
            &json!({"latest": {"completed": {"id": 7, "external_path": "s3a://b/flink/checkpoints/j/chk-7"},
                                              "savepoint": null}}),
        );
        assert_eq!(v.latest_completed_id, Some(7));
        assert_eq!(v.latest_savepoint_id, None);
        assert_eq!(
            relative_to("s3a://b/flink/checkpoints/j/chk-7", "flink/checkpoints/"),
            Some("flink/checkpoints/j/chk-7".into())
        );
        assert_eq!(
            relative_to("s3://b/flink/checkpoints/j/chk-7/", "flink/checkpoints/"),
            Some("flink/checkpoints/j/chk-7".into())
        );
    }
}
