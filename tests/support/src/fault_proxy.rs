//! The fault-injecting AWS endpoint (`tests/support/fault_proxy.py`) from Rust tests: a proxy
//! process in front of a moto server, with its rules set and its counts read over HTTP. Point
//! SDK clients at [`FaultProxy::endpoint`] (e.g. with [`crate::sdk_config_for`]); they reach
//! moto through it and meet the faults the rules describe.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::{MotoServer, repo_root};

/// A proxy process, killed when dropped.
pub struct FaultProxy {
    child: Child,
    pub port: u16,
}

impl FaultProxy {
    /// Starts the proxy in front of `moto` (the venv's Python, as moto itself).
    pub fn start(moto: &MotoServer) -> Self {
        let venv = std::env::var("STREAMOPS_VENV")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| repo_root().join(".venv"));
        let mut child = Command::new(venv.join("bin/python"))
            .arg(repo_root().join("tests/support/fault_proxy.py"))
            .args(["--upstream", &moto.endpoint()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start the fault proxy: {e} (run `make setup`)"));
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout is piped");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the fault proxy prints its port");
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the fault proxy: {line:?}"));
        FaultProxy { child, port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Replaces the rules (see the proxy's docs for their shape), e.g.
    /// `json!([{"service": "dynamodb", "operation": "PutItem", "fault": "lost", "times": 1}])`.
    pub fn set_rules(&self, rules: Value) {
        let (status, body) = self.control("PUT", "rules", &json!({ "rules": rules }).to_string());
        assert_eq!(status, 200, "fault proxy refused the rules: {body}");
    }

    /// How many faults were injected for `service` (all services: `None`).
    pub fn injected(&self, service: Option<&str>) -> u64 {
        let stats = self.stats();
        stats["injected"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| service.is_none_or(|s| e["service"] == s))
            .filter_map(|e| e["count"].as_u64())
            .sum()
    }

    /// What the proxy saw, forwarded and injected.
    pub fn stats(&self) -> Value {
        let (status, body) = self.control("GET", "stats", "");
        assert_eq!(status, 200, "fault proxy stats: {body}");
        serde_json::from_str(&body).expect("stats are JSON")
    }

    fn control(&self, method: &str, what: &str, body: &str) -> (u16, String) {
        let mut stream =
            TcpStream::connect(("127.0.0.1", self.port)).expect("connect to the fault proxy");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("set a read timeout");
        let request = format!(
            "{method} /__faults__/{what} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .expect("send to the fault proxy");
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .expect("read the fault proxy's answer");
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = answer
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_string();
        (status, body)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
