//! Grouping, pure: alerts with the same group key (the values of `ALERTS_GROUP_BY` labels) go
//! out as one notification. A group is one DynamoDB item (see `store.rs`) changed only by
//! version-conditioned writes; this module says what each write is:
//! - [`add_member`]: an alert joins (or updates its entry in) its group; the first member of a
//!   new round schedules flush `n` at now + `group_wait`, a member joining a group whose flush
//!   is not yet scheduled schedules one at the last flush + `group_interval`; a member joining
//!   while a flush is scheduled schedules nothing;
//! - [`claim_flush`]: flush `n` takes the pending members under a claim that expires at the
//!   invocation's deadline (so one flusher publishes, the other backs off);
//! - [`mark_flushed`]: after the publish, the claimed members are marked notified and `n`
//!   recorded as flushed: a redelivered message for `n` finds `flushed >= n` and sends nothing.
//!
//! A group's resolution is one notification, when every problem member has resolved and the
//! round notified something; the round then ends, and the next problem starts a new one.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::{Alert, Severity};

/// SQS's largest per-message delay: the flush's wait and interval are bounded by it.
pub const MAX_DELAY_SECONDS: u64 = 900;
/// A scheduled flush this long past its due time is taken as lost (its message never sent)
/// and scheduled again by the next member or flush message.
pub const OVERDUE_GRACE_MS: i64 = 120_000;

/// `ALERTS_GROUP_BY`, `ALERTS_GROUP_WAIT`, `ALERTS_GROUP_INTERVAL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    pub by: Vec<String>,
    pub wait: Duration,
    pub interval: Duration,
    /// The most members one group holds; an alert that would be one more goes out on its own
    /// ([`is_full`]).
    pub max_members: usize,
}

/// `ALERTS_GROUP_MAX_MEMBERS` unless set.
pub const DEFAULT_MAX_MEMBERS: usize = 500;

/// What a group's members may take of its DynamoDB item (400 KB), each counted with its place
/// in a flush's claim (`Sending`), so the item fits whatever its members' lengths.
pub const MAX_MEMBER_BYTES: usize = 350 * 1024;

/// Whether `alert` would be a new member of a group already at its cap: `max_members`
/// members, or members whose size with this one's would pass [`MAX_MEMBER_BYTES`]. Such an
/// alert is published on its own, deduplicated as any other, so a storm past the cap loses
/// nothing and the group's item never outgrows DynamoDB's limit; a member already in the group
/// (its recovery, a new state) always updates its entry.
pub fn is_full(group: Option<&Group>, alert: &Alert, cfg: &GroupConfig) -> bool {
    let Some(g) = group else {
        return false;
    };
    if g.members.iter().any(|m| m.fingerprint == alert.fingerprint) {
        return false;
    }
    let used: usize = g.members.iter().map(member_bytes).sum();
    g.members.len() >= cfg.max_members || used + member_bytes(&Member::of(alert)) > MAX_MEMBER_BYTES
}

/// A member's share of the item: its entry, and its `(fingerprint, event_id)` in a claim.
fn member_bytes(m: &Member) -> usize {
    serde_json::to_string(m).map_or(0, |s| s.len()) + m.fingerprint.len() + m.event_id.len() + 8
}

/// One alert in its group, as the notifications list it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub fingerprint: String,
    /// The delivery that last changed the entry: a mark applies only to what was claimed.
    pub event_id: String,
    pub resource: String,
    pub title: String,
    pub state: String,
    pub severity: Severity,
    /// When its state began.
    pub since: DateTime<Utc>,
    /// Not yet in a notification.
    pub pending: bool,
    /// Its problem was in a notification of this round.
    pub notified: bool,
}

impl Member {
    fn of(alert: &Alert) -> Self {
        Member {
            fingerprint: alert.fingerprint.clone(),
            event_id: alert.event_id.clone(),
            resource: alert.resource.clone(),
            title: alert.title.clone(),
            state: alert.state.clone(),
            severity: alert.severity,
            since: alert.time,
            pending: alert.severity != Severity::Resolved,
            notified: false,
        }
    }

    fn resolved(&self) -> bool {
        self.severity == Severity::Resolved
    }
}

/// What a notification of the group says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BatchKind {
    /// The round's first notification: every member so far.
    Initial,
    /// Members that joined (or changed) after the last notification.
    FollowUp,
    /// Every problem member has resolved: the round's last notification.
    Resolution,
}

/// A flush in progress: written before SNS is called, cleared by the mark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sending {
    pub flush: u64,
    pub kind: BatchKind,
    /// `(fingerprint, event_id)` of each member the notification lists.
    pub members: Vec<(String, String)>,
    pub claim_until_ms: i64,
}

/// The stored group. `version` is the item's, not part of the body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub key: String,
    pub labels: BTreeMap<String, String>,
    /// A new round begins when a problem joins a group with no members.
    pub round: u64,
    pub members: Vec<Member>,
    /// The last flush number that was published (or found nothing to say). Only grows.
    pub flushed: u64,
    /// The flush number whose message is queued, and when it is due.
    pub scheduled: Option<u64>,
    pub due_ms: Option<i64>,
    pub last_flush_ms: Option<i64>,
    pub sending: Option<Sending>,
    #[serde(skip)]
    pub version: u64,
}

/// The message the queue carries: flush group `group` for the `flush`-th time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlushRequest {
    pub group: String,
    pub flush: u64,
    #[serde(skip)]
    pub delay_seconds: u64,
}

/// An alert's group key (a digest of the `by` labels' values; a missing label is empty, as in
/// Alertmanager) and those values.
pub fn group_key(alert: &Alert, by: &[String]) -> (String, BTreeMap<String, String>) {
    let mut h = Sha256::new();
    let mut labels = BTreeMap::new();
    for name in by {
        let value = alert.label(name).unwrap_or("");
        h.update(name.as_bytes());
        h.update([0x1f]);
        h.update(value.as_bytes());
        h.update([0x1e]);
        labels.insert(name.clone(), value.to_string());
    }
    (hex::encode(&h.finalize()[..16]), labels)
}

impl Group {
    fn new(key: &str, labels: BTreeMap<String, String>) -> Self {
        Group {
            key: key.to_string(),
            labels,
            round: 1,
            members: vec![],
            flushed: 0,
            scheduled: None,
            due_ms: None,
            last_flush_ms: None,
            sending: None,
            version: 0,
        }
    }

    /// Whether a flush has something to do: a member to announce, or a round to resolve.
    pub fn needs_flush(&self) -> bool {
        self.members.iter().any(|m| m.pending) || self.all_resolved()
    }

    /// Every problem member has resolved (info-only members never resolve and do not count).
    fn all_resolved(&self) -> bool {
        let mut problems = self.members.iter().filter(|m| m.severity != Severity::Info);
        problems.clone().next().is_some() && problems.all(Member::resolved)
    }

    /// The scheduled flush, if it is overdue (its message was lost): the request to send again.
    pub fn overdue(&self, now_ms: i64) -> Option<FlushRequest> {
        let (flush, due) = (self.scheduled?, self.due_ms?);
        (now_ms > due + OVERDUE_GRACE_MS).then(|| self.request(flush, 0))
    }

    fn request(&self, flush: u64, delay_seconds: u64) -> FlushRequest {
        FlushRequest {
            group: self.key.clone(),
            flush,
            delay_seconds,
        }
    }

    /// Schedules the next flush if none is and there is something to flush.
    fn schedule(&mut self, now_ms: i64, cfg: &GroupConfig) -> Option<FlushRequest> {
        if self.scheduled.is_some() || !self.needs_flush() {
            return None;
        }
        let notified_before = self.members.iter().any(|m| m.notified);
        let due = match self.last_flush_ms {
            Some(last) if notified_before => (last + cfg.interval.as_millis() as i64).max(now_ms),
            _ => now_ms + cfg.wait.as_millis() as i64,
        };
        let flush = self.flushed + 1;
        self.scheduled = Some(flush);
        self.due_ms = Some(due);
        let delay = ((due - now_ms).max(0) as u64).div_ceil(1000);
        Some(self.request(flush, delay.min(MAX_DELAY_SECONDS)))
    }
}

/// The group after `alert` joined it, and the flush to queue (before the write: a message
/// for a flush the write never scheduled finds nothing to do).
pub fn add_member(
    group: Option<Group>,
    alert: &Alert,
    cfg: &GroupConfig,
    now_ms: i64,
) -> (Group, Option<FlushRequest>) {
    let (key, labels) = group_key(alert, &cfg.by);
    let mut group = group.unwrap_or_else(|| Group::new(&key, labels));
    let mut member = Member::of(alert);
    let same = |m: &Member| m.fingerprint == alert.fingerprint && m.event_id == alert.event_id;
    if group.members.iter().any(same) {
        // This delivery joined already (a retry after its write landed): nothing changes.
        let request = group.overdue(now_ms);
        return (group, request);
    }
    match group
        .members
        .iter_mut()
        .find(|m| m.fingerprint == alert.fingerprint)
    {
        Some(existing) => {
            // A recovery is announced with the round's resolution, not on its own.
            member.notified = existing.notified && alert.severity == Severity::Resolved;
            *existing = member;
        }
        None => group.members.push(member),
    }
    let request = group
        .schedule(now_ms, cfg)
        .or_else(|| group.overdue(now_ms));
    (group, request)
}

/// What flush `n` does with the group it read.
#[derive(Debug, Clone, PartialEq)]
pub enum FlushStep {
    /// `n` was flushed already (a redelivery), or never scheduled by a write that landed;
    /// with the overdue flush to queue again, if any.
    Nothing(Option<FlushRequest>),
    /// Another flush holds an unexpired claim: retry later.
    InFlight,
    /// Nothing to say (e.g. every member resolved before anything was sent): write this group
    /// (the flush recorded, the round ended) and publish nothing.
    Quiet(Box<Group>),
    /// Write this group (the claim), then publish these members.
    Claimed(Box<Group>),
}

/// Flush `flush` of `group`, at `now_ms`, claiming until `claim_until_ms`.
pub fn claim_flush(
    group: Option<Group>,
    flush: u64,
    now_ms: i64,
    claim_until_ms: i64,
) -> FlushStep {
    let Some(mut group) = group else {
        return FlushStep::Nothing(None);
    };
    if group.flushed >= flush {
        // A redelivery of `flush` (its mark landed, maybe not its queueing of the next one):
        // the next flush is queued again; a second message for it finds it done.
        let next = match group.scheduled {
            Some(s) if s == flush + 1 => group.due_ms.map(|due| {
                let delay = ((due - now_ms).max(0) as u64).div_ceil(1000);
                group.request(s, delay.min(MAX_DELAY_SECONDS))
            }),
            _ => None,
        };
        return FlushStep::Nothing(next.or_else(|| group.overdue(now_ms)));
    }
    if let Some(s) = &group.sending {
        if s.claim_until_ms > now_ms {
            return FlushStep::InFlight;
        }
        // A flusher died after claiming, maybe after publishing: nothing says it published,
        // so the claim is taken over and sent again (at-least-once, like an alert's claim).
        let mut retaken = s.clone();
        retaken.claim_until_ms = claim_until_ms;
        group.sending = Some(retaken);
        return FlushStep::Claimed(Box::new(group));
    }
    if group.scheduled != Some(flush) {
        return FlushStep::Nothing(group.overdue(now_ms));
    }
    let resolved = group.all_resolved();
    let notified_before = group.members.iter().any(|m| m.notified);
    let (kind, listed): (BatchKind, Vec<&Member>) = if resolved && notified_before {
        (BatchKind::Resolution, group.members.iter().collect())
    } else if resolved || !group.members.iter().any(|m| m.pending) {
        return FlushStep::Quiet(Box::new(end_flush(group, flush, now_ms, resolved)));
    } else if notified_before {
        (
            BatchKind::FollowUp,
            group.members.iter().filter(|m| m.pending).collect(),
        )
    } else {
        (
            BatchKind::Initial,
            group.members.iter().filter(|m| m.pending).collect(),
        )
    };
    let members = listed
        .iter()
        .map(|m| (m.fingerprint.clone(), m.event_id.clone()))
        .collect();
    group.sending = Some(Sending {
        flush,
        kind,
        members,
        claim_until_ms,
    });
    FlushStep::Claimed(Box::new(group))
}

/// The members a claimed notification lists, as they now stand.
pub fn claimed_members<'a>(group: &'a Group, sending: &Sending) -> Vec<&'a Member> {
    sending
        .members
        .iter()
        .filter_map(|(fp, _)| group.members.iter().find(|m| &m.fingerprint == fp))
        .collect()
}

/// After the publish of `sending`: the group with its members marked and the flush recorded,
/// and the next flush to queue if members joined meanwhile. `None` if the claim is no longer
/// ours (it expired and another flusher took it over: its mark is the one that counts).
pub fn mark_flushed(
    group: Group,
    sending: &Sending,
    now_ms: i64,
    cfg: &GroupConfig,
) -> Option<(Group, Option<FlushRequest>)> {
    // The whole claim, its expiry included: a flusher whose claim expired and was taken over
    // (same flush, same members) is not the owner any more.
    if group.sending.as_ref() != Some(sending) {
        return None;
    }
    let mut group = group;
    for m in group.members.iter_mut() {
        if sending
            .members
            .contains(&(m.fingerprint.clone(), m.event_id.clone()))
        {
            m.pending = false;
            m.notified = m.severity != Severity::Resolved;
        }
    }
    let resolution = sending.kind == BatchKind::Resolution;
    let mut group = end_flush(group, sending.flush, now_ms, resolution);
    let next = group.schedule(now_ms, cfg);
    Some((group, next))
}

/// Records `flush` as done; a resolved round ends: its members are forgotten, except those
/// that joined (or fired again) after the claim, which open the next round.
fn end_flush(mut group: Group, flush: u64, now_ms: i64, round_over: bool) -> Group {
    group.flushed = group.flushed.max(flush);
    group.scheduled = None;
    group.due_ms = None;
    group.sending = None;
    group.last_flush_ms = Some(now_ms);
    if round_over {
        group.members.retain(|m| m.pending);
        group.round += 1;
    }
    group
}

/// What a message on the flush queue asks for: a group's flush, or the re-check of an alert
/// held while the scaler acted.
#[derive(Debug, Clone, PartialEq)]
pub enum QueuedWork {
    Flush(FlushRequest),
    /// Boxed: a held alert is large beside a flush request.
    Recheck(Box<crate::context::HeldAlert>),
}

/// One SQS record of a flush event: its message id and what its body asks for.
pub struct FlushRecord {
    pub message_id: String,
    pub request: Result<QueuedWork, String>,
}

/// The records of an SQS event from the flush queue (`eventSource` `aws:sqs` on every record),
/// or `None` for any other payload.
pub fn parse_flush_event(payload: &Value) -> Option<Vec<FlushRecord>> {
    let records = payload.get("Records")?.as_array()?;
    let sqs = |r: &Value| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs");
    if records.is_empty() || !records.iter().all(sqs) {
        return None;
    }
    let read = |r: &Value| -> Result<QueuedWork, String> {
        let body = r.get("body").and_then(Value::as_str).ok_or("no body")?;
        let v: Value = serde_json::from_str(body).map_err(|e| format!("body: {e}"))?;
        if let Some(held) = v.get("held_recheck") {
            return serde_json::from_value(held.clone())
                .map(|held| QueuedWork::Recheck(Box::new(held)))
                .map_err(|e| format!("body.held_recheck: {e}"));
        }
        let flush = v
            .get("group_flush")
            .ok_or("body: neither group_flush nor held_recheck")?;
        serde_json::from_value(flush.clone())
            .map(QueuedWork::Flush)
            .map_err(|e| format!("body.group_flush: {e}"))
    };
    Some(
        records
            .iter()
            .map(|r| FlushRecord {
                message_id: r
                    .get("messageId")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .into(),
                request: read(r),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests;
