//! The dedup decision: given what was last recorded for a fingerprint and a new alert, publish
//! or not, and why. Pure; the store applies the result with a conditional write on the version
//! it read, so two concurrent invocations cannot both publish.
//!
//! Rules, in order:
//! 1. A claim (publish in progress) that has not expired, by any delivery, this event's own
//!    included (its holder may yet die before it publishes): the caller backs off and retries
//!    (`InFlight`). An expired claim was never confirmed: its holder died, or failed to release
//!    it, somewhere around the publish. The alert is judged against the record as it was before
//!    the claim (the claim keeps it, [`judged_against`]), so the transition it claimed is still
//!    news to the next delivery of it, whichever copy that is: at-least-once, never lost.
//! 2. Same event id as the last recorded one: a redelivery (`Redelivered`).
//! 3. Older than what is recorded: reordered delivery (`OutOfOrder`).
//! 4. Same state as recorded and published inside the dedup window (`RepeatWithinWindow`).
//!    After the window a persisting state is re-notified (Alertmanager's repeat interval).
//! 5. An alarm's OK is a recovery only if a problem was notified for this fingerprint, or the
//!    event itself says the alarm left ALARM. A new alarm's INSUFFICIENT_DATA -> OK is not
//!    (`NotARecovery`).
//! 6. A transition whose actions CloudWatch itself suppressed (a composite alarm's actions
//!    suppressor: `WaitPeriod`, `ExtensionPeriod`, `Alarm`) is recorded, not sent
//!    (`ActionsSuppressed`). Its record keeps no publish time, so the same state delivered again
//!    once the actions do run (the wait period ended) is sent, not taken for a repeat. An OK is
//!    exempt: a recovery still reaches whoever was paged (and rule 5 still applies).

use serde::Serialize;

use crate::model::{Alert, Severity};

/// What the store holds for one fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredState {
    pub state: String,
    pub state_time_ms: i64,
    pub event_id: String,
    /// When the last notification for this fingerprint was published (absent: never).
    pub published_at_ms: Option<i64>,
    /// Whether the last notification sent was a problem (so a later OK is a recovery).
    pub problem_notified: bool,
    pub claim: Option<Claim>,
    pub version: u64,
}

/// A publish in progress: written before SNS is called, cleared after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub event_id: String,
    pub expires_at_ms: i64,
    /// The record as it was before this claim (absent: there was none), without its claim: what
    /// the next delivery is judged against if this claim expires unreleased.
    pub before: Option<Box<StoredState>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SuppressReason {
    Redelivered,
    OutOfOrder,
    RepeatWithinWindow,
    NotARecovery,
    Silenced,
    BelowMinimumSeverity,
    ActionsSuppressed,
    /// A source alert of an inhibition rule is firing (see `inhibit.rs`).
    Inhibited,
    /// A mute window matching the alert is in effect (see `mute.rs`); its metric and log
    /// reason is `mute_window:<name>`.
    MuteWindow,
    /// A problem on a resource the scaler is acting on, held until the action should have
    /// settled (`ALERTS_HOLD_DURING_SCALING`); a re-check then sends it if it still fires.
    HeldWhileScaling,
}

impl SuppressReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressReason::Redelivered => "redelivered",
            SuppressReason::OutOfOrder => "out-of-order",
            SuppressReason::RepeatWithinWindow => "repeat-within-window",
            SuppressReason::NotARecovery => "not-a-recovery",
            SuppressReason::Silenced => "silenced",
            SuppressReason::BelowMinimumSeverity => "below-minimum-severity",
            SuppressReason::ActionsSuppressed => "actions-suppressed",
            SuppressReason::Inhibited => "inhibited",
            SuppressReason::MuteWindow => "mute-window",
            SuppressReason::HeldWhileScaling => "held-while-scaling",
        }
    }

    /// Whether the suppressed alert still moves the recorded state forward. Redeliveries,
    /// reordered events and repeats do not; a silenced or filtered state change does, so that
    /// the next transition is judged against the truth.
    pub fn records_state(self) -> bool {
        matches!(
            self,
            SuppressReason::NotARecovery
                | SuppressReason::Silenced
                | SuppressReason::BelowMinimumSeverity
                | SuppressReason::ActionsSuppressed
                | SuppressReason::Inhibited
                | SuppressReason::MuteWindow
                | SuppressReason::HeldWhileScaling
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Publish,
    Suppress(SuppressReason),
    /// Another delivery is publishing for this fingerprint right now.
    InFlight,
}

/// What `alert` is judged against (rule 1): the stored record, or, if it carries a claim that
/// expired at `now_ms`, the record before that claim, with the stored version (the conditional
/// write that follows is on the stored item). `None`: no record, or none before the claim.
pub fn judged_against(record: Option<&StoredState>, now_ms: i64) -> Option<StoredState> {
    let record = record?;
    match &record.claim {
        Some(claim) if claim.expires_at_ms <= now_ms => {
            claim.before.as_deref().map(|b| StoredState {
                claim: None,
                version: record.version,
                ..b.clone()
            })
        }
        _ => Some(record.clone()),
    }
}

/// Rules 1 to 6 above, on the record [`judged_against`] gives. Silences and the minimum
/// severity are applied by the caller afterwards, on `Publish` only.
pub fn decide(prev: Option<&StoredState>, alert: &Alert, now_ms: i64, window_ms: i64) -> Decision {
    let recovery = alert.kind.has_recoveries() && alert.state == "OK";
    let actions_suppressed = alert.suppressed_by.is_some() && !recovery;
    let Some(prev) = prev else {
        if recovery && alert.previous_state.as_deref() != Some("ALARM") {
            return Decision::Suppress(SuppressReason::NotARecovery);
        }
        if actions_suppressed {
            return Decision::Suppress(SuppressReason::ActionsSuppressed);
        }
        return Decision::Publish;
    };
    if prev.claim.is_some() {
        // Live (an expired one is replaced by the record before it, see `judged_against`).
        return Decision::InFlight;
    }
    if prev.event_id == alert.event_id {
        return Decision::Suppress(SuppressReason::Redelivered);
    }
    let alert_ms = alert.time.timestamp_millis();
    if alert_ms < prev.state_time_ms {
        return Decision::Suppress(SuppressReason::OutOfOrder);
    }
    if actions_suppressed {
        return Decision::Suppress(SuppressReason::ActionsSuppressed);
    }
    if prev.state == alert.state && prev.published_at_ms.is_some_and(|p| now_ms - p < window_ms) {
        return Decision::Suppress(SuppressReason::RepeatWithinWindow);
    }
    if recovery && !prev.problem_notified {
        // Either the alarm never left OK for us (a new alarm's first evaluation), or its ALARM
        // was silenced or filtered: a recovery nobody heard the start of is noise.
        return Decision::Suppress(SuppressReason::NotARecovery);
    }
    Decision::Publish
}

/// Whether a [`SuppressReason::RepeatWithinWindow`] still moves the record: it reports the
/// recorded state at a newer time, so the record takes that time (no publish is recorded).
/// Otherwise a transition older than the repeat but newer than the first report, arriving
/// after both, would be taken for news: a stale `OK` sent as resolved while the alarm is in
/// `ALARM` again. Not while a claim is recorded: its claimant's publish must not be lost.
pub fn repeat_moves_record(prev: Option<&StoredState>, alert: &Alert) -> bool {
    prev.is_some_and(|p| p.claim.is_none() && alert.time.timestamp_millis() > p.state_time_ms)
}

/// The record after publishing `alert` (with a claim until `claim_until_ms`) or after a
/// suppression that records state.
pub fn next_state(
    prev: Option<&StoredState>,
    alert: &Alert,
    published_at_ms: Option<i64>,
    claim_until_ms: Option<i64>,
) -> StoredState {
    let published = published_at_ms.is_some();
    StoredState {
        state: alert.state.clone(),
        state_time_ms: alert.time.timestamp_millis(),
        event_id: alert.event_id.clone(),
        // A suppressed transition's record forgets the last publish time (rule 6).
        published_at_ms: published_at_ms.or_else(|| {
            prev.and_then(|p| p.published_at_ms)
                .filter(|_| alert.suppressed_by.is_none())
        }),
        problem_notified: if published {
            alert.severity.is_problem()
        } else if alert.severity == Severity::Resolved {
            false
        } else {
            prev.is_some_and(|p| p.problem_notified)
        },
        claim: claim_until_ms.map(|t| Claim {
            event_id: alert.event_id.clone(),
            expires_at_ms: t,
            before: prev.map(|p| {
                Box::new(StoredState {
                    claim: None,
                    ..p.clone()
                })
            }),
        }),
        version: prev.map_or(0, |p| p.version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AlertKind, Severity};
    use chrono::{DateTime, Utc};

    const MIN: i64 = 60_000;
    const WINDOW: i64 = 60 * MIN;

    fn alarm(state: &str, prev: Option<&str>, at_ms: i64, id: &str) -> Alert {
        Alert {
            kind: AlertKind::MetricAlarm,
            severity: match state {
                "ALARM" => Severity::Critical,
                "OK" => Severity::Resolved,
                _ => Severity::Warning,
            },
            title: String::new(),
            summary: String::new(),
            source: "aws.cloudwatch".into(),
            detail_type: String::new(),
            resource: "a".into(),
            region: None,
            account: None,
            time: DateTime::<Utc>::from_timestamp_millis(at_ms).unwrap(),
            state: state.into(),
            previous_state: prev.map(str::to_string),
            event_id: id.into(),
            console_url: None,
            runbook_url: None,
            details: vec![],
            fingerprint: "fp".into(),
            suppressed_by: None,
            labels: Default::default(),
        }
    }

    fn published(a: &Alert, at: i64) -> StoredState {
        next_state(None, a, Some(at), None)
    }

    #[test]
    fn first_alarm_publishes_and_its_redelivery_does_not() {
        let a = alarm("ALARM", Some("OK"), 10 * MIN, "e1");
        assert_eq!(decide(None, &a, 10 * MIN, WINDOW), Decision::Publish);
        let s = published(&a, 10 * MIN);
        assert!(s.problem_notified);
        assert_eq!(
            decide(Some(&s), &a, 11 * MIN, WINDOW),
            Decision::Suppress(SuppressReason::Redelivered)
        );
    }

    #[test]
    fn ok_after_notified_alarm_is_resolved_once() {
        let a = alarm("ALARM", Some("OK"), 10 * MIN, "e1");
        let s = published(&a, 10 * MIN);
        let ok = alarm("OK", Some("ALARM"), 20 * MIN, "e2");
        assert_eq!(decide(Some(&s), &ok, 20 * MIN, WINDOW), Decision::Publish);
        let s2 = next_state(Some(&s), &ok, Some(20 * MIN), None);
        assert!(!s2.problem_notified);
        assert_eq!(
            decide(Some(&s2), &ok, 21 * MIN, WINDOW),
            Decision::Suppress(SuppressReason::Redelivered)
        );
    }

    #[test]
    fn new_alarm_initial_ok_is_not_a_recovery() {
        let ok = alarm("OK", Some("INSUFFICIENT_DATA"), 5 * MIN, "e0");
        assert_eq!(
            decide(None, &ok, 5 * MIN, WINDOW),
            Decision::Suppress(SuppressReason::NotARecovery)
        );
    }

    #[test]
    fn ok_without_record_but_from_alarm_is_a_recovery() {
        let ok = alarm("OK", Some("ALARM"), 5 * MIN, "e0");
        assert_eq!(decide(None, &ok, 5 * MIN, WINDOW), Decision::Publish);
    }

    #[test]
    fn older_event_after_newer_is_out_of_order() {
        let ok = alarm("OK", Some("ALARM"), 20 * MIN, "e2");
        let s = published(&ok, 20 * MIN);
        let late_alarm = alarm("ALARM", Some("OK"), 10 * MIN, "e1");
        assert_eq!(
            decide(Some(&s), &late_alarm, 21 * MIN, WINDOW),
            Decision::Suppress(SuppressReason::OutOfOrder)
        );
    }

    #[test]
    fn same_state_repeats_inside_window_and_renotifies_after() {
        let a = alarm("ALARM", Some("OK"), 10 * MIN, "eb-1");
        let s = published(&a, 10 * MIN);
        // The same transition delivered through SNS: other id, same state.
        let via_sns = alarm("ALARM", Some("OK"), 10 * MIN, "sns-1");
        assert_eq!(
            decide(Some(&s), &via_sns, 11 * MIN, WINDOW),
            Decision::Suppress(SuppressReason::RepeatWithinWindow)
        );
        let later = alarm("ALARM", Some("INSUFFICIENT_DATA"), 80 * MIN, "e3");
        assert_eq!(
            decide(Some(&s), &later, 80 * MIN, WINDOW),
            Decision::Publish
        );
    }

    #[test]
    fn silenced_alarm_then_ok_sends_nothing() {
        let a = alarm("ALARM", Some("OK"), 10 * MIN, "e1");
        let s = next_state(None, &a, None, None); // recorded, not published (silenced)
        assert!(!s.problem_notified);
        let ok = alarm("OK", Some("ALARM"), 20 * MIN, "e2");
        assert_eq!(
            decide(Some(&s), &ok, 20 * MIN, WINDOW),
            Decision::Suppress(SuppressReason::NotARecovery)
        );
    }

    #[test]
    fn claims_block_others_and_expired_own_claim_resumes() {
        let a = alarm("ALARM", Some("OK"), 10 * MIN, "e1");
        let claimed = next_state(None, &a, Some(10 * MIN), Some(10 * MIN + 30_000));
        let other = alarm("OK", Some("ALARM"), 11 * MIN, "e2");
        assert_eq!(
            decide(Some(&claimed), &other, 10 * MIN + 1_000, WINDOW),
            Decision::InFlight
        );
        // Its own event too, while it holds: the holder may still die before it publishes.
        assert_eq!(
            decide(Some(&claimed), &a, 10 * MIN + 1_000, WINDOW),
            Decision::InFlight
        );
        let expired = judged_against(Some(&claimed), 10 * MIN + 31_000);
        assert_eq!(expired, None, "no record before the claim");
        assert_eq!(
            decide(expired.as_ref(), &a, 10 * MIN + 31_000, WINDOW),
            Decision::Publish
        );
        // An abandoned claim by another event does not block forever.
        let abandoned = judged_against(Some(&claimed), 12 * MIN);
        assert_eq!(
            decide(abandoned.as_ref(), &other, 12 * MIN, WINDOW),
            Decision::Publish
        );
    }

    /// The soak's lost transition: a claim abandoned before its publish, then a twin of the
    /// same transition (another event id) after it expired. Judged against the claimed record
    /// it was a repeat; against the record before the claim it is the news it is.
    #[test]
    fn an_abandoned_claim_leaves_its_transition_news_to_a_twin() {
        let a = alarm("ALARM", Some("OK"), 10 * MIN, "e1");
        let notified = published(&a, 10 * MIN);
        let insufficient = alarm("INSUFFICIENT_DATA", Some("ALARM"), 20 * MIN, "e2");
        let claimed = next_state(
            Some(&notified),
            &insufficient,
            Some(20 * MIN),
            Some(20 * MIN + 30_000),
        );
        assert_eq!(
            claimed.claim.as_ref().unwrap().before.as_deref(),
            Some(&notified)
        );
        let twin = alarm("INSUFFICIENT_DATA", Some("ALARM"), 20 * MIN, "e2-via-sns");
        let basis = judged_against(Some(&claimed), 21 * MIN).unwrap();
        assert_eq!(basis.state, "ALARM");
        assert_eq!(
            basis.version, claimed.version,
            "the stored version, for the conditional write"
        );
        assert_eq!(
            decide(Some(&basis), &twin, 21 * MIN, WINDOW),
            Decision::Publish
        );
        // A live claim is left as it is.
        assert_eq!(
            judged_against(Some(&claimed), 20 * MIN + 1_000).as_ref(),
            Some(&claimed)
        );
    }

    #[test]
    fn insufficient_data_after_alarm_keeps_the_problem_for_the_later_ok() {
        let a = alarm("ALARM", Some("OK"), 10 * MIN, "e1");
        let s = published(&a, 10 * MIN);
        let insufficient = alarm("INSUFFICIENT_DATA", Some("ALARM"), 12 * MIN, "e2");
        let s2 = next_state(Some(&s), &insufficient, None, None); // below minimum severity, recorded
        assert!(s2.problem_notified);
        let ok = alarm("OK", Some("INSUFFICIENT_DATA"), 15 * MIN, "e3");
        assert_eq!(decide(Some(&s2), &ok, 15 * MIN, WINDOW), Decision::Publish);
    }

    #[test]
    fn actions_suppressed_transition_is_recorded_not_sent_and_the_later_run_is_sent() {
        let ok = alarm("OK", Some("ALARM"), 5 * MIN, "e0");
        let s = published(&ok, 5 * MIN);
        let mut suppressed = alarm("ALARM", Some("OK"), 10 * MIN, "e1");
        suppressed.suppressed_by = Some(streamops_shared::alarm::SuppressedBy::WaitPeriod);
        assert_eq!(
            decide(Some(&s), &suppressed, 10 * MIN, WINDOW),
            Decision::Suppress(SuppressReason::ActionsSuppressed)
        );
        assert_eq!(
            decide(None, &suppressed, 10 * MIN, WINDOW),
            Decision::Suppress(SuppressReason::ActionsSuppressed)
        );
        assert!(SuppressReason::ActionsSuppressed.records_state());
        let s2 = next_state(Some(&s), &suppressed, None, None);
        assert_eq!((s2.state.as_str(), s2.published_at_ms), ("ALARM", None));
        assert!(!s2.problem_notified);
        // The wait period ends without the suppressor alarm: CloudWatch runs the actions.
        let runs = alarm("ALARM", Some("ALARM"), 12 * MIN, "e2");
        assert_eq!(
            decide(Some(&s2), &runs, 12 * MIN, WINDOW),
            Decision::Publish
        );
        // Nothing was paged, so the OK after a suppressed ALARM is no recovery.
        let later_ok = alarm("OK", Some("ALARM"), 20 * MIN, "e3");
        assert_eq!(
            decide(Some(&s2), &later_ok, 20 * MIN, WINDOW),
            Decision::Suppress(SuppressReason::NotARecovery)
        );
    }
}
