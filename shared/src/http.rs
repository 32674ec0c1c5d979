//! A minimal HTTP/1.1 JSON client over plain TCP, for Flink's REST API (the JobManager's
//! endpoint inside the VPC speaks plain HTTP). No TLS, no redirects, bodies up to 8 MiB.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// `http://host:port` (an optional trailing `/`).
pub fn parse_endpoint(url: &str) -> Result<(String, u16), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("endpoint {url:?} must start with http:// (TLS endpoints are not supported)")
    })?;
    let hostport = rest.trim_end_matches('/');
    if hostport.contains('/') {
        return Err(format!(
            "endpoint {url:?} must be http://host:port with no path"
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
    // The host goes into the `Host:` header and the connect call as it is: a quote, a space, a
    // CR/LF (header injection), user info or a second colon is an error here, not a request.
    if !is_plain_host(host) {
        return Err(format!(
            "bad host {host:?} in {url:?} (a DNS name, an IPv4 address or a bracketed IPv6 address)"
        ));
    }
    Ok((host.to_string(), port))
}

/// `[A-Za-z0-9._-]+`, or `[` hex digits, colons and dots `]`.
fn is_plain_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return !inner.is_empty()
            && inner
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
    }
    host.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Sends `method path` with an optional JSON body; returns the status and the parsed body
/// (`Value::Null` when empty). Non-2xx statuses are returned, not errors.
pub async fn request(
    endpoint: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    timeout: Duration,
) -> Result<(u16, Value), String> {
    let (host, port) = parse_endpoint(endpoint)?;
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let exchange = async {
        let mut stream = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("connect {host}:{port}: {e}"))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\nConnection: close\r\n"
        );
        if body.is_some() {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                payload.len()
            ));
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|e| format!("send: {e}"))?;
        stream
            .write_all(payload.as_bytes())
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
    let raw = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| format!("{method} {endpoint}{path}: no answer within {timeout:?}"))??;
    let (status, body) = parse_response(&raw)?;
    let value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            format!("{method} {endpoint}{path}: HTTP {status}, body is not JSON: {e}")
        })?
    };
    Ok((status, value))
}

/// GET that must answer 200.
pub async fn get_json(endpoint: &str, path: &str) -> Result<Value, String> {
    let (status, v) = request(endpoint, "GET", path, None, Duration::from_secs(5)).await?;
    if status != 200 {
        return Err(format!(
            "GET {endpoint}{path}: HTTP {status}: {}",
            v.to_string().chars().take(300).collect::<String>()
        ));
    }
    Ok(v)
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
        // The size comes from the peer: `size + 2` must not overflow (a chunk size of
        // `ffffffffffffffff` would wrap and pass the length check, then panic in the slice).
        let (Some(chunk), Some(after)) = (rest.get(..size), size.checked_add(2)) else {
            return Err("truncated chunk".into());
        };
        let Some(next) = rest.get(after..) else {
            return Err("truncated chunk".into());
        };
        out.extend_from_slice(chunk);
        rest = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

    /// A chunk size near `usize::MAX` from the peer used to overflow `size + 2` (a panic in
    /// debug builds, a wrapped length check and an out-of-range slice in release): an error now.
    #[test]
    fn a_huge_chunk_size_is_a_truncated_chunk_not_a_panic() {
        for size in ["ffffffffffffffff", "fffffffffffffffe", "7fffffffffffffff"] {
            let raw = [CHUNKED, size.as_bytes(), b"\r\nab\r\n0\r\n\r\n"].concat();
            assert_eq!(
                parse_response(&raw),
                Err("truncated chunk".to_string()),
                "{size}"
            );
        }
    }

    proptest::proptest! {
        /// Whatever chunk size and bytes a peer sends, the parser answers without panicking,
        /// and what it decodes is the status sent and no more than the bytes that came.
        #[test]
        fn any_chunked_body_parses_or_fails_without_panicking(
            size in "[0-9a-fA-F]{1,17}",
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        ) {
            let raw = [CHUNKED, size.as_bytes(), b"\r\n", &data].concat();
            if let Ok((status, body)) = parse_response(&raw) {
                proptest::prop_assert_eq!(status, 200);
                proptest::prop_assert!(body.len() <= data.len());
            }
        }
    }
}
