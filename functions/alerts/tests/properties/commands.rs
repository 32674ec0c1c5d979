//! The ops commands and the configuration: a payload with `command` is a command or is
//! refused naming what is wrong (the commands alerts accepts, the field); anything without one
//! is an event. A configuration is read, or refused naming every variable that is wrong.

use std::collections::HashMap;

use alerts::config::AlertsConfig;
use alerts::ops::{AlertsCommand, parse_command};
use proptest::prelude::*;
use serde_json::{Value, json};
use streamops_shared::EnvReader;

use crate::r#gen::{json_value, text};

const COMMANDS: [&str; 4] = [
    "send-test-alert",
    "create-silence",
    "list-silences",
    "remove-silence",
];

proptest! {
    #[test]
    fn a_command_parses_or_is_refused_naming_what_is_wrong(
        name in prop_oneof![prop::sample::select(COMMANDS.to_vec()).prop_map(String::from), text(16)],
        args in prop::collection::btree_map("[a-z_]{1,12}", json_value(), 0..3),
    ) {
        let mut payload = json!({"command": name});
        for (k, v) in &args {
            payload[k] = v.clone();
        }
        match parse_command(&payload) {
            None => panic!("a payload with `command` is a command"),
            Some(Ok(cmd)) => {
                let kebab = format!("{cmd:?}");
                prop_assert!(COMMANDS.contains(&name.as_str()), "{name} parsed as {kebab}");
                if let AlertsCommand::RemoveSilence(r) = cmd {
                    prop_assert_eq!(Some(&Value::String(r.id)), args.get("id"));
                }
            }
            Some(Err(e)) if COMMANDS.contains(&name.as_str()) => {
                prop_assert!(e.starts_with(&format!("invalid {name} command: ")), "{e}");
            }
            Some(Err(e)) => {
                prop_assert!(e.contains("unknown command") && e.contains(&COMMANDS.join(", ")), "{e}");
            }
        }
    }

    #[test]
    fn a_payload_without_command_is_no_command(v in json_value()) {
        if v.get("command").is_none() {
            prop_assert!(parse_command(&v).is_none());
        }
    }
}

#[derive(Debug, Clone)]
enum Var {
    Unset,
    Good(String),
    Bad(String),
}

fn var(good: &'static [&'static str], bad: &'static [&'static str]) -> impl Strategy<Value = Var> {
    prop_oneof![
        1 => Just(Var::Unset),
        3 => prop::sample::select(good).prop_map(|s| Var::Good(s.into())),
        1 => prop::sample::select(bad).prop_map(|s| Var::Bad(s.into())),
    ]
}

fn runbooks() -> impl Strategy<Value = Var> {
    prop_oneof![
        prop::collection::btree_map(
            prop_oneof![Just("*".to_string()), "[a-z-]{1,8}"],
            "https://[a-z]{1,8}\\.example/[a-z]{0,4}",
            0..3
        )
        .prop_map(|m| Var::Good(serde_json::to_string(&m).unwrap())),
        prop::sample::select(vec!["[1]", "{\"a\": 1}", "not json", "\"x\""])
            .prop_map(|s| Var::Bad(s.into())),
        Just(Var::Unset),
    ]
}

proptest! {
    #[test]
    fn a_configuration_is_read_or_every_wrong_variable_is_named(
        topic in var(&["arn:aws:sns:us-east-1:1:t"], &["my-topic", "sns:topic"]),
        table in var(&["alerts-state"], &["alerts-state"]),
        format in var(&["text", "JSON", " chatbot "], &["xml", "html"]),
        severity in var(&["critical", "Warning", "info"], &["loud", "debug"]),
        detail in var(&["256", "4096", "100000"], &["255", "0", "-1", "lots"]),
        runbooks in runbooks(),
    ) {
        // The table name has no bad value: only unset is wrong (and `Bad` here means unset).
        let table = match table { Var::Bad(_) => Var::Unset, t => t };
        let vars = [("ALERTS_TOPIC_ARN", &topic, true), ("ALERTS_TABLE_NAME", &table, true),
            ("ALERTS_MESSAGE_FORMAT", &format, false), ("ALERTS_MIN_SEVERITY", &severity, false),
            ("ALERTS_DETAIL_MAX_BYTES", &detail, false), ("ALERTS_RUNBOOK_URLS", &runbooks, false)];
        let map: HashMap<String, String> = vars.iter().filter_map(|(k, v, _)| match v {
            Var::Unset => None,
            Var::Good(s) | Var::Bad(s) => Some((k.to_string(), s.clone())),
        }).collect();
        let wrong: Vec<&str> = vars.iter()
            .filter(|(_, v, needed)| matches!(v, Var::Bad(_)) || (matches!(v, Var::Unset) && *needed))
            .map(|(k, _, _)| *k).collect();
        match AlertsConfig::read(EnvReader::from_map(map)) {
            Ok(c) => {
                prop_assert!(wrong.is_empty(), "accepted with {wrong:?} wrong");
                prop_assert!(c.normalize.detail_max_bytes >= 256);
            }
            Err(e) => {
                let text = e.to_string();
                prop_assert!(!wrong.is_empty(), "refused: {text}");
                for w in wrong {
                    prop_assert!(text.contains(w), "{w} not named in {text}");
                }
            }
        }
    }
}
