//! The suite's own events on the default EventBridge bus, where the alerts function's rules
//! take them (this stack's functions only) and turn them into alerts: the scaler's decisions,
//! checkpoint health, Iceberg maintenance. One entry per call; PutEvents answers 200 with the
//! entries it refused, which are read as a failed call with their error code classified.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::primitives::DateTime as AwsDateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use chrono::{DateTime, Utc};

use crate::error::{AwsCallError, ErrorClass, classify_code};

/// The bus the alerts function's rules listen on.
pub const EVENT_BUS: &str = "default";

/// What an event is: its `source` and `detail-type`, as the alerts rule matches them.
#[derive(Debug, Clone, Copy)]
pub struct EventType {
    pub source: &'static str,
    pub detail_type: &'static str,
}

/// Puts one event of `kind` with `detail` (serialized as JSON) at `at` on the default bus.
pub async fn put_event(
    client: &Client,
    kind: EventType,
    detail: &impl serde::Serialize,
    at: DateTime<Utc>,
) -> Result<(), AwsCallError> {
    let detail = serde_json::to_string(detail).map_err(|e| AwsCallError {
        operation: "PutEvents",
        resource: EVENT_BUS.to_string(),
        class: ErrorClass::Permanent,
        message: format!("the {} event does not serialize: {e}", kind.detail_type),
        code: None,
    })?;
    let entry = PutEventsRequestEntry::builder()
        .event_bus_name(EVENT_BUS)
        .source(kind.source)
        .detail_type(kind.detail_type)
        .detail(detail)
        .time(AwsDateTime::from_secs(at.timestamp()))
        .build();
    let out = client
        .put_events()
        .entries(entry)
        .send()
        .await
        .map_err(|e| AwsCallError::from_sdk("PutEvents", EVENT_BUS, &e))?;
    if out.failed_entry_count() == 0 {
        return Ok(());
    }
    let failed = out.entries().iter().find(|e| e.error_code().is_some());
    let code = failed.and_then(|e| e.error_code()).map(str::to_string);
    Err(AwsCallError {
        operation: "PutEvents",
        resource: EVENT_BUS.to_string(),
        class: classify_code(code.as_deref(), None),
        message: failed
            .and_then(|e| e.error_message())
            .unwrap_or("the event was not accepted")
            .to_string(),
        code,
    })
}
