//! The alerts function's configuration, read once at cold start.

use std::collections::BTreeMap;
use std::time::Duration;

use streamops_shared::{ConfigError, EnvReader};

use crate::group::{DEFAULT_MAX_MEMBERS, GroupConfig, MAX_DELAY_SECONDS};
use crate::inhibit::{InhibitRule, parse_rules};
use crate::model::Severity;
use crate::mute::{MuteWindow, parse_windows};
use crate::normalize::NormalizeOptions;
use crate::render::MessageFormat;
use crate::route::{Route, parse_routes};

#[derive(Debug, Clone)]
pub struct AlertsConfig {
    /// `ALERTS_TOPIC_ARN`: where alerts are published.
    pub topic_arn: String,
    /// `ALERTS_TABLE_NAME`: dedup state and silences.
    pub table_name: String,
    /// `ALERTS_DEDUP_WINDOW_SECONDS` (default 3600): a repeat of the same state inside it is not re-sent.
    pub dedup_window: Duration,
    /// `ALERTS_STATE_TTL_DAYS` (default 30): how long dedup state is kept after the last change.
    pub state_ttl: Duration,
    /// `ALERTS_MESSAGE_FORMAT` (text | json | chatbot, default text).
    pub format: MessageFormat,
    /// `ALERTS_MIN_SEVERITY` (default info): less urgent alerts are recorded, not sent.
    pub min_severity: Severity,
    /// `ALERTS_RUNBOOK_URLS` (JSON object, resource prefix to URL, `*` default) and
    /// `ALERTS_DETAIL_MAX_BYTES` (default 4096).
    pub normalize: NormalizeOptions,
    /// `ALERTS_INHIBIT_RULES` (JSON array, default none): while a source fires, its targets
    /// with the same `equal` labels are recorded, not sent (see `inhibit.rs`).
    pub inhibit_rules: Vec<InhibitRule>,
    /// `ALERTS_MUTE_WINDOWS` (JSON array, default none): recurring windows during which
    /// matching alerts are recorded, not sent (see `mute.rs`).
    pub mute_windows: Vec<MuteWindow>,
    /// `ALERTS_GROUP_BY` (label names, comma-separated; default none: grouping off, each alert
    /// its own message), `ALERTS_GROUP_WAIT` (seconds, default 30), `ALERTS_GROUP_INTERVAL`
    /// (seconds, default 300), both at most 900 (SQS's longest delay), `ALERTS_GROUP_MAX_MEMBERS`
    /// (default 500, 10 to 2000: a group is one DynamoDB item, at most 400 KB).
    pub group: Option<GroupConfig>,
    /// `ALERTS_GROUP_QUEUE_URL`: the SQS queue of delayed flushes (required with grouping).
    pub group_queue_url: Option<String>,
    /// `ALERTS_ROUTES` (JSON array, default none: everything to `ALERTS_TOPIC_ARN`): matchers
    /// to a topic and format, in order (see `route.rs`).
    pub routes: Vec<Route>,
    /// `ALERTS_PAGERDUTY_ROUTING_KEY`: the integration key `pagerduty` messages carry
    /// (required when the default format or a route's is `pagerduty`).
    pub pagerduty_routing_key: String,
    /// `ALERTS_HOLD_DURING_SCALING` (off | warning | error | critical, default off): problems
    /// of that severity or less urgent, on a resource the scaler is acting on, wait until the
    /// action should have settled and are sent only if still firing then (see `context.rs`).
    pub hold_during_scaling: Option<Severity>,
    /// `ALERTS_CHECKPOINTS_TABLE` (optional): the checkpoints book, read to name a pipeline's
    /// latest restorable point in alerts that follow a checkpoint failure.
    pub checkpoints_table: Option<String>,
}

impl AlertsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(EnvReader::from_env())
    }

    pub fn read(mut r: EnvReader) -> Result<Self, ConfigError> {
        let topic_arn = r.required(
            "ALERTS_TOPIC_ARN",
            "the ARN of the SNS topic alerts are published to",
        );
        if !topic_arn.is_empty() && !topic_arn.starts_with("arn:") {
            r.invalid(
                "ALERTS_TOPIC_ARN",
                "an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)",
                &topic_arn,
                None,
            );
        }
        let table_name = r.required(
            "ALERTS_TABLE_NAME",
            "the name of the DynamoDB alerts state table",
        );
        let dedup_window = r.seconds_or("ALERTS_DEDUP_WINDOW_SECONDS", Duration::from_secs(3600));
        let ttl_days: u64 = r.parsed_or("ALERTS_STATE_TTL_DAYS", "a whole number of days", 30);
        let format = r.parsed_or(
            "ALERTS_MESSAGE_FORMAT",
            "text, json, chatbot or pagerduty",
            MessageFormat::Text,
        );
        let min_severity = r.parsed_or(
            "ALERTS_MIN_SEVERITY",
            "critical, error, warning or info",
            Severity::Info,
        );
        let normalize = read_normalize(&mut r);
        let inhibit_rules = read_json_list(
            &mut r,
            "ALERTS_INHIBIT_RULES",
            INHIBIT_RULES_EXPECTED,
            parse_rules,
        );
        let mute_windows = read_json_list(
            &mut r,
            "ALERTS_MUTE_WINDOWS",
            MUTE_WINDOWS_EXPECTED,
            parse_windows,
        );
        let (group, mut group_queue_url) = read_group(&mut r);
        let hold_during_scaling = read_hold(&mut r, &mut group_queue_url);
        let checkpoints_table = r
            .optional("ALERTS_CHECKPOINTS_TABLE")
            .filter(|t| !t.trim().is_empty());
        let (routes, pagerduty_routing_key) = read_routes(&mut r, format);
        let state_ttl = Duration::from_secs(ttl_days * 86_400);
        if state_ttl <= dedup_window {
            r.invalid(
                "ALERTS_STATE_TTL_DAYS",
                "a TTL longer than the dedup window",
                &ttl_days.to_string(),
                Some("state must outlive the window or repeats are re-sent".into()),
            );
        }
        r.finish(AlertsConfig {
            topic_arn,
            table_name,
            dedup_window,
            state_ttl,
            format,
            min_severity,
            normalize,
            inhibit_rules,
            mute_windows,
            group,
            group_queue_url,
            routes,
            pagerduty_routing_key,
            hold_during_scaling,
            checkpoints_table,
        })
    }
}

/// `ALERTS_HOLD_DURING_SCALING`; a hold's re-check is a delayed message on the group queue,
/// so a hold needs `ALERTS_GROUP_QUEUE_URL` whether or not grouping is on.
fn read_hold(r: &mut EnvReader, queue_url: &mut Option<String>) -> Option<Severity> {
    let value = r.optional("ALERTS_HOLD_DURING_SCALING").unwrap_or_default();
    let hold = match crate::context::parse_hold(&value) {
        Ok(h) => h,
        Err(_) => {
            r.invalid(
                "ALERTS_HOLD_DURING_SCALING",
                "off, warning, error or critical",
                &value,
                None,
            );
            None
        }
    };
    if hold.is_some() && queue_url.is_none() {
        let url = r.required(
            "ALERTS_GROUP_QUEUE_URL",
            "the URL of the SQS queue of delayed re-checks (ALERTS_HOLD_DURING_SCALING is on)",
        );
        *queue_url = Some(url).filter(|u| !u.is_empty());
    }
    hold
}

/// `ALERTS_ROUTES` and the PagerDuty routing key, which the `pagerduty` format needs.
fn read_routes(r: &mut EnvReader, format: MessageFormat) -> (Vec<Route>, String) {
    let routes = read_json_list(r, "ALERTS_ROUTES", ROUTES_EXPECTED, parse_routes);
    let pagerduty_routing_key = r
        .optional("ALERTS_PAGERDUTY_ROUTING_KEY")
        .unwrap_or_default();
    let pagerduty = format == MessageFormat::PagerDuty
        || routes.iter().any(|x| x.format == MessageFormat::PagerDuty);
    if pagerduty && pagerduty_routing_key.trim().is_empty() {
        r.invalid(
            "ALERTS_PAGERDUTY_ROUTING_KEY",
            "a PagerDuty Events v2 integration (routing) key",
            "",
            Some("the pagerduty format is used (ALERTS_MESSAGE_FORMAT or a route)".into()),
        );
    }
    (routes, pagerduty_routing_key)
}

/// The grouping variables: off (None) unless `ALERTS_GROUP_BY` names a label.
fn read_group(r: &mut EnvReader) -> (Option<GroupConfig>, Option<String>) {
    let by: Vec<String> = r
        .optional("ALERTS_GROUP_BY")
        .unwrap_or_default()
        .split(',')
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let wait = r.seconds_or("ALERTS_GROUP_WAIT", Duration::from_secs(30));
    let interval = r.seconds_or("ALERTS_GROUP_INTERVAL", Duration::from_secs(300));
    for (name, value) in [
        ("ALERTS_GROUP_WAIT", wait),
        ("ALERTS_GROUP_INTERVAL", interval),
    ] {
        if value.as_secs() > MAX_DELAY_SECONDS {
            let detail = "a flush is an SQS message delayed at most 900 s".to_string();
            r.invalid(
                name,
                "at most 900 seconds",
                &value.as_secs().to_string(),
                Some(detail),
            );
        }
    }
    if by.is_empty() {
        return (None, None);
    }
    let url = r.required(
        "ALERTS_GROUP_QUEUE_URL",
        "the URL of the SQS queue of group flushes (ALERTS_GROUP_BY is set)",
    );
    const CAP: &str = "a whole number of members from 10 to 2000";
    let mut max_members: usize = r.parsed_or("ALERTS_GROUP_MAX_MEMBERS", CAP, DEFAULT_MAX_MEMBERS);
    if !(10..=2000).contains(&max_members) {
        r.invalid(
            "ALERTS_GROUP_MAX_MEMBERS",
            CAP,
            &max_members.to_string(),
            None,
        );
        max_members = DEFAULT_MAX_MEMBERS;
    }
    let group = GroupConfig {
        by,
        wait,
        interval,
        max_members,
    };
    (Some(group), Some(url).filter(|u| !u.is_empty()))
}

/// `ALERTS_RUNBOOK_URLS`, `ALERTS_DETAIL_MAX_BYTES` and `ALERTS_RESOURCE_LABELS`.
fn read_normalize(r: &mut EnvReader) -> NormalizeOptions {
    let runbooks: BTreeMap<String, String> = r
        .json_optional(
            "ALERTS_RUNBOOK_URLS",
            "a JSON object mapping resource-name prefixes (or \"*\") to runbook URLs",
        )
        .unwrap_or_default();
    let detail_max_bytes = r.parsed_or(
        "ALERTS_DETAIL_MAX_BYTES",
        "a number of bytes (256 or more)",
        4096usize,
    );
    if detail_max_bytes < 256 {
        r.invalid(
            "ALERTS_DETAIL_MAX_BYTES",
            "a number of bytes (256 or more)",
            &detail_max_bytes.to_string(),
            None,
        );
    }
    let resource_labels: BTreeMap<String, BTreeMap<String, String>> = r
        .json_optional(
            "ALERTS_RESOURCE_LABELS",
            "a JSON object mapping resource-name prefixes to objects of label names to values",
        )
        .unwrap_or_default();
    NormalizeOptions {
        runbooks,
        detail_max_bytes,
        resource_labels,
    }
}

const INHIBIT_RULES_EXPECTED: &str =
    "a JSON array of {name, source, target, equal, max_minutes} inhibition rules";
const ROUTES_EXPECTED: &str =
    "a JSON array of {name, matchers, topic_arn, format, continue} routes";
const MUTE_WINDOWS_EXPECTED: &str =
    "a JSON array of {name, cron, duration, time_zone, matchers, notify_resolved} mute windows";

/// A JSON array variable read by its own parser, whose error names the entry and the field.
fn read_json_list<T>(
    r: &mut EnvReader,
    name: &str,
    expected: &str,
    parse: fn(&str) -> Result<Vec<T>, String>,
) -> Vec<T> {
    let Some(raw) = r.optional(name) else {
        return vec![];
    };
    parse(&raw).unwrap_or_else(|problem| {
        r.invalid(name, expected, &raw, Some(problem));
        vec![]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(pairs: &[(&str, &str)]) -> Result<AlertsConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AlertsConfig::read(EnvReader::from_map(map))
    }

    #[test]
    fn minimal_config_has_documented_defaults() {
        let c = read(&[
            ("ALERTS_TOPIC_ARN", "arn:aws:sns:us-east-1:1:t"),
            ("ALERTS_TABLE_NAME", "t"),
        ])
        .unwrap();
        assert_eq!(c.dedup_window, Duration::from_secs(3600));
        assert_eq!(c.format, MessageFormat::Text);
        assert_eq!(c.min_severity, Severity::Info);
        assert_eq!(c.normalize.detail_max_bytes, 4096);
        assert!(c.inhibit_rules.is_empty());
        assert!(c.group.is_none(), "grouping is off by default");
    }

    #[test]
    fn grouping_is_read_with_its_queue_and_bounded_by_sqs_delays() {
        let base = [
            ("ALERTS_TOPIC_ARN", "arn:aws:sns:us-east-1:1:t"),
            ("ALERTS_TABLE_NAME", "t"),
        ];
        let mut vars = base.to_vec();
        vars.extend([
            ("ALERTS_GROUP_BY", "account, region,cluster_id"),
            ("ALERTS_GROUP_WAIT", "10"),
            ("ALERTS_GROUP_QUEUE_URL", "http://127.0.0.1/q"),
        ]);
        let c = read(&vars).unwrap();
        let g = c.group.unwrap();
        assert_eq!(g.by, ["account", "region", "cluster_id"]);
        assert_eq!(g.wait, Duration::from_secs(10));
        assert_eq!(g.interval, Duration::from_secs(300));
        assert_eq!(g.max_members, 500);
        assert_eq!(c.group_queue_url.as_deref(), Some("http://127.0.0.1/q"));
        let mut vars = base.to_vec();
        vars.extend([
            ("ALERTS_GROUP_BY", "account"),
            ("ALERTS_GROUP_INTERVAL", "3600"),
            ("ALERTS_GROUP_MAX_MEMBERS", "5000"),
        ]);
        let text = read(&vars).unwrap_err().to_string();
        assert!(text.contains("ALERTS_GROUP_QUEUE_URL is not set"), "{text}");
        assert!(
            text.contains("ALERTS_GROUP_INTERVAL has invalid value"),
            "{text}"
        );
        assert!(
            text.contains("ALERTS_GROUP_MAX_MEMBERS has invalid value \"5000\""),
            "{text}"
        );
    }

    #[test]
    fn inhibit_rules_and_resource_labels_are_read_and_their_errors_name_rule_and_field() {
        let base = [
            ("ALERTS_TOPIC_ARN", "arn:aws:sns:us-east-1:1:t"),
            ("ALERTS_TABLE_NAME", "t"),
        ];
        let rules = r#"[{"name": "emr-down", "source": {"kind": "emr-cluster"},
            "target": {"resource_prefix": "streamops-"}, "equal": ["cluster_id"]}]"#;
        let labels = r#"{"streamops-": {"cluster_id": "j-1"}}"#;
        let mut vars = base.to_vec();
        vars.extend([
            ("ALERTS_INHIBIT_RULES", rules),
            ("ALERTS_RESOURCE_LABELS", labels),
        ]);
        let c = read(&vars).unwrap();
        assert_eq!(c.inhibit_rules[0].name, "emr-down");
        assert_eq!(c.inhibit_rules[0].equal, ["cluster_id"]);
        assert_eq!(
            c.normalize.resource_labels["streamops-"]["cluster_id"],
            "j-1"
        );
        let bad =
            r#"[{"name": "emr-down", "source": {"kind": "emr"}, "target": {"state": "ALARM"}}]"#;
        let mut vars = base.to_vec();
        vars.push(("ALERTS_INHIBIT_RULES", bad));
        let text = read(&vars).unwrap_err().to_string();
        assert!(
            text.contains("ALERTS_INHIBIT_RULES")
                && text.contains(r#"rule "emr-down" (#1): source.kind: unknown kind "emr""#),
            "{text}"
        );
    }

    #[test]
    fn mute_windows_are_read_and_their_errors_name_window_and_field() {
        let base = [
            ("ALERTS_TOPIC_ARN", "arn:aws:sns:us-east-1:1:t"),
            ("ALERTS_TABLE_NAME", "t"),
        ];
        let windows = r#"[{"name": "nightly", "cron": "cron(0 2 * * ? *)", "duration": "2h",
            "time_zone": "Europe/Berlin", "matchers": {"resource_prefix": "streamops-"}}]"#;
        let mut vars = base.to_vec();
        vars.push(("ALERTS_MUTE_WINDOWS", windows));
        let c = read(&vars).unwrap();
        assert_eq!(c.mute_windows[0].name(), "nightly");
        assert!(c.mute_windows[0].notify_resolved, "the default");
        assert!(read(&base).unwrap().mute_windows.is_empty());
        let bad = windows.replace("? *", "? 1969");
        let mut vars = base.to_vec();
        vars.push(("ALERTS_MUTE_WINDOWS", &bad));
        let text = read(&vars).unwrap_err().to_string();
        assert!(
            text.contains("ALERTS_MUTE_WINDOWS has invalid value")
                && text.contains(
                    r#"window "nightly" (#1): cron: year "1969": 1969 is out of range 1970-2199"#
                ),
            "{text}"
        );
    }

    #[test]
    fn routes_are_read_and_pagerduty_needs_its_routing_key() {
        let routes = r#"[{"name": "pager", "matchers": {"severity": "critical"},
            "topic_arn": "arn:aws:sns:us-east-1:1:pager", "format": "pagerduty"}]"#;
        let base = [
            ("ALERTS_TOPIC_ARN", "arn:aws:sns:us-east-1:1:t"),
            ("ALERTS_TABLE_NAME", "t"),
            ("ALERTS_ROUTES", routes),
        ];
        let text = read(&base).unwrap_err().to_string();
        assert!(
            text.contains("ALERTS_PAGERDUTY_ROUTING_KEY has invalid value"),
            "{text}"
        );
        let mut vars = base.to_vec();
        vars.push(("ALERTS_PAGERDUTY_ROUTING_KEY", "R0ABCDEF"));
        let c = read(&vars).unwrap();
        assert_eq!(c.routes[0].name, "pager");
        assert_eq!(c.pagerduty_routing_key, "R0ABCDEF");
        let bad = [base[0], base[1], ("ALERTS_ROUTES", r#"[{"name": "x"}]"#)];
        let text = read(&bad).unwrap_err().to_string();
        assert!(text.contains(r#"route "x" (#1): topic_arn"#), "{text}");
    }

    #[test]
    fn every_problem_is_reported_by_name() {
        let err = read(&[
            ("ALERTS_TOPIC_ARN", "my-topic"),
            ("ALERTS_MESSAGE_FORMAT", "xml"),
            ("ALERTS_RUNBOOK_URLS", "[1]"),
        ])
        .unwrap_err();
        let text = err.to_string();
        for v in [
            "ALERTS_TOPIC_ARN has invalid value",
            "ALERTS_TABLE_NAME is not set",
            "ALERTS_MESSAGE_FORMAT",
            "ALERTS_RUNBOOK_URLS",
        ] {
            assert!(text.contains(v), "{v} missing from: {text}");
        }
    }
}
