//! Flink's REST API for `verify`: the adapter ([`FlinkHttp`], `GET /jobs/:id/checkpoints` through
//! `shared::http`), and what the book compares with it (pure).

use serde::Serialize;
use serde_json::Value;

use crate::ports::FlinkRest;

pub use streamops_shared::http::parse_endpoint;

/// The JobManager's REST endpoint over plain HTTP.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlinkHttp;

impl FlinkRest for FlinkHttp {
    async fn job_checkpoints(&self, endpoint: &str, job: &str) -> Result<Value, String> {
        streamops_shared::http::get_json(endpoint, &format!("/jobs/{job}/checkpoints")).await
    }
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

/// The part of a path from `anchor` on (`s3://b/flink/checkpoints/j/chk-3/` and
/// `s3a://b/flink/checkpoints/j/chk-3` both give `flink/checkpoints/j/chk-3`), so paths from the
/// book and from Flink compare whatever scheme Flink was configured with.
pub fn relative_to(path: &str, anchor: &str) -> Option<String> {
    let i = path.find(anchor)?;
    Some(path[i..].trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
