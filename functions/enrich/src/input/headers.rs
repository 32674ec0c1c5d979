//! Kafka record headers in the quarantine: readable where they are text.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::batch::KafkaHeaders;

/// Kafka headers arrive as lists of signed bytes; in the quarantine they are kept readable
/// where they are text (`base64:` and the bytes where they are not).
pub fn kafka_headers_json(headers: &KafkaHeaders) -> Option<Value> {
    if headers.is_empty() {
        return None;
    }
    let mut out = serde_json::Map::new();
    for h in headers {
        for (name, bytes) in h {
            let raw: Vec<u8> = bytes.iter().map(|b| *b as u8).collect();
            let v = match String::from_utf8(raw) {
                Ok(text) => Value::String(text),
                Err(e) => Value::String(format!("base64:{}", STANDARD.encode(e.as_bytes()))),
            };
            out.insert(name.clone(), v);
        }
    }
    Some(Value::Object(out))
}

/// The inverse of [`kafka_headers_json`], for records replayed from the quarantine.
pub fn kafka_headers_from_json(headers: Option<&Value>) -> KafkaHeaders {
    let Some(Value::Object(map)) = headers else {
        return Vec::new();
    };
    map.iter()
        .filter_map(|(name, v)| {
            let text = v.as_str()?;
            let bytes = match text.strip_prefix("base64:") {
                Some(b64) => STANDARD.decode(b64).ok()?,
                None => text.as_bytes().to_vec(),
            };
            let signed = bytes.into_iter().map(|b| b as i8).collect();
            Some(std::collections::HashMap::from([(name.clone(), signed)]))
        })
        .collect()
}
