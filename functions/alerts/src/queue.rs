//! SQS adapter for the groups' delayed flushes: one message per scheduled flush, delayed by
//! SQS itself (`DelaySeconds`, at most 900), consumed by the function's event source mapping.

use aws_sdk_sqs::Client;
use streamops_shared::AwsCallError;
use streamops_shared::aws::LazyClient;

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

impl FlushQueue for SqsFlushQueue {
    async fn schedule(&self, request: &FlushRequest) -> Result<(), AwsCallError> {
        // Bounded by the config (wait and interval at most 900 s); the clamp keeps SQS's rule.
        let delay = request.delay_seconds.min(crate::group::MAX_DELAY_SECONDS) as i32;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(flush_body(request))
            .delay_seconds(delay)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                AwsCallError::from_sdk("SendMessage", format!("queue {}", self.queue_url), &e)
            })
    }
}
