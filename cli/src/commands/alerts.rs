//! `streamops alerts ...`: the alerts function's commands (functions/alerts/src/ops.rs).

use alerts::model::Severity;
use alerts::ops::{AlertsCommand, parse_command};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::{Effect, FunctionKind, Request, json_file, parsed, payload, serde_word, string};

#[derive(Debug, Subcommand)]
pub enum AlertsCmd {
    /// Mute alerts whose alarm name starts with a prefix, one alarm, one fingerprint, or the
    /// alerts with some labels (--match), for a while or until it resolves.
    Silence(SilenceArgs),
    /// Active silences, soonest to end first.
    Silences {
        /// Also those that have ended but are still in the table.
        #[arg(long)]
        include_expired: bool,
    },
    /// Lift a silence before it ends (its id from `alerts silences`); needs --apply.
    Unsilence {
        id: String,
        #[arg(long)]
        apply: bool,
    },
    /// Inhibition sources in effect (a root cause muting its symptoms) and what each muted.
    Inhibitions {
        /// Also sources that no longer fire but are still in the table.
        #[arg(long)]
        include_ended: bool,
    },
    /// The recurring mute windows: active now (until when) or when next, and what each muted.
    MuteWindows,
    /// The groups (with grouping on) and their members, pending ones, and the next flush.
    Groups,
    /// What the suite is doing that alerts know of (resizes in progress, checkpoint failures)
    /// and whether problems on them are held.
    Activities {
        /// Also activities that ended or lapsed but are still in the table.
        #[arg(long)]
        include_ended: bool,
    },
    /// What an event (a JSON file, `-` for standard input) would do and why: published to
    /// which routes, suppressed (redelivery, repeat, silence, mute window, inhibition) or
    /// grouped; nothing is done.
    Explain { file: String },
    /// Publish a test alert straight to the topic (no dedup, no silences) to check delivery.
    TestAlert {
        /// critical, error, warning, info or resolved (default info).
        #[arg(long, value_parser = serde_word::<Severity>)]
        severity: Option<Severity>,
        #[arg(long)]
        message: Option<String>,
    },
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["alarm_prefix", "alarm", "fingerprint", "matchers"]).multiple(true))]
#[command(group = clap::ArgGroup::new("end").required(true).args(["duration", "until", "until_resolved"]).multiple(true))]
pub struct SilenceArgs {
    /// Alarm names starting with this (e.g. streamops-raw-).
    #[arg(long)]
    alarm_prefix: Option<String>,
    /// One alarm, by its exact name.
    #[arg(long)]
    alarm: Option<String>,
    /// One alert's fingerprint (the `fingerprint` attribute of a published alert).
    #[arg(long)]
    fingerprint: Option<String>,
    /// A label the alerts must have, `label=value` (e.g. cluster_id=j-1, severity=warning);
    /// repeat it: every label must hold, values of one label repeated are any of them.
    /// `resource_prefix=` matches the alarm-name prefix (the inhibition rules' matcher).
    #[arg(long = "match", value_parser = label_value, id = "matchers")]
    matchers: Vec<(String, String)>,
    /// How long: 90m, 2h, 1d, 1h30m.
    #[arg(long = "for", value_parser = minutes)]
    duration: Option<i64>,
    /// When it ends (RFC 3339, e.g. 2026-11-23T18:00:00Z).
    #[arg(long, value_parser = serde_word::<DateTime<Utc>>)]
    until: Option<DateTime<Utc>>,
    /// End when the silenced alert (--alarm or --fingerprint) resolves; --for/--until then
    /// bound it (default: the longest silence, 90 days).
    #[arg(long)]
    until_resolved: bool,
    /// Mute the resolved notice too, even of a problem that paged before the silence (by
    /// default it is delivered, so the incident closes).
    #[arg(long)]
    no_notify_resolved: bool,
    /// Why (shown with the silence).
    #[arg(long)]
    comment: Option<String>,
    /// Who (default: $USER).
    #[arg(long)]
    created_by: Option<String>,
}

impl AlertsCmd {
    pub fn request(&self) -> Result<Request, String> {
        let (payload, effect) = match self {
            AlertsCmd::Silence(a) => (a.payload(), Effect::Write),
            AlertsCmd::Silences { include_expired } => (
                payload(
                    "list-silences",
                    [("include_expired", Some(json!(include_expired)))],
                ),
                Effect::Read,
            ),
            AlertsCmd::Unsilence { id, apply } => (
                payload("remove-silence", [("id", Some(json!(id)))]),
                Effect::Guarded { apply: *apply },
            ),
            AlertsCmd::Inhibitions { include_ended } => (
                payload(
                    "inhibitions",
                    [("include_ended", Some(json!(include_ended)))],
                ),
                Effect::Read,
            ),
            AlertsCmd::MuteWindows => (payload("mute-windows", []), Effect::Read),
            AlertsCmd::Groups => (payload("groups", []), Effect::Read),
            AlertsCmd::Activities { include_ended } => (
                payload(
                    "activities",
                    [(
                        "include_ended",
                        Some(json!(include_ended)).filter(|_| *include_ended),
                    )],
                ),
                Effect::Read,
            ),
            AlertsCmd::Explain { file } => (
                payload("explain", [("event", Some(json_file(file)?))]),
                Effect::Read,
            ),
            AlertsCmd::TestAlert { severity, message } => (
                payload(
                    "send-test-alert",
                    [
                        ("severity", severity.map(|s| json!(s))),
                        ("message", string(message)),
                    ],
                ),
                Effect::Write,
            ),
        };
        if let AlertsCommand::CreateSilence(req) = parsed(parse_command(&payload))? {
            // The function's own check (a prefix or a fingerprint, an end in the future, at most
            // 90 days), with a placeholder id: the function names the silence.
            alerts::create_silence(req, String::new(), Utc::now())?;
        }
        Ok(Request::new(FunctionKind::Alerts, payload, effect))
    }
}

impl SilenceArgs {
    fn payload(&self) -> Value {
        let created_by = self
            .created_by
            .clone()
            .or_else(|| std::env::var("USER").ok());
        payload(
            "create-silence",
            [
                ("alarm_name_prefix", string(&self.alarm_prefix)),
                ("alarm_name", string(&self.alarm)),
                ("fingerprint", string(&self.fingerprint)),
                ("matchers", matchers_json(&self.matchers)),
                ("duration_minutes", self.duration.map(|m| json!(m))),
                ("until", self.until.map(|t| json!(t))),
                ("until_resolved", self.until_resolved.then_some(json!(true))),
                (
                    "notify_resolved",
                    self.no_notify_resolved.then_some(json!(false)),
                ),
                ("comment", string(&self.comment)),
                ("created_by", string(&created_by)),
            ],
        )
    }
}

/// `label=value`, both non-empty.
fn label_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() && !v.is_empty() => Ok((k.trim().into(), v.into())),
        _ => Err(format!("{text:?} is not label=value (e.g. cluster_id=j-1)")),
    }
}

/// The `matchers` object `create-silence` reads: a label to its value, or to a list when the
/// label is repeated.
fn matchers_json(pairs: &[(String, String)]) -> Option<Value> {
    if pairs.is_empty() {
        return None;
    }
    let mut out = serde_json::Map::new();
    for (k, v) in pairs {
        match out.get_mut(k) {
            None => {
                out.insert(k.clone(), json!(v));
            }
            Some(Value::Array(list)) => list.push(json!(v)),
            Some(first) => *first = json!([first.clone(), v]),
        }
    }
    Some(Value::Object(out))
}

/// `90m`, `2h`, `1d`, `1h30m` (or a bare number of minutes) as minutes.
fn minutes(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a duration (e.g. 90m, 2h, 1d, 1h30m)");
    if let Ok(m) = text.parse::<i64>() {
        return Ok(m);
    }
    let (mut total, mut digits) = (0i64, String::new());
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let per = match c {
            'm' => 1,
            'h' => 60,
            'd' => 24 * 60,
            _ => return Err(bad()),
        };
        let n: i64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(per)
            .and_then(|m| total.checked_add(m))
            .ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() || total == 0 && text.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(minutes("2h"), Ok(120));
        assert_eq!(minutes("1h30m"), Ok(90));
        assert_eq!(minutes("1d"), Ok(1440));
        assert_eq!(minutes("45"), Ok(45));
        for bad in ["", "2x", "h", "2h3"] {
            assert!(
                minutes(bad).unwrap_err().contains("not a duration"),
                "{bad}"
            );
        }
    }
}
