//! A Kafka record as the MSK (or self-managed Kafka) event source mapping delivers it, with its
//! timestamp read exactly.
//!
//! aws_lambda_events 1.2.1's `KafkaRecord` reads `timestamp` through a float: epoch
//! milliseconds are divided by 1000 and the fraction truncated, so about half of all
//! timestamps come out 1 ms early (`1545084650987` becomes .986 s); it panics (an
//! `assert_eq!` in the deserializer) on a timestamp that is not a whole number, which fails
//! the whole batch; and it rejects Kafka's "no timestamp" (`-1`). [`KafkaWire`] has the same
//! members with the same rules, except the timestamp, which is a [`KafkaTimestamp`]: exact,
//! `-1` meaning none, and anything else unusable noted for that record alone. Both the
//! one-pass path and the record-by-record path in [`crate::input`] read records with it.

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::Value;

/// The members of a Kafka event record (the same ones, optional and required alike, as
/// aws_lambda_events' `KafkaRecord`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaWire {
    #[serde(default)]
    pub topic: Option<String>,
    pub partition: i64,
    pub offset: i64,
    pub timestamp: KafkaTimestamp,
    // Not used, but read as aws_lambda_events reads it: a record is held to the same schema.
    #[serde(default)]
    #[allow(dead_code)]
    pub timestamp_type: Option<String>,
    pub key: Option<String>,
    pub value: Option<String>,
    pub headers: Vec<HashMap<String, Vec<i8>>>,
}

/// A Kafka record timestamp: epoch milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub enum KafkaTimestamp {
    At(DateTime<Utc>),
    /// `-1`: the record has no timestamp (Kafka's `NO_TIMESTAMP`). Accepted, no arrival time.
    None,
    /// Not a whole number of milliseconds in chrono's range (the text as delivered): the
    /// record is poison, the rest of the batch is not.
    Invalid(String),
}

impl KafkaTimestamp {
    fn from_millis(ms: i64) -> Self {
        match ms {
            -1 => KafkaTimestamp::None,
            ms if ms < 0 => KafkaTimestamp::Invalid(ms.to_string()),
            ms => DateTime::from_timestamp_millis(ms)
                .map(KafkaTimestamp::At)
                .unwrap_or_else(|| KafkaTimestamp::Invalid(ms.to_string())),
        }
    }

    fn from_f64(v: f64) -> Self {
        // Whole floats (1.5e12, 1545084650987.0) are exact as i64 well beyond any real time.
        if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15 {
            KafkaTimestamp::from_millis(v as i64)
        } else {
            KafkaTimestamp::Invalid(v.to_string())
        }
    }

    fn from_text(s: &str) -> Self {
        let t = s.trim();
        if let Ok(ms) = t.parse::<i64>() {
            return KafkaTimestamp::from_millis(ms);
        }
        match t.parse::<f64>() {
            Ok(v) if v.is_finite() => KafkaTimestamp::from_f64(v),
            _ => KafkaTimestamp::Invalid(format!("{s:?}")),
        }
    }

    /// The same reading of a member of an already parsed record (the per-record salvage path).
    pub fn from_value(v: &Value) -> Self {
        match v {
            Value::Number(n) => match n.as_i64() {
                Some(ms) => KafkaTimestamp::from_millis(ms),
                None => KafkaTimestamp::from_f64(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => KafkaTimestamp::from_text(s),
            other => KafkaTimestamp::Invalid(other.to_string()),
        }
    }

    /// The arrival time it gives the record.
    pub fn arrival(&self) -> Option<DateTime<Utc>> {
        match self {
            KafkaTimestamp::At(t) => Some(*t),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for KafkaTimestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TimestampVisitor)
    }
}

struct TimestampVisitor;

impl Visitor<'_> for TimestampVisitor {
    type Value = KafkaTimestamp;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("epoch milliseconds")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<KafkaTimestamp, E> {
        Ok(KafkaTimestamp::from_millis(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<KafkaTimestamp, E> {
        Ok(i64::try_from(v)
            .map(KafkaTimestamp::from_millis)
            .unwrap_or_else(|_| KafkaTimestamp::Invalid(v.to_string())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<KafkaTimestamp, E> {
        Ok(KafkaTimestamp::from_f64(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<KafkaTimestamp, E> {
        Ok(KafkaTimestamp::from_text(v))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<KafkaTimestamp, E> {
        Ok(KafkaTimestamp::Invalid(v.to_string()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<KafkaTimestamp, E> {
        Ok(KafkaTimestamp::Invalid("null".into()))
    }

    fn visit_none<E: de::Error>(self) -> Result<KafkaTimestamp, E> {
        Ok(KafkaTimestamp::Invalid("null".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(ts: &str) -> (KafkaTimestamp, KafkaTimestamp) {
        let text = format!(
            r#"{{"topic":"t","partition":0,"offset":1,"timestamp":{ts},"timestampType":"CREATE_TIME","key":null,"value":"e30=","headers":[]}}"#
        );
        let sonic: KafkaWire = sonic_rs::from_str(&text).unwrap();
        let serde: KafkaWire = serde_json::from_str(&text).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            KafkaTimestamp::from_value(&v["timestamp"]),
            serde.timestamp,
            "{ts}"
        );
        (sonic.timestamp, serde.timestamp)
    }

    #[test]
    fn timestamps_are_exact_and_the_same_on_both_parsers() {
        // 1545084650987 / 1000 as a float is 1545084650.98699..: the float reading says .986.
        for (ts, millis) in [
            ("1545084650987", 1_545_084_650_987i64),
            ("1795425335101", 1_795_425_335_101),
            ("1795425335999", 1_795_425_335_999),
            ("1545084650987.0", 1_545_084_650_987),
            ("\"1545084650987\"", 1_545_084_650_987),
        ] {
            let (a, b) = read(ts);
            assert_eq!(a, b, "{ts}");
            assert_eq!(a.arrival().unwrap().timestamp_millis(), millis, "{ts}");
        }
    }

    #[test]
    fn no_timestamp_and_unusable_ones() {
        assert_eq!(read("-1"), (KafkaTimestamp::None, KafkaTimestamp::None));
        for ts in ["1545084650987.5", "-5", "\"soon\"", "null", "true"] {
            let (a, b) = read(ts);
            assert_eq!(a, b, "{ts}");
            assert!(matches!(a, KafkaTimestamp::Invalid(_)), "{ts}: {a:?}");
        }
        assert_eq!(
            read("1545084650987.5").0,
            KafkaTimestamp::Invalid("1545084650987.5".into())
        );
    }

    #[test]
    fn aws_lambda_events_misreads_what_this_reads_exactly() {
        // Proof that the type is needed: when this fails, it is fixed upstream.
        let text = r#"{"topic":"t","partition":0,"offset":1,"timestamp":1545084650987,"timestampType":"CREATE_TIME","key":null,"value":"e30=","headers":[]}"#;
        let upstream: aws_lambda_events::kafka::KafkaRecord = serde_json::from_str(text).unwrap();
        assert_eq!(upstream.timestamp.timestamp_subsec_millis(), 986);
        let upstream = serde_json::from_str::<aws_lambda_events::kafka::KafkaRecord>(
            &text.replace("1545084650987", "-1"),
        );
        assert!(upstream.is_err());
    }
}
