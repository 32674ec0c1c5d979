//! Health events on the default event bus, for the alerts function's rule. Built like the
//! scaler's notifier (functions/scaler/src/adapters/eventbridge.rs): one entry per event, the
//! entries PutEvents refuses (it answers 200 with them) read as a failed call.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::primitives::DateTime as AwsDateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use streamops_shared::aws::LazyClient;
use streamops_shared::error::classify_code;
use streamops_shared::{AwsCallError, ErrorClass};

use crate::health_event::{DETAIL_TYPE, HealthEvent, SOURCE};
use crate::ports::HealthNotifier;

/// The bus the alerts function's rule listens on.
pub const EVENT_BUS: &str = "default";

/// Built on first use: only the `health` command sends events.
pub struct EventBridgeHealth {
    pub client: LazyClient<Client>,
}

impl HealthNotifier for EventBridgeHealth {
    async fn publish(&self, event: &HealthEvent) -> Result<(), AwsCallError> {
        let detail = serde_json::to_string(event).map_err(|e| AwsCallError {
            operation: "PutEvents",
            resource: EVENT_BUS.to_string(),
            class: ErrorClass::Permanent,
            message: format!("the health event does not serialize: {e}"),
            code: None,
        })?;
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(EVENT_BUS)
            .source(SOURCE)
            .detail_type(DETAIL_TYPE)
            .detail(detail)
            .time(AwsDateTime::from_secs(event.at.timestamp()))
            .build();
        let out = self
            .client
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
}
