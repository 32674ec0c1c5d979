//! Just enough of Flink's REST API for `verify`: `GET /jobs/:id/checkpoints` over plain HTTP (the
//! JobManager's REST endpoint inside the VPC), and the comparison with the book (pure).

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(5);
/// A checkpoint statistics answer is a few KB; anything far larger is not what we asked for.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// `http://host:port` (an optional trailing `/`): the JobManager's REST endpoint.
pub fn parse_endpoint(url: &str) -> Result<(String, u16), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!(
            "Flink REST endpoint {url:?} must start with http:// (TLS endpoints are not supported)"
        )
    })?;
    let hostport = rest.trim_end_matches('/');
    if hostport.contains('/') {
        return Err(format!(
            "Flink REST endpoint {url:?} must be http://host:port with no path"
        ));
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("bad port in {url:?}"))?,
        ),
        None => (hostport, 8081),
    };
    if host.is_empty() {
        return Err(format!("no host in {url:?}"));
    }
    Ok((host.to_string(), port))
}

/// GETs `path` and parses the JSON body.
pub async fn get_json(endpoint: &str, path: &str) -> Result<Value, String> {
    let (host, port) = parse_endpoint(endpoint)?;
    let fetch = async {
        let mut stream = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("connect {host}:{port}: {e}"))?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("send: {e}"))?;
        let mut raw = Vec::new();
        stream
            .take(MAX_RESPONSE_BYTES as u64)
            .read_to_end(&mut raw)
            .await
            .map_err(|e| format!("read: {e}"))?;
        Ok::<_, String>(raw)
    };
    let raw = tokio::time::timeout(TIMEOUT, fetch)
        .await
        .map_err(|_| format!("{endpoint}{path}: no answer within {TIMEOUT:?}"))??;
    let (status, body) = parse_response(&raw)?;
    if status != 200 {
        return Err(format!(
            "{endpoint}{path}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(300)
                .collect::<String>()
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{endpoint}{path}: not JSON: {e}"))
}

/// Status and body of an HTTP/1.1 response (Content-Length, chunked, or read to close).
pub fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("incomplete HTTP response")?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| "HTTP headers are not text")?;
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("no HTTP status line")?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if !chunked {
        return Ok((status, body.to_vec()));
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size")?;
        let size_text = std::str::from_utf8(&rest[..end]).map_err(|_| "bad chunk size")?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "bad chunk size")?;
        rest = &rest[end + 2..];
        if size == 0 {
            return Ok((status, out));
        }
        if rest.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
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
    fn endpoints() {
        assert_eq!(
            parse_endpoint("http://10.0.3.7:8081/").unwrap(),
            ("10.0.3.7".into(), 8081)
        );
        assert_eq!(
            parse_endpoint("http://jobmanager").unwrap(),
            ("jobmanager".into(), 8081)
        );
        assert!(
            parse_endpoint("https://x:8081")
                .unwrap_err()
                .contains("http://")
        );
        assert!(
            parse_endpoint("http://x:8081/jobs")
                .unwrap_err()
                .contains("no path")
        );
    }

    #[test]
    fn responses_plain_and_chunked() {
        let (s, b) = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        assert_eq!((s, b.as_slice()), (200, b"{}".as_slice()));
        let (s, b) = parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n").unwrap();
        assert_eq!(
            (s, String::from_utf8(b).unwrap()),
            (200, "{\"a\":1}".to_string())
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 404 Not Found\r\n\r\nnope")
                .unwrap()
                .0,
            404
        );
        assert!(parse_response(b"garbage").is_err());
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
