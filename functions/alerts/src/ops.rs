//! Ops commands, sent by hand (`aws lambda invoke`, `sam remote invoke`) as a JSON object with a
//! `command` field. Anything without `command` is treated as an event.

use serde::Deserialize;
use serde_json::Value;

use crate::model::Severity;
use crate::silence::CreateSilenceRequest;

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum AlertsCommand {
    /// Publish a test alert straight to the topic (no dedup, no silences) to check delivery.
    SendTestAlert(TestAlertRequest),
    CreateSilence(CreateSilenceRequest),
    ListSilences(ListSilencesRequest),
    RemoveSilence(RemoveSilenceRequest),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestAlertRequest {
    #[serde(default)]
    pub severity: Option<Severity>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListSilencesRequest {
    /// Also list silences that have ended but not yet expired from the table.
    #[serde(default)]
    pub include_expired: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveSilenceRequest {
    pub id: String,
}

pub const COMMANDS: &str = "send-test-alert, create-silence, list-silences, remove-silence";

/// `None` when the payload is not a command; `Some(Err)` with a clear message when it is one but
/// does not parse.
pub fn parse_command(payload: &Value) -> Option<Result<AlertsCommand, String>> {
    let name = payload.get("command")?;
    Some(
        serde_json::from_value::<AlertsCommand>(payload.clone()).map_err(|e| {
            let which = name.as_str().unwrap_or("<not a string>");
            format!("invalid ops command {which:?}: {e} (commands: {COMMANDS})")
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_parse_from_their_event_files() {
        for (file, expect) in [
            ("send-test-alert", "SendTestAlert"),
            ("create-silence", "CreateSilence"),
            ("list-silences", "ListSilences"),
            ("remove-silence", "RemoveSilence"),
        ] {
            let v = streamops_test_support::fixture(&format!("alerts/ops-{file}.json"));
            let cmd = parse_command(&v).unwrap().unwrap();
            assert!(format!("{cmd:?}").starts_with(expect), "{file}: {cmd:?}");
        }
    }

    #[test]
    fn events_are_not_commands() {
        assert!(parse_command(&json!({"detail-type": "x", "source": "y", "detail": {}})).is_none());
    }

    #[test]
    fn bad_commands_get_clear_errors() {
        let e = parse_command(&json!({"command": "reboot"}))
            .unwrap()
            .unwrap_err();
        assert!(
            e.contains("invalid ops command \"reboot\"") && e.contains("create-silence"),
            "{e}"
        );
        let e = parse_command(&json!({"command": "remove-silence"}))
            .unwrap()
            .unwrap_err();
        assert!(e.contains("missing field `id`"), "{e}");
        let e = parse_command(&json!({"command": "send-test-alert", "severity": "loud"}))
            .unwrap()
            .unwrap_err();
        assert!(e.contains("unknown variant `loud`"), "{e}");
        let e = parse_command(&json!({"command": "create-silence", "duration": 5}))
            .unwrap()
            .unwrap_err();
        assert!(e.contains("unknown field `duration`"), "{e}");
    }
}
