//! SQS adapter for the groups' delayed flushes and the re-checks of held alerts: one message
//! each, delayed by SQS itself (`DelaySeconds`, at most 900), consumed by the function's event
//! source mapping.

use aws_sdk_sqs::Client;
use streamops_shared::AwsCallError;
use streamops_shared::aws::LazyClient;

use crate::context::HeldAlert;
use crate::group::FlushRequest;
use crate::ports::FlushQueue;

#[derive(Clone)]
pub struct SqsFlushQueue {
    client: LazyClient<Client>,
    queue_url: String,
}

impl SqsFlushQueue {
    pub fn new(client: impl Into<LazyClient<Client>>, queue_url: impl Into<String>) -> Self {
        Self {
            client: client.into(),
            queue_url: queue_url.into(),
        }
    }
}

/// What a flush message's body is: `{"group_flush": {"group": ..., "flush": n}}`.
pub fn flush_body(request: &FlushRequest) -> String {
    serde_json::json!({ "group_flush": request }).to_string()
}

/// What a re-check message's body is: `{"held_recheck": {...}}`.
pub fn recheck_body(held: &HeldAlert) -> String {
    serde_json::json!({ "held_recheck": held }).to_string()
}

impl SqsFlushQueue {
    async fn send(&self, body: String, delay_seconds: u64) -> Result<(), AwsCallError> {
        // SQS delays a message at most 900 s.
        let delay = delay_seconds.min(crate::group::MAX_DELAY_SECONDS) as i32;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(delay)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                AwsCallError::from_sdk("SendMessage", format!("queue {}", self.queue_url), &e)
            })
    }
}

impl FlushQueue for SqsFlushQueue {
    async fn schedule(&self, request: &FlushRequest) -> Result<(), AwsCallError> {
        self.send(flush_body(request), request.delay_seconds).await
    }

    async fn schedule_recheck(&self, held: &HeldAlert) -> Result<(), AwsCallError> {
        self.send(recheck_body(held), held.delay_seconds).await
    }
}
