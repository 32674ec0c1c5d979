//! Maintenance results worth a person's look, as EventBridge events on the default bus (source
//! `streamops.partitions`, detail-type `Iceberg Maintenance`), where the alerts function's rule
//! turns them into alerts (functions/alerts/src/normalize/partitions.rs), the way the scaler's
//! decisions reach it.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::primitives::DateTime as AwsDateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use streamops_shared::AwsCallError;
use streamops_shared::aws::LazyClient;
use streamops_shared::error::classify_code;

use crate::maintenance::MaintenanceEvent;
use crate::ports::EventPublisher;

/// The event's `source`.
pub const SOURCE: &str = "streamops.partitions";
/// The event's `detail-type`.
pub const DETAIL_TYPE: &str = "Iceberg Maintenance";
/// The bus the alerts function's rule listens on.
pub const EVENT_BUS: &str = "default";

pub struct EventBridgeEvents {
    pub client: LazyClient<Client>,
}

impl EventPublisher for EventBridgeEvents {
    async fn publish(&self, event: &MaintenanceEvent) -> Result<(), AwsCallError> {
        // Strings and numbers: serializing cannot fail.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maintenance::{Operation, QueryOutcome};
    use chrono::DateTime;

    #[test]
    fn the_detail_carries_the_outcome_flat_as_alerts_reads_it() {
        let e = MaintenanceEvent {
            event_id: "req-1/db.t/optimize".into(),
            function: "stack-partitions".into(),
            table: "db.t".into(),
            operation: Operation::Optimize,
            outcome: QueryOutcome::Stopped {
                query_execution_id: "q-1".into(),
                seconds: 600.5,
                reason: "ran past its max_runtime_seconds (600)".into(),
                stop_error: None,
            },
            max_runtime_seconds: 600,
            at: DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
                .unwrap()
                .to_utc(),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"event_id": "req-1/db.t/optimize", "function": "stack-partitions",
                "table": "db.t", "operation": "optimize", "outcome": "stopped",
                "query_execution_id": "q-1", "seconds": 600.5, "max_runtime_seconds": 600,
                "reason": "ran past its max_runtime_seconds (600)",
                "at": "2026-11-23T12:00:00Z"})
        );
    }
}
