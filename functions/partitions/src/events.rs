//! Maintenance results worth a person's look, as EventBridge events on the default bus (source
//! `streamops.partitions`, detail-type `Iceberg Maintenance`), where the alerts function's rule
//! turns them into alerts (functions/alerts/src/normalize/partitions.rs), the way the scaler's
//! decisions reach it (`streamops_shared::suite_events`).

use aws_sdk_eventbridge::Client;
use streamops_shared::AwsCallError;
use streamops_shared::aws::LazyClient;
use streamops_shared::suite_events::{EventType, put_event};

use crate::maintenance::MaintenanceEvent;
use crate::ports::EventPublisher;

/// The event's `source`.
pub const SOURCE: &str = "streamops.partitions";
/// The event's `detail-type`.
pub const DETAIL_TYPE: &str = "Iceberg Maintenance";

pub struct EventBridgeEvents {
    pub client: LazyClient<Client>,
}

impl EventPublisher for EventBridgeEvents {
    async fn publish(&self, event: &MaintenanceEvent) -> Result<(), AwsCallError> {
        let kind = EventType {
            source: SOURCE,
            detail_type: DETAIL_TYPE,
        };
        put_event(&self.client, kind, event, event.at).await
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
            follow_up: None,
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
        // A query left running without a follow-up says why.
        let left = MaintenanceEvent {
            outcome: QueryOutcome::LeftRunning {
                query_execution_id: "q-2".into(),
                seconds: 110.0,
            },
            follow_up: Some(crate::follow_up::FollowUp::Failed {
                reason: "AccessDenied".into(),
            }),
            ..e
        };
        let v = serde_json::to_value(&left).unwrap();
        assert_eq!(
            v["follow_up"],
            serde_json::json!({"state": "failed", "reason": "AccessDenied"})
        );
    }
}
