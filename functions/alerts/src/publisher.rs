//! SNS adapter.

use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use streamops_shared::AwsCallError;

use crate::ports::Publisher;
use crate::render::SnsMessage;

#[derive(Clone)]
pub struct AlertPublisher {
    client: Client,
    topic_arn: String,
}

impl AlertPublisher {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

impl Publisher for AlertPublisher {
    /// Publishes and returns the SNS message id.
    async fn publish(&self, message: &SnsMessage) -> Result<String, AwsCallError> {
        let mut request = self
            .client
            .publish()
            .topic_arn(message.topic.as_deref().unwrap_or(&self.topic_arn))
            .subject(&message.subject)
            .message(&message.body);
        for (name, value) in &message.attributes {
            // The builder fails only without data_type, set here.
            let attr = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .expect("data_type is set");
            request = request.message_attributes(*name, attr);
        }
        let out = request.send().await.map_err(|e| {
            let topic = message.topic.as_deref().unwrap_or(&self.topic_arn);
            AwsCallError::from_sdk("Publish", format!("topic {topic}"), &e)
        })?;
        Ok(out.message_id.unwrap_or_default())
    }
}
