//! Decisions as alerts on the alerts topic: actions, completed and failed rescales, deferrals
//! and the skips an operator should see (paused, cooldown, bounds, quota, stabilising...). A
//! job left stopped is critical. Duplicates, OK transitions and rescale progress are audit-only.

use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use serde_json::Value;
use streamops_shared::AwsCallError;

pub struct DecisionNotifier {
    client: Client,
    topic_arn: String,
}

/// Subject and severity of a decision entry, or `None` when it is not worth a message.
pub fn render(entry: &Value) -> Option<(String, &'static str)> {
    let target = entry["target"].as_str().unwrap_or("?");
    let subject = match entry["decision"].as_str()? {
        "act" => {
            return Some((
                format!(
                    "[streamops scaler] {target}: {} -> {}",
                    entry["from"], entry["to"]
                ),
                "info",
            ));
        }
        "failed" => {
            return Some((
                format!(
                    "[streamops scaler] {target}: resize to {} FAILED",
                    entry["to"]
                ),
                "error",
            ));
        }
        "rescaled" => {
            return Some((
                format!(
                    "[streamops scaler] {target}: rescaled {} -> {}",
                    entry["from"], entry["to"]
                ),
                "info",
            ));
        }
        "stranded" => {
            return Some((
                format!("[streamops scaler] {target}: job STOPPED, resubmission failed"),
                "critical",
            ));
        }
        "defer" => format!(
            "[streamops scaler] {target}: deferred ({})",
            entry["reason"].as_str().unwrap_or("?")
        ),
        "skip" => match entry["reason"].as_str()? {
            "duplicate" | "not_alarm" | "actions_suppressed" => return None,
            reason => format!("[streamops scaler] {target}: not scaled ({reason})"),
        },
        _ => return None,
    };
    Some((subject, "warning"))
}

impl DecisionNotifier {
    pub fn new(client: Client, topic_arn: &str) -> Self {
        Self {
            client,
            topic_arn: topic_arn.to_string(),
        }
    }

    pub async fn notify(&self, entry: &Value) -> Result<(), AwsCallError> {
        let Some((subject, severity)) = render(entry) else {
            return Ok(());
        };
        let attr = |v: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .expect("data_type is set")
        };
        let target = entry["target"].as_str().unwrap_or("?");
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject.chars().take(99).collect::<String>())
            .message(serde_json::to_string_pretty(entry).expect("JSON"))
            .message_attributes("severity", attr(severity))
            .message_attributes("source", attr("streamops.scaler"))
            .message_attributes("fingerprint", attr(&format!("scaler:{target}")))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsCallError::from_sdk("Publish", &self.topic_arn, &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_is_worth_a_message() {
        let (s, sev) =
            render(&json!({"decision": "act", "target": "raw", "from": 2, "to": 4})).unwrap();
        assert_eq!(
            (s.as_str(), sev),
            ("[streamops scaler] raw: 2 -> 4", "info")
        );
        assert_eq!(
            render(&json!({"decision": "skip", "target": "raw", "reason": "cooldown"}))
                .unwrap()
                .1,
            "warning"
        );
        assert_eq!(
            render(&json!({"decision": "failed", "target": "raw", "to": 4}))
                .unwrap()
                .1,
            "error"
        );
        assert!(
            render(&json!({"decision": "skip", "target": "raw", "reason": "duplicate"})).is_none()
        );
        assert!(
            render(&json!({"decision": "skip", "target": "raw", "reason": "not_alarm"})).is_none()
        );
        assert_eq!(
            render(&json!({"decision": "stranded", "target": "job"}))
                .unwrap()
                .1,
            "critical"
        );
        assert_eq!(
            render(&json!({"decision": "defer", "target": "job", "reason": "busy"}))
                .unwrap()
                .0,
            "[streamops scaler] job: deferred (busy)"
        );
        assert!(render(&json!({"decision": "rescale_in_progress", "target": "job"})).is_none());
    }
}
