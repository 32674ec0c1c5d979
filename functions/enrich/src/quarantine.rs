//! The quarantine: poison records, one S3 object per batch, NDJSON. Each line carries the
//! original bytes (base64), the source coordinates and the reason, enough to replay the record
//! after a fix. Poison is written once and never retried by Lambda. Pure: the
//! [`crate::ports::Quarantine`] port stores the objects.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::input::{InputRecord, Original};
use crate::origin::RecordOrigin;
use crate::poison::{Poison, PoisonReason};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantineEntry {
    pub reason: PoisonReason,
    pub message: String,
    pub origin: RecordOrigin,
    /// The payload bytes, base64; absent when the payload could not be decoded at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_base64: Option<String>,
    /// The payload text as delivered, when it was not valid base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_as_delivered: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Value>,
    pub event_id: String,
    pub spec: String,
    pub quarantined_at: String,
    pub request_id: String,
    /// How many times this entry has been replayed and found poison again.
    #[serde(default)]
    pub replays: u32,
}

impl QuarantineEntry {
    pub fn new(
        record: &InputRecord,
        poison: &Poison,
        spec: &str,
        now: DateTime<Utc>,
        request_id: &str,
    ) -> Self {
        let (data_base64, data_as_delivered) = match &record.original {
            Original::Bytes(b) => (Some(STANDARD.encode(b)), None),
            Original::Undecoded(text) => (None, Some(text.clone())),
        };
        Self {
            reason: poison.reason,
            message: poison.message.clone(),
            origin: record.origin.clone(),
            data_base64,
            data_as_delivered,
            headers: crate::input::kafka_headers_json(&record.headers),
            event_id: record.origin.event_id(),
            spec: spec.to_string(),
            quarantined_at: now.to_rfc3339_opts(SecondsFormat::Millis, true),
            request_id: request_id.to_string(),
            replays: 0,
        }
    }

    /// Back to an input record, for replay.
    pub fn to_input(&self) -> InputRecord {
        let original = match (&self.data_base64, &self.data_as_delivered) {
            (Some(b64), _) => match STANDARD.decode(b64) {
                Ok(bytes) => Original::Bytes(bytes),
                Err(_) => Original::Undecoded(b64.clone()),
            },
            (None, Some(text)) => Original::Undecoded(text.clone()),
            (None, None) => Original::Bytes(Vec::new()),
        };
        let poison = match &original {
            Original::Undecoded(_) => Some(Poison::new(
                PoisonReason::InvalidBase64,
                "payload was not valid base64 when delivered",
            )),
            Original::Bytes(_) => None,
        };
        InputRecord {
            origin: self.origin.clone(),
            original,
            poison,
            headers: crate::input::kafka_headers_from_json(self.headers.as_ref()),
        }
    }
}

/// `<prefix><source>/<stream>/dt=YYYY-MM-DD/<time>-<request-id>.ndjson`: one object per batch,
/// partitioned by day so lifecycle rules and Athena can read it.
pub fn object_key(
    prefix: &str,
    origin: &RecordOrigin,
    now: DateTime<Utc>,
    request_id: &str,
) -> String {
    let safe = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    format!(
        "{prefix}{}/{}/dt={}/{}-{}.ndjson",
        origin.source.as_str(),
        safe(&origin.stream),
        now.format("%Y-%m-%d"),
        now.format("%H%M%S%3f"),
        safe(request_id)
    )
}

pub fn render_ndjson(entries: &[QuarantineEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        // Strings, numbers and JSON values into a Vec: nothing here can fail to serialize.
        serde_json::to_writer(&mut out, e).expect("entries always serialize");
        out.push(b'\n');
    }
    out
}

pub fn parse_ndjson(bytes: &[u8]) -> Result<Vec<QuarantineEntry>, String> {
    let text =
        std::str::from_utf8(bytes).map_err(|e| format!("quarantine object is not UTF-8: {e}"))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| format!("line {}: not a quarantine entry: {e}", i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::SourceKind;

    fn record(original: Original) -> InputRecord {
        InputRecord {
            origin: RecordOrigin {
                source: SourceKind::Msk,
                stream: "click events".into(),
                shard: "3".into(),
                position: "42".into(),
                arrival: None,
                key: Some("dTE=".into()),
                sub_sequence: None,
            },
            original,
            poison: None,
            headers: Vec::new(),
        }
    }

    #[test]
    fn entries_round_trip_with_original_bytes() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T10:11:12.345Z")
            .unwrap()
            .to_utc();
        let poison = Poison::new(PoisonReason::InvalidJson, "invalid JSON at line 1 column 2");
        let a = QuarantineEntry::new(
            &record(Original::Bytes(vec![0xff, b'{'])),
            &poison,
            "spec",
            now,
            "req-1",
        );
        let b = QuarantineEntry::new(
            &record(Original::Undecoded("%%%".into())),
            &poison,
            "spec",
            now,
            "req-1",
        );
        let body = render_ndjson(&[a.clone(), b.clone()]);
        assert_eq!(body.iter().filter(|c| **c == b'\n').count(), 2);
        let back = parse_ndjson(&body).unwrap();
        assert_eq!(back, vec![a.clone(), b]);
        assert_eq!(back[0].to_input().bytes(), &[0xff, b'{']);
        assert_eq!(
            back[1].to_input().poison.unwrap().reason,
            PoisonReason::InvalidBase64
        );
        assert_eq!(
            object_key("quarantine/", &a.origin, now, "req/1"),
            "quarantine/msk/click_events/dt=2026-11-23/101112345-req_1.ndjson"
        );
        assert!(
            parse_ndjson(b"{\"x\":1}\n")
                .unwrap_err()
                .starts_with("line 1")
        );
    }
}
