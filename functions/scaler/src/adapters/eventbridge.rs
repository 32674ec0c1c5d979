//! Notifications as EventBridge events on the default bus, for the alerts function's rule
//! (`streamops_shared::suite_events`).

use aws_sdk_eventbridge::Client;
use streamops_shared::AwsCallError;
use streamops_shared::aws::LazyClient;
use streamops_shared::suite_events::{EventType, put_event};

use crate::notify::{DETAIL_TYPE, DecisionEvent, SOURCE};
use crate::ports::Notifier;

pub struct EventBridgeNotifier {
    pub client: LazyClient<Client>,
}

impl Notifier for EventBridgeNotifier {
    async fn publish(&self, event: &DecisionEvent) -> Result<(), AwsCallError> {
        let kind = EventType {
            source: SOURCE,
            detail_type: DETAIL_TYPE,
        };
        put_event(&self.client, kind, event, event.at).await
    }
}
