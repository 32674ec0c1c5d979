//! Health events on the default event bus, for the alerts function's rule
//! (`streamops_shared::suite_events`, as the scaler's decisions).

use aws_sdk_eventbridge::Client;
use streamops_shared::AwsCallError;
use streamops_shared::aws::LazyClient;
use streamops_shared::suite_events::{EventType, put_event};

use crate::health_event::{DETAIL_TYPE, HealthEvent, SOURCE};
use crate::ports::HealthNotifier;
use crate::savepoint::{DETAIL_TYPE as SAVEPOINT_DETAIL_TYPE, SavepointEvent};

/// Built on first use: only the `health` and `savepoint` commands send events.
pub struct EventBridgeHealth {
    pub client: LazyClient<Client>,
}

impl HealthNotifier for EventBridgeHealth {
    async fn publish(&self, event: &HealthEvent) -> Result<(), AwsCallError> {
        let kind = EventType {
            source: SOURCE,
            detail_type: DETAIL_TYPE,
        };
        put_event(&self.client, kind, event, event.at).await
    }

    async fn publish_savepoint(&self, event: &SavepointEvent) -> Result<(), AwsCallError> {
        let kind = EventType {
            source: SOURCE,
            detail_type: SAVEPOINT_DETAIL_TYPE,
        };
        put_event(&self.client, kind, event, event.at).await
    }
}
