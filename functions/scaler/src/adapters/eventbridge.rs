//! Notifications as EventBridge events on the default bus, for the alerts function's rule.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::primitives::DateTime as AwsDateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use streamops_shared::AwsCallError;
use streamops_shared::aws::LazyClient;
use streamops_shared::error::classify_code;

use crate::notify::{DETAIL_TYPE, DecisionEvent, SOURCE};
use crate::ports::Notifier;

/// The bus the alerts function's rule listens on.
pub const EVENT_BUS: &str = "default";

pub struct EventBridgeNotifier {
    pub client: LazyClient<Client>,
}

impl Notifier for EventBridgeNotifier {
    async fn publish(&self, event: &DecisionEvent) -> Result<(), AwsCallError> {
        // A decision event is strings and numbers: serializing cannot fail.
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(EVENT_BUS)
            .source(SOURCE)
            .detail_type(DETAIL_TYPE)
            .detail(serde_json::to_string(event).expect("events serialize"))
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
        // PutEvents answers 200 with the entries it refused.
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
