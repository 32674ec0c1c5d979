//! The SNS message for a group's notification, in the configured format, within SNS's limits:
//! every member listed (name, state, severity, fingerprint, since), and under a member that is
//! an inhibition source the targets it muted ("3 related alarms muted"). Members are listed most
//! urgent first; a list too long for 256 KB keeps as many as fit and says how many it left out.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use streamops_shared::text::clean_inline;

use crate::group::{BatchKind, Group, Member, Sending};
use crate::inhibit::MutedTarget;
use crate::model::Severity;
use crate::render::{MAX_PUBLISH_BYTES, MAX_SUBJECT_CHARS, MessageFormat, SnsMessage, ascii_only};

/// Per member fingerprint, the targets it muted as an inhibition source.
pub type MutedLists = BTreeMap<String, Vec<MutedTarget>>;

/// At most this many muted targets are named under a member; the count is always whole.
const MUTED_NAMED: usize = 10;

/// The message for the claimed `sending` of `group`, listing `members` (and what they muted).
pub fn render_group(
    group: &Group,
    sending: &Sending,
    members: &[&Member],
    muted: &MutedLists,
    format: MessageFormat,
    routing_key: &str,
) -> SnsMessage {
    let mut members = members.to_vec();
    members.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then(a.resource.cmp(&b.resource))
    });
    let severity = severity_of(sending, &members);
    let attributes = vec![
        ("severity", severity.as_str().to_string()),
        ("source", "streamops.alerts.group".to_string()),
        ("fingerprint", format!("group:{}", group.key)),
        ("group", group.key.clone()),
        ("flush", sending.flush.to_string()),
    ];
    let limit = MAX_PUBLISH_BYTES
        - attributes
            .iter()
            .map(|(k, v)| k.len() + 6 + v.len())
            .sum::<usize>()
        - 256;
    let title = title(group, sending.kind, members.len(), severity);
    // Fewer and fewer members until the body fits (halving: a few rounds at most).
    let mut shown = members.len();
    let body = loop {
        let listed = Listed {
            members: &members[..shown],
            left_out: members.len() - shown,
            muted,
            severity,
            routing_key,
        };
        let body = body(group, sending, &title, &listed, format);
        if body.len() <= limit || shown == 0 {
            break body;
        }
        shown /= 2;
    };
    SnsMessage {
        topic: None,
        subject: ascii_only(&title, MAX_SUBJECT_CHARS),
        body,
        attributes,
    }
}

/// The notification's severity: `resolved` for a resolution, else its most urgent member's.
pub fn severity_of(sending: &Sending, members: &[&Member]) -> Severity {
    match sending.kind {
        BatchKind::Resolution => Severity::Resolved,
        _ => members
            .iter()
            .map(|m| m.severity)
            .min()
            .unwrap_or(Severity::Info),
    }
}

/// `CRITICAL: 20 alerts (account=1, region=us-east-1)`, `RESOLVED: ...`, `... 3 more alerts`.
fn title(group: &Group, kind: BatchKind, count: usize, severity: Severity) -> String {
    let labels = group
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let what = match kind {
        BatchKind::Initial => format!("{count} alert{}", plural(count)),
        BatchKind::FollowUp => format!("{count} more alert{}", plural(count)),
        BatchKind::Resolution => format!("all {count} alert{} resolved", plural(count)),
    };
    format!(
        "{}: {what} ({labels})",
        severity.as_str().to_ascii_uppercase()
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// What a body lists: the members that fit, how many did not, what they muted; and the
/// notification's severity and PagerDuty routing key (for `pagerduty`).
struct Listed<'a> {
    members: &'a [&'a Member],
    left_out: usize,
    muted: &'a MutedLists,
    severity: Severity,
    routing_key: &'a str,
}

impl Listed<'_> {
    fn muted_of(&self, m: &Member) -> &[MutedTarget] {
        self.muted.get(&m.fingerprint).map_or(&[], Vec::as_slice)
    }
}

fn body(
    group: &Group,
    sending: &Sending,
    title: &str,
    l: &Listed,
    format: MessageFormat,
) -> String {
    match format {
        MessageFormat::Text => text(group, sending, title, l),
        MessageFormat::Json => {
            serde_json::to_string_pretty(&json_body(group, sending, l)).unwrap_or_default()
        }
        MessageFormat::Chatbot => chatbot(group, title, l).to_string(),
        MessageFormat::PagerDuty => {
            let details = json_body(group, sending, l);
            let dedup_key = format!("group:{}", group.key);
            crate::pagerduty::group_event(&dedup_key, title, l.severity, details, l.routing_key)
                .to_string()
        }
    }
}

/// `3 related alarms muted: a [ALARM], b [ALARM], c [ALARM]`, naming at most [`MUTED_NAMED`].
fn muted_line(muted: &[MutedTarget]) -> Option<String> {
    if muted.is_empty() {
        return None;
    }
    let names: Vec<String> = muted
        .iter()
        .take(MUTED_NAMED)
        .map(|t| format!("{} [{}]", clean_inline(&t.resource), clean_inline(&t.state)))
        .collect();
    let more = muted.len().saturating_sub(MUTED_NAMED);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    let n = muted.len();
    Some(format!(
        "{n} related alarm{} muted: {}{more}",
        plural(n),
        names.join(", ")
    ))
}

fn text(group: &Group, sending: &Sending, title: &str, l: &Listed) -> String {
    let mut lines = vec![clean_inline(title).into_owned(), String::new()];
    for (k, v) in &group.labels {
        lines.push(format!("{:<12} {}", format!("{k}:"), clean_inline(v)));
    }
    lines.push(format!("{:<12} {}", "Group:", group.key));
    lines.push(format!(
        "{:<12} {} (round {})",
        "Flush:", sending.flush, group.round
    ));
    lines.push(String::new());
    lines.push("Members:".into());
    for m in l.members {
        lines.push(format!(
            "  {} {} [{}] since {} fingerprint {}",
            m.severity.as_str().to_ascii_uppercase(),
            clean_inline(&m.resource),
            clean_inline(&m.state),
            m.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            m.fingerprint
        ));
        if let Some(line) = muted_line(l.muted_of(m)) {
            lines.push(format!("    {line}"));
        }
    }
    if l.left_out > 0 {
        lines.push(format!(
            "  ... and {} more (message size limit)",
            l.left_out
        ));
    }
    lines.join("\n")
}

fn member_json(m: &Member, muted: &[MutedTarget]) -> Value {
    let named: Vec<Value> = muted
        .iter()
        .take(MUTED_NAMED)
        .map(|t| json!({"name": t.resource, "state": t.state, "fingerprint": t.fingerprint, "rule": t.rule}))
        .collect();
    json!({"name": m.resource, "title": m.title, "state": m.state, "severity": m.severity,
           "fingerprint": m.fingerprint, "since": m.since,
           "muted_count": muted.len(), "muted": named})
}

fn json_body(group: &Group, sending: &Sending, l: &Listed) -> Value {
    json!({
        "group": group.key,
        "labels": group.labels,
        "round": group.round,
        "flush": sending.flush,
        "kind": sending.kind,
        "members": l.members.iter().map(|m| member_json(m, l.muted_of(m))).collect::<Vec<_>>(),
        "members_left_out": l.left_out,
    })
}

fn chatbot(group: &Group, title: &str, l: &Listed) -> Value {
    let mut description = String::new();
    for m in l.members {
        description.push_str(&format!(
            "*{}* {} ({}) since {}\n",
            clean_inline(&m.resource),
            clean_inline(&m.state),
            m.severity.as_str(),
            m.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
        if let Some(line) = muted_line(l.muted_of(m)) {
            description.push_str(&format!("    _{line}_\n"));
        }
    }
    if l.left_out > 0 {
        description.push_str(&format!("... and {} more\n", l.left_out));
    }
    json!({
        "version": "1.0",
        "source": "custom",
        "content": {"textType": "client-markdown", "title": clean_inline(title), "description": description},
        // One thread per group: its follow-ups and resolution answer the first notification.
        "metadata": {"threadId": format!("group:{}", group.key), "summary": clean_inline(title),
                     "additionalContext": {"group": group.key, "labels": group.labels}}
    })
}
