//! Ops commands, invoked by hand.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ScalerCommand {
    /// Every target: current size, bounds, last action, cooldown left, paused, recent decisions.
    Status,
    /// Scales a target to a size (bounds still apply; cooldowns do not: a human decided).
    Scale {
        target: String,
        size: u32,
        reason: String,
        #[serde(default)]
        dry_run: bool,
    },
    Pause {
        target: String,
    },
    Resume {
        target: String,
    },
    /// What an alarm event would do, without doing it or claiming it.
    Explain {
        event: Value,
    },
    /// The schedule's pass (also by hand): resume Flink rescales in progress, re-evaluate
    /// deferred and waiting decisions whose alarm still breaches.
    Tick,
}

pub const COMMANDS: &str = "status, scale, pause, resume, explain, tick";

pub fn parse_command(payload: &Value) -> Option<Result<ScalerCommand, String>> {
    streamops_shared::ops::parse_command(payload, "scaler", COMMANDS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands() {
        assert!(matches!(
            parse_command(&json!({"command": "status"}))
                .unwrap()
                .unwrap(),
            ScalerCommand::Status
        ));
        let e = parse_command(&json!({"command": "scale", "target": "t", "size": 3}))
            .unwrap()
            .unwrap_err();
        assert!(e.contains("reason"), "{e}");
        assert!(
            parse_command(&json!({"command": "grow"}))
                .unwrap()
                .unwrap_err()
                .contains("status, scale")
        );
        assert!(parse_command(&json!({"detail": {}})).is_none());
    }
}
