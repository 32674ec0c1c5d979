//! The alerts topic on moto with an SQS queue subscribed to it, to read what was published.

use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;

/// A queue named `name` on moto; its URL.
pub async fn queue(sdk: &SdkConfig, name: &str) -> String {
    aws_sdk_sqs::Client::new(sdk)
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap()
}

/// The topic `alerts` and a queue `subscriber` subscribed to it: (topic ARN, queue URL).
pub async fn topic_with_subscriber(sdk: &SdkConfig) -> (String, String) {
    named_topic_with_subscriber(sdk, "alerts", "subscriber").await
}

/// The topic `topic` and a queue `queue_name` subscribed to it: (topic ARN, queue URL).
pub async fn named_topic_with_subscriber(
    sdk: &SdkConfig,
    topic: &str,
    queue_name: &str,
) -> (String, String) {
    let sns = aws_sdk_sns::Client::new(sdk);
    let topic = sns
        .create_topic()
        .name(topic)
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let subscriber = queue(sdk, queue_name).await;
    let arn = aws_sdk_sqs::Client::new(sdk)
        .get_queue_attributes()
        .queue_url(&subscriber)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(arn)
        .send()
        .await
        .unwrap();
    (topic, subscriber)
}
