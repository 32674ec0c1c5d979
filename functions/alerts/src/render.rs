//! The SNS message for an alert, within SNS's rules: an ASCII subject of at most 99 characters
//! with no control characters, a body that with its attributes fits in 256 KB (cut on a UTF-8
//! boundary with a visible marker), and `severity`, `source`, `fingerprint` message attributes
//! for subscription filter policies.

use std::str::FromStr;

use serde_json::json;
use streamops_shared::text::clean_inline;

use crate::model::Alert;
use crate::normalize::truncate;

pub const MAX_SUBJECT_CHARS: usize = 99;
/// SNS's limit for one publish: message plus attribute names, types and values.
pub const MAX_PUBLISH_BYTES: usize = 262_144;
pub const TRUNCATION_MARKER: &str = "\n\n[message truncated: it exceeded the SNS size limit]";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageFormat {
    /// Plain text for email and chat readers.
    Text,
    /// The alert as one JSON object, for programs.
    Json,
    /// The AWS Chatbot custom notification schema (Slack, Teams, Chime).
    Chatbot,
    /// The PagerDuty Events API v2 event (trigger/resolve with a dedup key), see `pagerduty.rs`.
    PagerDuty,
}

impl MessageFormat {
    /// The name `FromStr` reads.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageFormat::Text => "text",
            MessageFormat::Json => "json",
            MessageFormat::Chatbot => "chatbot",
            MessageFormat::PagerDuty => "pagerduty",
        }
    }
}

impl FromStr for MessageFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(MessageFormat::Text),
            "json" => Ok(MessageFormat::Json),
            "chatbot" => Ok(MessageFormat::Chatbot),
            "pagerduty" => Ok(MessageFormat::PagerDuty),
            other => Err(format!("unknown format {other:?}")),
        }
    }
}

/// What is handed to SNS Publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsMessage {
    /// The topic it goes to: `None` is the default (`ALERTS_TOPIC_ARN`), a route names another.
    pub topic: Option<String>,
    pub subject: String,
    pub body: String,
    pub attributes: Vec<(&'static str, String)>,
}

impl SnsMessage {
    pub fn size(&self) -> usize {
        self.body.len() + attributes_size(&self.attributes)
    }
}

fn attributes_size(attributes: &[(&'static str, String)]) -> usize {
    // Name + data type ("String") + value, as SNS counts them.
    attributes
        .iter()
        .map(|(k, v)| k.len() + "String".len() + v.len())
        .sum()
}

/// The message in `format` for the default topic; a `pagerduty` body from here has no routing
/// key (the service renders those with [`render_routed`]).
pub fn render(alert: &Alert, format: MessageFormat) -> SnsMessage {
    render_routed(alert, format, "")
}

/// The message in `format`, with the PagerDuty routing key a `pagerduty` body carries.
pub fn render_routed(alert: &Alert, format: MessageFormat, routing_key: &str) -> SnsMessage {
    let attributes = vec![
        ("severity", alert.severity.as_str().to_string()),
        ("source", attribute_text(&alert.source)),
        ("fingerprint", alert.fingerprint.clone()),
    ];
    let limit = MAX_PUBLISH_BYTES - attributes_size(&attributes);
    let body = match format {
        MessageFormat::Text => fit_text(text_body(alert), limit),
        MessageFormat::Json => fit_json(alert, limit, |a| {
            serde_json::to_string_pretty(a).unwrap_or_default()
        }),
        MessageFormat::Chatbot => fit_json(alert, limit, |a| chatbot_body(a).to_string()),
        MessageFormat::PagerDuty => fit_json(alert, limit, |a| {
            crate::pagerduty::alert_event(a, routing_key).to_string()
        }),
    };
    SnsMessage {
        topic: None,
        subject: subject(alert),
        body,
        attributes,
    }
}

/// An attribute value SNS takes: printable ASCII for filter policies, and never empty (SNS
/// refuses a message with an empty attribute value, and the alert would not be sent).
fn attribute_text(raw: &str) -> String {
    let text = ascii_only(raw, 256);
    if text.is_empty() {
        "unknown".into()
    } else {
        text
    }
}

/// `CRITICAL: ALARM streamops-raw-iterator-age (us-east-1)`, made safe for SNS.
pub fn subject(alert: &Alert) -> String {
    let region = alert
        .region
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    let raw = format!(
        "{}: {}{region}",
        alert.severity.as_str().to_ascii_uppercase(),
        alert.title
    );
    ascii_only(&raw, MAX_SUBJECT_CHARS)
}

/// Printable ASCII only (others become `?`, control characters and runs of white space one
/// space), trimmed, at most `max` characters with `...` when cut.
pub fn ascii_only(raw: &str, max: usize) -> String {
    let mut out = String::with_capacity(raw.len().min(max));
    let mut last_space = true;
    for c in raw.chars() {
        let mapped = if c.is_whitespace() || c.is_control() {
            ' '
        } else if c.is_ascii_graphic() {
            c
        } else {
            '?'
        };
        if mapped == ' ' {
            if last_space {
                continue;
            }
            last_space = true;
        } else {
            last_space = false;
        }
        out.push(mapped);
    }
    let trimmed = out.trim_end().to_string();
    if trimmed.len() <= max {
        return trimmed;
    }
    format!("{}...", trimmed[..max - 3].trim_end())
}

/// The text body. Every one-line fact (title, resource, states, details) is cleaned of line
/// breaks, control characters and bidirectional overrides: names come from outside (an alarm
/// name can hold U+202E), and a reader must see them as they are, on their own line.
fn text_body(a: &Alert) -> String {
    let mut lines = vec![
        format!(
            "{}: {}",
            a.severity.as_str().to_ascii_uppercase(),
            clean_inline(&a.title)
        ),
        String::new(),
        a.summary.clone(),
        String::new(),
    ];
    let state = match &a.previous_state {
        Some(p) => format!("{p} -> {}", a.state),
        None => a.state.clone(),
    };
    let mut facts: Vec<(&str, String)> = vec![
        ("Resource", clean_inline(&a.resource).into_owned()),
        ("State", clean_inline(&state).into_owned()),
        ("Source", format!("{} ({})", a.source, a.detail_type)),
    ];
    if let Some(acc) = &a.account {
        facts.push(("Account", acc.clone()));
    }
    if let Some(r) = &a.region {
        facts.push(("Region", r.clone()));
    }
    facts.push((
        "Time",
        a.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    ));
    if let Some(u) = &a.console_url {
        facts.push(("Console", u.clone()));
    }
    if let Some(u) = &a.runbook_url {
        facts.push(("Runbook", u.clone()));
    }
    facts.push(("Fingerprint", a.fingerprint.clone()));
    for (k, v) in facts {
        lines.push(format!("{:<12} {v}", format!("{k}:")));
    }
    if !a.details.is_empty() {
        lines.push(String::new());
        lines.push("Details:".into());
        for (k, v) in &a.details {
            lines.push(format!("  {}: {}", clean_inline(k), clean_inline(v)));
        }
    }
    lines.join("\n")
}

fn chatbot_body(a: &Alert) -> serde_json::Value {
    let mut next_steps = Vec::new();
    if let Some(u) = &a.runbook_url {
        next_steps.push(format!("Follow the runbook: {u}"));
    }
    if let Some(u) = &a.console_url {
        next_steps.push(format!("Open in the console: {u}"));
    }
    let description = {
        let mut d = a.summary.clone();
        for (k, v) in &a.details {
            d.push_str(&format!("\n*{}*: {}", clean_inline(k), clean_inline(v)));
        }
        d
    };
    json!({
        "version": "1.0",
        "source": "custom",
        "id": a.event_id,
        "content": {
            "textType": "client-markdown",
            "title": format!("{}: {}", a.severity.as_str().to_ascii_uppercase(), clean_inline(&a.title)),
            "description": description,
            "nextSteps": next_steps,
            "keywords": [a.severity.as_str(), a.source, a.state],
        },
        "metadata": {
            "threadId": a.fingerprint,
            "summary": clean_inline(&a.title),
            "eventType": a.detail_type,
            "relatedResources": [clean_inline(&a.resource)],
            "additionalContext": {
                "severity": a.severity.as_str(),
                "fingerprint": a.fingerprint,
                "region": a.region,
                "account": a.account,
            }
        }
    })
}

/// Cuts a text body to `limit` bytes on a character boundary, ending with the marker.
pub fn fit_text(body: String, limit: usize) -> String {
    if body.len() <= limit {
        return body;
    }
    let mut end = limit - TRUNCATION_MARKER.len();
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{TRUNCATION_MARKER}", &body[..end])
}

/// JSON must stay valid, so the long fields are shortened (summary, then details) and the
/// document rendered again, instead of cutting the text.
fn fit_json(alert: &Alert, limit: usize, render: impl Fn(&Alert) -> String) -> String {
    let body = render(alert);
    if body.len() <= limit {
        return body;
    }
    let mut shrunk = alert.clone();
    let over = body.len() - limit;
    let keep = shrunk
        .summary
        .len()
        .saturating_sub(over + TRUNCATION_MARKER.len() + 64);
    shrunk.summary = fit_text(
        shrunk.summary.clone(),
        keep.max(TRUNCATION_MARKER.len() + 1),
    );
    let body = render(&shrunk);
    if body.len() <= limit {
        return body;
    }
    shrunk.details = vec![(
        "truncated".into(),
        "details omitted: the alert exceeded the SNS size limit".into(),
    )];
    // Still over: a title, resource or state from outside can be as long as an event. The
    // longest such field is cut, again and again, until the document fits (each cut takes at
    // least the excess, so it does in a few rounds; at the end, every field is cut short).
    for round in 0..=16 {
        let body = render(&shrunk);
        if body.len() <= limit {
            return body;
        }
        let mut fields = one_line_fields(&mut shrunk);
        if round == 16 {
            for f in fields {
                *f = truncate(f, 1024);
            }
            break;
        }
        let Some(longest) = fields.iter_mut().max_by_key(|f| f.len()) else {
            break; // never: an alert always has these fields
        };
        let keep = longest.len().saturating_sub(body.len() - limit + 64);
        **longest = truncate(longest, keep);
    }
    render(&shrunk)
}

/// The text fields of an alert other than the summary and the details.
fn one_line_fields(a: &mut Alert) -> Vec<&mut String> {
    let mut fields = vec![
        &mut a.title,
        &mut a.resource,
        &mut a.state,
        &mut a.source,
        &mut a.detail_type,
        &mut a.event_id,
    ];
    fields.extend(
        [
            a.previous_state.as_mut(),
            a.region.as_mut(),
            a.account.as_mut(),
            a.console_url.as_mut(),
            a.runbook_url.as_mut(),
        ]
        .into_iter()
        .flatten(),
    );
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AlertKind, Severity};

    fn alert() -> Alert {
        Alert {
            kind: AlertKind::MetricAlarm,
            severity: Severity::Critical,
            title: "ALARM streamops-raw-iterator-age".into(),
            summary: "Alarm is now ALARM".into(),
            source: "aws.cloudwatch".into(),
            detail_type: "CloudWatch Alarm State Change".into(),
            resource: "streamops-raw-iterator-age".into(),
            region: Some("us-east-1".into()),
            account: Some("123456789012".into()),
            time: "2026-11-23T10:00:13.250Z".parse().unwrap(),
            state: "ALARM".into(),
            previous_state: Some("OK".into()),
            event_id: "e1".into(),
            console_url: Some("https://console".into()),
            runbook_url: Some("https://runbook".into()),
            details: vec![("threshold".into(), "60000".into())],
            fingerprint: "0123456789abcdef0123456789abcdef".into(),
            suppressed_by: None,
            labels: Default::default(),
        }
    }

    #[test]
    fn subject_is_ascii_bounded_and_has_no_control_characters() {
        let mut a = alert();
        a.title = format!("ALARM naïve\tname\nwith 🚨 {}", "x".repeat(200));
        let s = subject(&a);
        assert!(s.len() <= MAX_SUBJECT_CHARS);
        assert!(s.is_ascii());
        assert!(!s.chars().any(|c| c.is_control()));
        assert!(s.starts_with("CRITICAL: ALARM na?ve name with ? xxx"));
        assert!(s.ends_with("..."));
        assert_eq!(
            subject(&alert()),
            "CRITICAL: ALARM streamops-raw-iterator-age (us-east-1)"
        );
    }

    #[test]
    fn text_body_has_the_facts_and_attributes_are_set() {
        let m = render(&alert(), MessageFormat::Text);
        assert!(m.body.contains("Runbook:     https://runbook"));
        assert!(m.body.contains("State:       OK -> ALARM"));
        assert!(m.body.contains("  threshold: 60000"));
        assert_eq!(m.attributes[0], ("severity", "critical".to_string()));
        assert_eq!(m.attributes[2].1, alert().fingerprint);
    }

    #[test]
    fn oversize_text_is_cut_on_a_char_boundary_with_a_marker() {
        let mut a = alert();
        a.summary = "é".repeat(200_000); // 400,000 bytes
        let m = render(&a, MessageFormat::Text);
        assert!(m.size() <= MAX_PUBLISH_BYTES);
        assert!(m.body.ends_with(TRUNCATION_MARKER));
        assert!(std::str::from_utf8(m.body.as_bytes()).is_ok());
    }

    #[test]
    fn oversize_json_stays_valid_json() {
        let mut a = alert();
        a.summary = "s".repeat(300_000);
        a.details.push(("big".into(), "d".repeat(300_000)));
        for f in [MessageFormat::Json, MessageFormat::Chatbot] {
            let m = render(&a, f);
            assert!(m.size() <= MAX_PUBLISH_BYTES, "{f:?} {}", m.size());
            serde_json::from_str::<serde_json::Value>(&m.body).unwrap();
        }
    }

    #[test]
    fn chatbot_format_follows_the_custom_notification_schema() {
        let m = render(&alert(), MessageFormat::Chatbot);
        let v: serde_json::Value = serde_json::from_str(&m.body).unwrap();
        assert_eq!(v["version"], "1.0");
        assert_eq!(v["source"], "custom");
        assert_eq!(v["content"]["textType"], "client-markdown");
        assert_eq!(v["metadata"]["threadId"], alert().fingerprint);
        assert!(
            v["content"]["nextSteps"][0]
                .as_str()
                .unwrap()
                .contains("https://runbook")
        );
    }

    #[test]
    fn names_in_the_body_have_no_line_breaks_or_bidi_overrides() {
        let mut a = alert();
        let evil = "streamops-raw\r\nFAKE: all clear\u{202E}egats\u{2066}";
        a.title = format!("ALARM {evil}");
        a.resource = evil.into();
        a.details.push(("triggering alarms".into(), evil.into()));
        for f in [MessageFormat::Text, MessageFormat::Chatbot] {
            let body = render(&a, f).body;
            for c in ['\r', '\u{202E}', '\u{2066}'] {
                assert!(!body.contains(c), "{f:?} keeps {c:?}: {body}");
            }
            assert!(!body.contains("\nFAKE"), "{f:?}: {body}");
        }
        let text = render(&a, MessageFormat::Text).body;
        assert!(
            text.contains("Resource:    streamops-raw  FAKE: all clear\u{FFFD}egats\u{FFFD}"),
            "{text}"
        );
    }
}
