//! The ops-command envelope every function accepts when invoked by hand: a JSON object whose
//! `command` field names the command, its arguments beside it. Each function declares its
//! commands as a serde enum tagged by `command`; this reads one and words every error the same
//! way, naming the command and what the function accepts.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// `None` when the payload carries no `command` (it is an event, not a command); otherwise the
/// command, or a message naming what is wrong: an unknown command (with the accepted ones), or
/// a known one with bad arguments (serde's words: missing field, unknown field or variant).
pub fn parse_command<C: DeserializeOwned>(
    payload: &Value,
    function: &str,
    commands: &str,
) -> Option<Result<C, String>> {
    let name = payload.get("command")?;
    let Some(name) = name.as_str() else {
        return Some(Err(format!(
            "invalid ops command: \"command\" must be a string; {function} accepts: {commands}"
        )));
    };
    Some(serde_json::from_value(payload.clone()).map_err(|e| {
        if commands.split(", ").any(|c| c == name) {
            format!("invalid {name} command: {e}")
        } else {
            format!("invalid ops command {name:?}: unknown command {name:?}; {function} accepts: {commands}")
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
    enum Command {
        Pause { target: String },
        Status,
    }

    const COMMANDS: &str = "pause, status";

    fn parse(v: Value) -> Option<Result<Command, String>> {
        parse_command(&v, "scaler", COMMANDS)
    }

    #[test]
    fn commands_events_and_errors() {
        assert_eq!(
            parse(json!({"command": "status"})),
            Some(Ok(Command::Status))
        );
        assert_eq!(
            parse(json!({"command": "pause", "target": "raw"})),
            Some(Ok(Command::Pause {
                target: "raw".into()
            }))
        );
        assert!(
            parse(json!({"source": "aws.cloudwatch"})).is_none(),
            "an event is no command"
        );
        let e = parse(json!({"command": "reboot"})).unwrap().unwrap_err();
        assert!(
            e.contains("invalid ops command \"reboot\"")
                && e.contains("unknown command \"reboot\""),
            "{e}"
        );
        assert!(e.contains("scaler accepts: pause, status"), "{e}");
        let e = parse(json!({"command": "pause"})).unwrap().unwrap_err();
        assert!(
            e.contains("invalid pause command") && e.contains("missing field `target`"),
            "{e}"
        );
        let e = parse(json!({"command": "pause", "target": "raw", "verbose": true}))
            .unwrap()
            .unwrap_err();
        assert!(e.contains("unknown field `verbose`"), "{e}");
        let e = parse(json!({"command": 7})).unwrap().unwrap_err();
        assert!(
            e.contains("must be a string") && e.contains("pause, status"),
            "{e}"
        );
    }
}
