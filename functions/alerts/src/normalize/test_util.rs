//! What the tests of the normalizers of our own events share: one alert from a payload, and a
//! detail of it by name.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{NormalizeOptions, normalize};
use crate::model::Alert;

/// The one alert `v` normalizes to at `now`, with the default options.
pub fn one_at(v: &Value, now: DateTime<Utc>) -> Alert {
    let mut alerts = normalize(v, now, &NormalizeOptions::default());
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    alerts.remove(0)
}

/// The value of the detail named `key`.
pub fn detail<'a>(a: &'a Alert, key: &str) -> Option<&'a str> {
    a.details
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}
