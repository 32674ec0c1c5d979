//! The `explain` command: what the function would do with an event, and why, without doing any
//! of it. The event is normalized as a delivery would be; each alert is judged against its
//! stored record as a delivery would judge it (dedup, minimum severity, silences, mute windows,
//! inhibition), and its way out is named: the routes and formats it would go to, or the group it
//! would join (with that group's members now). Nothing is written, queued or published.

use serde_json::{Value, json};

use crate::dedup::{Decision, StoredState, judged_against};
use crate::group::{group_key, is_full};
use crate::model::Alert;
use crate::normalize::normalize;
use crate::outcome::{AlertsError, InvocationContext, Mute};
use crate::ports::{ActivityStore, FlushQueue, GroupStore, Publisher, RestorePoints, StateStore};
use crate::route::destinations;
use crate::service::AlertsService;

impl<S: StateStore + GroupStore + ActivityStore, P: Publisher, Q: FlushQueue, B: RestorePoints>
    AlertsService<S, P, Q, B>
{
    pub(crate) async fn explain(
        &self,
        event: &Value,
        ctx: &InvocationContext,
    ) -> Result<Value, AlertsError> {
        let alerts = normalize(event, ctx.now, &self.config.normalize);
        if alerts.is_empty() {
            return Err(AlertsError::BadCommand(
                "explain `event`: it reads as no alert".into(),
            ));
        }
        let mut out = Vec::with_capacity(alerts.len());
        for alert in &alerts {
            out.push(self.explain_one(alert, ctx).await?);
        }
        Ok(json!({"command": "explain", "alerts": out}))
    }

    async fn explain_one(
        &self,
        alert: &Alert,
        ctx: &InvocationContext,
    ) -> Result<Value, AlertsError> {
        let stored = self.store.load_state(&alert.fingerprint).await?;
        let now_ms = ctx.now.timestamp_millis();
        let prev = judged_against(stored.as_ref(), now_ms);
        let (decision, mute) = self.judge(prev.as_ref(), alert, ctx.now).await?;
        let mut answer = json!({
            "fingerprint": alert.fingerprint,
            "resource": alert.resource,
            "title": alert.title,
            "state": alert.state,
            "severity": alert.severity,
            "labels": alert.labels,
            "record": prev.as_ref().map(record_json),
        });
        match decision {
            Decision::InFlight => {
                answer["would"] = json!("wait");
                answer["why"] = json!(
                    "another delivery holds this fingerprint's claim: it is being published now, and this one would be retried"
                );
            }
            Decision::Suppress(reason) => {
                answer["would"] = json!("suppress");
                answer["reason"] = json!(reason);
                if let Some(m) = &mute {
                    answer["muted_by"] = mute_json(m);
                }
            }
            Decision::Publish => match &self.config.group {
                Some(cfg) => {
                    let (key, labels) = group_key(alert, &cfg.by);
                    let group = self.store.load_group(&key).await?;
                    if is_full(group.as_ref(), alert, cfg) {
                        answer["would"] = json!("publish");
                        answer["why"] = json!(format!("its group {key} is full"));
                        answer["to"] = self.destinations_json(alert);
                        return Ok(answer);
                    }
                    answer["would"] = json!("group");
                    answer["group"] = json!({
                        "key": key,
                        "labels": labels,
                        "members_now": group.as_ref().map_or(0, |g| g.members.len()),
                        "flush_due": group.as_ref().and_then(|g| g.due_ms).and_then(chrono::DateTime::from_timestamp_millis),
                        "wait_seconds": cfg.wait.as_secs(),
                    });
                }
                None => {
                    answer["would"] = json!("publish");
                    answer["to"] = self.destinations_json(alert);
                }
            },
        }
        Ok(answer)
    }

    fn destinations_json(&self, alert: &Alert) -> Value {
        let c = &self.config;
        let to: Vec<Value> = destinations(&c.routes, c.format, |m| m.matches(alert))
            .into_iter()
            .map(|d| {
                json!({
                    "route": d.route.unwrap_or("default"),
                    "topic_arn": d.topic_arn.unwrap_or(&c.topic_arn),
                    "format": d.format.as_str(),
                })
            })
            .collect();
        Value::Array(to)
    }
}

/// The record a delivery would be judged against, as an operator reads it.
fn record_json(r: &StoredState) -> Value {
    json!({
        "state": r.state,
        "since": chrono::DateTime::from_timestamp_millis(r.state_time_ms),
        "event_id": r.event_id,
        "last_published": r.published_at_ms.and_then(chrono::DateTime::from_timestamp_millis),
        "problem_notified": r.problem_notified,
    })
}

fn mute_json(m: &Mute) -> Value {
    match m {
        Mute::Silence(id) => json!({"silence": id}),
        Mute::Inhibitor(i) => json!({"inhibited_by": i.source_fingerprint, "rule": i.rule}),
        Mute::Window(w) => json!({"mute_window": w.name, "until": w.ends}),
        Mute::Held(a) => json!({"held_for": a.key, "until": a.settles_by, "what": a.what}),
    }
}
