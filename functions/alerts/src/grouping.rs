//! Grouping, orchestrated over the ports: an alert that would be published joins its group
//! instead ([`AlertsService::add_to_group`], inside the alert's own claim, so a failure rolls
//! the claim back as a failed publish does), and each SQS flush message publishes the group's
//! pending members once ([`AlertsService::handle_flushes`]): claim (a version-conditioned
//! write), publish, mark. The decisions are pure, in [`crate::group`].

use serde::Serialize;
use serde_json::{Value, json};
use streamops_shared::dynamo::WriteOutcome;
use streamops_shared::{AwsCallError, Metrics};

use crate::group::Member;
use crate::group::{
    FlushRecord, FlushRequest, FlushStep, GroupConfig, QueuedWork, Sending, add_member,
    claim_flush, claimed_members, group_key, is_full, mark_flushed,
};
use crate::group_render::MutedLists;
use crate::model::Alert;
use crate::outcome::{AlertsError, InvocationContext};
use crate::ports::{ActivityStore, FlushQueue, GroupStore, Publisher, RestorePoints, StateStore};
use crate::service::AlertsService;

/// How often a group's read-decide-write is retried when another writer moved its version.
const MAX_GROUP_CONFLICTS: usize = 8;

/// What one flush message did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum FlushOutcome {
    /// The notification went out, listing these members' fingerprints.
    Published {
        message_id: String,
        kind: crate::group::BatchKind,
        members: Vec<String>,
    },
    /// Nothing to say: every member resolved before anything was sent.
    Quiet,
    /// A redelivered or stale flush: done already, or never scheduled.
    Nothing,
}

impl<S, P, Q, B> AlertsService<S, P, Q, B>
where
    S: StateStore + GroupStore + ActivityStore,
    P: Publisher,
    Q: FlushQueue,
    B: RestorePoints,
{
    /// `alert` joins its group; the first member of a round (or of a later batch) queues the
    /// flush. Returns the group key, or `None` when the group is full ([`is_full`]): the alert
    /// then goes out on its own.
    pub(crate) async fn add_to_group(
        &self,
        alert: &Alert,
        cfg: &GroupConfig,
        ctx: &InvocationContext,
    ) -> Result<Option<String>, AlertsError> {
        let (key, _) = group_key(alert, &cfg.by);
        let expires_at = ctx.now.timestamp() + self.config.state_ttl.as_secs() as i64;
        for _ in 0..MAX_GROUP_CONFLICTS {
            let group = self.store.load_group(&key).await?;
            if is_full(group.as_ref(), alert, cfg) {
                tracing::warn!(fingerprint = %alert.fingerprint, group = %key,
                    max_members = cfg.max_members, "group full: the alert goes out on its own");
                return Ok(None);
            }
            let expected = group.as_ref().map(|g| g.version);
            let (group, request) = add_member(group, alert, cfg, ctx.now.timestamp_millis());
            // Queued before the write: a message for a flush no write scheduled does nothing,
            // while a write without its message would strand the group.
            if let Some(request) = &request {
                self.queue.schedule(request).await?;
            }
            let written = self.store.write_group(&group, expected, expires_at).await?;
            if written == WriteOutcome::Written {
                tracing::info!(fingerprint = %alert.fingerprint, group = %key,
                    flush_queued = request.map(|r| r.flush), "alert joined its group");
                return Ok(Some(key));
            }
        }
        Err(AlertsError::contended(
            alert,
            "its group kept changing; retry later",
        ))
    }

    /// An SQS event of flush messages: each flushed once; the ones that could not be settled
    /// now are reported back (`batchItemFailures`), so SQS delivers them again.
    pub(crate) async fn handle_flushes(
        &self,
        records: Vec<FlushRecord>,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Value {
        let (mut flushes, mut rechecks, mut failures) = (Vec::new(), Vec::new(), Vec::new());
        for record in records {
            let result = match &record.request {
                Ok(QueuedWork::Flush(r)) => self.flush(r, ctx, metrics).await.map(|outcome| {
                    flushes.push(json!({"group": r.group, "flush": r.flush, "outcome": outcome}))
                }),
                Ok(QueuedWork::Recheck(held)) => Box::pin(self.recheck(held, ctx, metrics))
                    .await
                    .map(|outcome| {
                        rechecks.push(
                            json!({"fingerprint": held.alert.fingerprint, "outcome": outcome}),
                        )
                    }),
                Err(problem) => Err(AlertsError::BadCommand(format!("flush message: {problem}"))),
            };
            if let Err(e) = result {
                tracing::error!(message_id = %record.message_id, error = %e, "queued work failed");
                metrics.count("GroupFlushesFailed", 1);
                failures.push(json!({"itemIdentifier": record.message_id}));
            }
        }
        let mut out = json!({"flushes": flushes, "batchItemFailures": failures});
        if !rechecks.is_empty() {
            out["rechecks"] = json!(rechecks);
        }
        out
    }

    /// Flush `request.flush` of its group: claim, publish, mark.
    async fn flush(
        &self,
        request: &FlushRequest,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Result<FlushOutcome, AlertsError> {
        let now_ms = ctx.now.timestamp_millis();
        let claim_until = ctx.claim_until.timestamp_millis();
        let expires_at = ctx.now.timestamp() + self.config.state_ttl.as_secs() as i64;
        for _ in 0..MAX_GROUP_CONFLICTS {
            let group = self.store.load_group(&request.group).await?;
            let expected = group.as_ref().map(|g| g.version);
            let claimed = match claim_flush(group, request.flush, now_ms, claim_until) {
                FlushStep::Nothing(requeue) => {
                    if let Some(again) = requeue {
                        self.queue.schedule(&again).await?;
                    }
                    tracing::info!(group = %request.group, flush = request.flush, "flush already done or never scheduled");
                    return Ok(FlushOutcome::Nothing);
                }
                FlushStep::InFlight => return Err(in_flight(request)),
                FlushStep::Quiet(group) => {
                    if self.store.write_group(&group, expected, expires_at).await?
                        == WriteOutcome::Written
                    {
                        return Ok(FlushOutcome::Quiet);
                    }
                    continue;
                }
                FlushStep::Claimed(group) => group,
            };
            if self
                .store
                .write_group(&claimed, expected, expires_at)
                .await?
                == WriteOutcome::ConditionFailed
            {
                continue;
            }
            let Some(sending) = claimed.sending.clone() else {
                continue; // never: a claimed group carries its claim
            };
            let members = claimed_members(&claimed, &sending);
            let muted = self.muted_by(&members).await;
            let message_id = self
                .publish_group_routed(&claimed, &sending, &members, &muted)
                .await?;
            metrics.count_by(
                "GroupNotificationsPublished",
                "kind",
                kind_label(&sending),
                1,
            );
            tracing::info!(group = %request.group, flush = request.flush, members = members.len(),
                message_id = %message_id, "group notification published");
            self.mark(request, &sending, ctx).await?;
            let members = sending.members.iter().map(|(fp, _)| fp.clone()).collect();
            return Ok(FlushOutcome::Published {
                message_id,
                kind: sending.kind,
                members,
            });
        }
        Err(AlertsError::BadCommand(format!(
            "group {} flush {}: it kept changing {MAX_GROUP_CONFLICTS} times in a row",
            request.group, request.flush
        )))
    }

    /// The targets each member muted as an inhibition source so far, for the notification's
    /// "N related alarms muted". A failed lookup leaves that member's list out (logged): the
    /// notification matters more than its footnote, and `inhibitions` lists them all.
    async fn muted_by(&self, members: &[&Member]) -> MutedLists {
        let mut out = MutedLists::new();
        if self.config.inhibit_rules.is_empty() {
            return out;
        }
        for m in members {
            match self.store.list_muted(&m.fingerprint).await {
                Ok(list) if !list.is_empty() => {
                    out.insert(m.fingerprint.clone(), list);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(fingerprint = %m.fingerprint, error = %e,
                    "its muted targets are not listed in the group notification"),
            }
        }
        out
    }

    /// Marks a published flush, then queues the next one if members joined meanwhile. If
    /// the mark fails the invocation fails: the redelivery finds the claim expired and
    /// publishes again (at-least-once, like an alert whose claim was never released).
    async fn mark(
        &self,
        request: &FlushRequest,
        sending: &Sending,
        ctx: &InvocationContext,
    ) -> Result<(), AwsCallError> {
        let Some(cfg) = &self.config.group else {
            return Ok(()); // never: flushes exist only with grouping
        };
        let now_ms = ctx.now.timestamp_millis();
        let expires_at = ctx.now.timestamp() + self.config.state_ttl.as_secs() as i64;
        for _ in 0..MAX_GROUP_CONFLICTS {
            let Some(group) = self.store.load_group(&request.group).await? else {
                return Ok(());
            };
            let expected = Some(group.version);
            let Some((marked, next)) = mark_flushed(group, sending, now_ms, cfg) else {
                tracing::warn!(group = %request.group, flush = request.flush,
                    "published, but the claim was taken over (it had expired): its taker marks it");
                return Ok(());
            };
            if self
                .store
                .write_group(&marked, expected, expires_at)
                .await?
                == WriteOutcome::Written
            {
                // After the mark: if this fails the redelivery of this flush queues it again.
                if let Some(next) = next {
                    self.queue.schedule(&next).await?;
                }
                return Ok(());
            }
        }
        tracing::warn!(group = %request.group, flush = request.flush,
            "published, but the mark kept conflicting; the claim expires and a redelivery re-sends");
        Ok(())
    }
}

fn kind_label(sending: &Sending) -> &'static str {
    match sending.kind {
        crate::group::BatchKind::Initial => "initial",
        crate::group::BatchKind::FollowUp => "follow-up",
        crate::group::BatchKind::Resolution => "resolution",
    }
}

fn in_flight(request: &FlushRequest) -> AlertsError {
    AlertsError::Alert {
        fingerprint: format!("group:{}", request.group),
        resource: format!("flush {}", request.flush),
        message: "another flush of this group is publishing; retry later".into(),
    }
}
