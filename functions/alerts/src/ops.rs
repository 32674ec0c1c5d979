//! Ops commands, sent by hand (`aws lambda invoke`, `sam remote invoke`) as a JSON object with a
//! `command` field. Anything without `command` is treated as an event. [`parse_command`] reads
//! one, `run` carries it out through the service's ports.

use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use streamops_shared::Metrics;

use crate::config::AlertsConfig;
use crate::model::{Alert, AlertKind, Severity, fingerprint};
use crate::outcome::{AlertsError, InvocationContext};
use chrono::{DateTime, Utc};

use crate::ports::{ActivityStore, GroupStore, Publisher, StateStore};
use crate::render::render_routed;
use crate::silence::{CreateSilenceRequest, create_silence};

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum AlertsCommand {
    /// Publish a test alert straight to the topic (no dedup, no silences) to check delivery.
    SendTestAlert(TestAlertRequest),
    CreateSilence(CreateSilenceRequest),
    ListSilences(ListSilencesRequest),
    RemoveSilence(RemoveSilenceRequest),
    /// The inhibition sources in effect and the targets each has muted.
    Inhibitions(InhibitionsRequest),
    /// The mute windows: active now or when next, and what each muted.
    MuteWindows(MuteWindowsRequest),
    /// The groups (with `ALERTS_GROUP_BY`) and their members, and when each flushes next.
    Groups(GroupsRequest),
    /// What the suite is doing that alerts know of (resizes, checkpoint failures) and the hold.
    Activities(ActivitiesRequest),
    /// What the function would do with an event and why (dedup, silences, mute windows,
    /// inhibition, routes or group), without doing it (`crate::explain`).
    Explain(ExplainRequest),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupsRequest {}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivitiesRequest {
    /// Also activities that ended or lapsed but are still in the table.
    #[serde(default)]
    pub include_ended: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    /// An event as a delivery would bring it (EventBridge, SNS, an alarm action).
    pub event: Value,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MuteWindowsRequest {}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitionsRequest {
    /// Also list sources that no longer fire (resolved, or past their rule's bound) but are
    /// still in the table.
    #[serde(default)]
    pub include_ended: bool,
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

pub const COMMANDS: &str = "send-test-alert, create-silence, list-silences, remove-silence, inhibitions, mute-windows, groups, activities, explain";

/// `None` when the payload is not a command; `Some(Err)` with a clear message when it is one but
/// does not parse.
pub fn parse_command(payload: &Value) -> Option<Result<AlertsCommand, String>> {
    streamops_shared::ops::parse_command(payload, "alerts", COMMANDS)
}

/// Carries out a command. `send-test-alert` publishes straight to the topic (no dedup, no
/// silences); the silence commands read and write the state store.
pub(crate) async fn run(
    config: &AlertsConfig,
    store: &(impl StateStore + GroupStore + ActivityStore),
    publisher: &impl Publisher,
    command: AlertsCommand,
    ctx: &InvocationContext,
    metrics: &mut Metrics,
) -> Result<Value, AlertsError> {
    match command {
        AlertsCommand::SendTestAlert(req) => {
            let severity = req.severity.unwrap_or(Severity::Info);
            let region = crate::normalize::region_from_arn(&config.topic_arn);
            let alert = test_alert(severity, req.message, region, ctx);
            let message_id = publisher
                .publish(&render_routed(
                    &alert,
                    config.format,
                    &config.pagerduty_routing_key,
                ))
                .await?;
            metrics.count("TestAlertsPublished", 1);
            tracing::info!(message_id = %message_id, "test alert published");
            Ok(
                json!({ "command": "send-test-alert", "message_id": message_id, "fingerprint": alert.fingerprint, "subject": crate::render::subject(&alert) }),
            )
        }
        AlertsCommand::CreateSilence(req) => {
            let id = silence_id(&ctx.request_id);
            let silence = create_silence(req, id, ctx.now).map_err(AlertsError::BadCommand)?;
            store.put_silence(&silence).await?;
            tracing::info!(silence = %silence.id, ends_at = %silence.ends_at, "silence created");
            Ok(json!({ "command": "create-silence", "silence": silence }))
        }
        AlertsCommand::ListSilences(req) => {
            let mut silences = store.list_silences().await?;
            if !req.include_expired {
                silences.retain(|s| s.is_active(ctx.now));
            }
            silences.sort_by_key(|s| s.ends_at);
            // The recurring mutes beside the operators' ones: what else keeps alerts quiet.
            let windows: Vec<_> = config
                .mute_windows
                .iter()
                .map(|w| json!({"name": w.name(), "active": w.window.is_active(ctx.now), "next_start": w.window.next_start(ctx.now)}))
                .collect();
            Ok(json!({ "command": "list-silences", "silences": silences, "mute_windows": windows }))
        }
        AlertsCommand::RemoveSilence(req) => {
            if !store.delete_silence(&req.id).await? {
                return Err(AlertsError::BadCommand(format!(
                    "no silence with id {:?} (list-silences shows the ids)",
                    req.id
                )));
            }
            tracing::info!(silence = %req.id, "silence removed");
            Ok(json!({ "command": "remove-silence", "removed": req.id }))
        }
        // The service answers it (it judges as a delivery does); never sent here.
        AlertsCommand::Explain(_) => Err(AlertsError::BadCommand(
            "explain is answered by the service, not the ops runner".into(),
        )),
        AlertsCommand::Groups(GroupsRequest {}) => groups(store).await,
        AlertsCommand::Activities(req) => {
            activities(config, store, req.include_ended, ctx.now).await
        }
        AlertsCommand::MuteWindows(MuteWindowsRequest {}) => Ok(json!({
            "command": "mute-windows",
            "mute_windows": mute_windows(config, store, ctx.now).await?,
        })),
        AlertsCommand::Inhibitions(req) => {
            let inhibitions = inhibitions(store, req.include_ended, ctx.now).await?;
            // The rules as they were read, so what is configured is seen next to what fires.
            Ok(json!({
                "command": "inhibitions",
                "rules": config.inhibit_rules,
                "inhibitions": inhibitions,
            }))
        }
    }
}

/// Every stored inhibition source, judged against its state record as the service judges it,
/// with the targets it muted; firing ones first, then by when they began.
async fn inhibitions(
    store: &impl StateStore,
    include_ended: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Value>, AlertsError> {
    let mut out = Vec::new();
    for inhibitor in store.list_inhibitors("").await? {
        let record = store.load_state(&inhibitor.source_fingerprint).await?;
        let firing = inhibitor.is_firing(record.as_ref(), now);
        if !firing && !include_ended {
            continue;
        }
        let muted: Vec<_> = store
            .list_muted(&inhibitor.source_fingerprint)
            .await?
            .into_iter()
            .filter(|m| m.rule == inhibitor.rule)
            .collect();
        out.push((
            firing,
            inhibitor.source_time,
            json!({
                "rule": inhibitor.rule,
                "source_fingerprint": inhibitor.source_fingerprint,
                "source_resource": inhibitor.source_resource,
                "source_state": inhibitor.source_state,
                "since": inhibitor.source_time,
                "until": inhibitor.until,
                "equal": inhibitor.equal,
                "firing": firing,
                "muted_count": muted.len(),
                "muted": muted,
            }),
        ));
    }
    out.sort_by_key(|(firing, since, _)| (!*firing, *since));
    Ok(out.into_iter().map(|(_, _, v)| v).collect())
}

/// Every configured window as read, whether it is active now (and until when), its next
/// start, and the alerts it muted (newest first; `muted_now`: how many in the occurrence in
/// effect).
async fn mute_windows(
    config: &AlertsConfig,
    store: &impl StateStore,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Value>, AlertsError> {
    let mut out = Vec::with_capacity(config.mute_windows.len());
    for w in &config.mute_windows {
        let active = w.window.is_active(now);
        let mut muted = store.list_muted(&w.muted_key()).await?;
        muted.sort_by_key(|m| std::cmp::Reverse(m.time));
        let muted_now = active
            .as_ref()
            .map_or(0, |a| muted.iter().filter(|m| m.time >= a.started).count());
        out.push(json!({
            "window": w,
            "active": active,
            "next_start": w.window.next_start(now),
            "muted_now": muted_now,
            "muted_count": muted.len(),
            "muted": muted,
        }));
    }
    Ok(out)
}

fn silence_id(request_id: &str) -> String {
    let digest = Sha256::digest(request_id.as_bytes());
    format!("sil-{}", &hex::encode(digest)[..12])
}

fn test_alert(
    severity: Severity,
    message: Option<String>,
    region: Option<String>,
    ctx: &InvocationContext,
) -> Alert {
    let resource = "streamops-test-alert".to_string();
    Alert {
        kind: AlertKind::Test,
        severity,
        title: "Test alert from streamops".into(),
        summary: message.unwrap_or_else(|| {
            "This is a test alert sent with the send-test-alert ops command.".into()
        }),
        source: "streamops.alerts".into(),
        detail_type: "Test Alert".into(),
        fingerprint: fingerprint(None, None, "streamops.alerts", &resource),
        resource,
        region,
        account: None,
        time: ctx.now,
        state: "TEST".into(),
        previous_state: None,
        event_id: ctx.request_id.clone(),
        console_url: None,
        runbook_url: None,
        details: vec![("request id".into(), ctx.request_id.clone())],
        suppressed_by: None,
        labels: Default::default(),
    }
}

/// The suite's activities, newest first, each with whether it is in effect now; and the hold.
async fn activities(
    config: &AlertsConfig,
    store: &impl ActivityStore,
    include_ended: bool,
    now: DateTime<Utc>,
) -> Result<Value, AlertsError> {
    let mut all = store.list_activities().await?;
    all.sort_by_key(|a| std::cmp::Reverse(a.since));
    let listed: Vec<Value> = all
        .iter()
        .filter(|a| include_ended || a.in_effect(now))
        .map(|a| {
            json!({"key": a.key, "kind": a.kind, "subject": a.subject, "labels": a.labels,
                "what": a.what, "since": a.since, "settles_by": a.settles_by,
                "in_effect": a.in_effect(now), "ended": a.ended})
        })
        .collect();
    let hold = config
        .hold_during_scaling
        .map(|s| s.as_str())
        .unwrap_or("off");
    Ok(json!({"command": "activities", "hold_during_scaling": hold, "activities": listed}))
}

/// The most groups one `groups` answer lists (each is one read).
const MAX_GROUPS_LISTED: usize = 100;

/// Every group in the table (by key), as stored, with its next flush as a time.
async fn groups(store: &impl GroupStore) -> Result<Value, AlertsError> {
    let mut keys = store.list_group_keys().await?;
    keys.sort();
    keys.dedup();
    let mut listed = Vec::new();
    for key in keys.iter().take(MAX_GROUPS_LISTED) {
        // An index entry outlives its group by a little (both expire by TTL): skipped.
        let Some(group) = store.load_group(key).await? else {
            continue;
        };
        let pending = group.members.iter().filter(|m| m.pending).count();
        let mut v = serde_json::to_value(&group).unwrap_or_default();
        v["pending"] = json!(pending);
        v["next_flush"] = json!(
            group
                .due_ms
                .and_then(chrono::DateTime::from_timestamp_millis)
        );
        listed.push(v);
    }
    let more = keys.len().saturating_sub(MAX_GROUPS_LISTED);
    Ok(json!({"command": "groups", "groups": listed, "more": more}))
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
            ("inhibitions", "Inhibitions"),
            ("mute-windows", "MuteWindows"),
            ("groups", "Groups"),
            ("activities", "Activities"),
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
