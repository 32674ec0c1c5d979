//! Kafka record headers in the quarantine: readable where they are text, and given back as
//! delivered (order, repeated names and bytes) when the entry is replayed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use super::batch::KafkaHeaders;

/// A binary header value (or text that could be taken for one) is written as this prefix and
/// the base64 of its bytes.
const BINARY: &str = "base64:";

/// Kafka headers arrive as lists of signed bytes; in the quarantine they are kept readable
/// where they are text (`base64:` and the bytes where they are not, or where the text itself
/// starts with `base64:`). An object of name to value when the names are distinct and in name
/// order (the usual case, and all an object can keep); otherwise a list of one-member objects
/// in delivered order, so repeated names and their order survive.
pub fn kafka_headers_json(headers: &KafkaHeaders) -> Option<Value> {
    if headers.is_empty() {
        return None;
    }
    let pairs: Vec<(&String, Value)> = headers
        .iter()
        .flatten()
        .map(|(name, bytes)| (name, header_value(bytes)))
        .collect();
    if pairs.windows(2).all(|w| w[0].0 < w[1].0) {
        let map: Map<String, Value> = pairs.into_iter().map(|(n, v)| (n.clone(), v)).collect();
        return Some(Value::Object(map));
    }
    let list = pairs
        .into_iter()
        .map(|(n, v)| Value::Object(Map::from_iter([(n.clone(), v)])))
        .collect();
    Some(Value::Array(list))
}

fn header_value(bytes: &[i8]) -> Value {
    let raw: Vec<u8> = bytes.iter().map(|b| *b as u8).collect();
    match String::from_utf8(raw) {
        Ok(text) if !text.starts_with(BINARY) => Value::String(text),
        Ok(text) => Value::String(format!("{BINARY}{}", STANDARD.encode(text))),
        Err(e) => Value::String(format!("{BINARY}{}", STANDARD.encode(e.as_bytes()))),
    }
}

/// The inverse of [`kafka_headers_json`], for records replayed from the quarantine (either
/// form; entries written before the list form are objects).
pub fn kafka_headers_from_json(headers: Option<&Value>) -> KafkaHeaders {
    let pairs: Box<dyn Iterator<Item = (&String, &Value)>> = match headers {
        Some(Value::Object(map)) => Box::new(map.iter()),
        Some(Value::Array(list)) => Box::new(list.iter().filter_map(Value::as_object).flatten()),
        _ => return Vec::new(),
    };
    pairs
        .filter_map(|(name, v)| {
            let text = v.as_str()?;
            let bytes = match text.strip_prefix(BINARY) {
                Some(b64) => STANDARD.decode(b64).ok()?,
                None => text.as_bytes().to_vec(),
            };
            let signed = bytes.into_iter().map(|b| b as i8).collect();
            Some(std::collections::HashMap::from([(name.clone(), signed)]))
        })
        .collect()
}
