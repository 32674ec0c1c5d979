//! The payloads the function accepts, parsed once by [`streamops_shared::object_event`]: direct
//! S3 notifications, EventBridge `Object Created` / `Object Deleted`, and the same through SQS or
//! SNS. Each record is an object event or a skip the handler reports as ignored.

use serde_json::Value;
use streamops_shared::object_event::{self, Item, ParseError};

/// Every object event (or skip) a payload carries, or why the payload is none of the shapes.
pub fn parse_events(payload: &Value) -> Result<Vec<Item>, String> {
    match object_event::parse(payload.clone()) {
        Ok(batch) => Ok(batch.into_items().collect()),
        Err(ParseError::UnknownShape(keys)) => Err(format!(
            "payload is neither an S3 event (`Records`), an EventBridge S3 event (`detail-type`) nor an ops command (`command`); keys seen: {}",
            keys.join(", ")
        )),
        Err(e @ ParseError::UnknownRecords(_)) => Err(format!("not an S3 object event: {e}")),
        Err(ParseError::Malformed { what, error }) => Err(format!("not a valid {what}: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_payloads_name_what_they_are() {
        let e = parse_events(&json!({"hello": 1, "world": 2})).unwrap_err();
        assert!(e.ends_with("keys seen: hello, world"), "{e}");
        let e = parse_events(&json!({"Records": [{"eventSource": "aws:kinesis"}]})).unwrap_err();
        assert!(e.contains("aws:kinesis"), "{e}");
        let e = parse_events(&json!({"Records": [{"eventSource": "aws:s3"}]})).unwrap_err();
        assert!(e.starts_with("not a valid S3 event"), "{e}");
    }
}
