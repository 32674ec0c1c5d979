//! DynamoDB adapter: dedup state per fingerprint and silences, in one table keyed by
//! `pk` (hash) and `sk` (range):
//! - `pk = "fp#<fingerprint>"`, `sk = "state"`: the [`StoredState`] of one fingerprint;
//! - `pk = "silences"`, `sk = <silence id>`: one silence (a Query lists them all);
//! - `pk = "inhibitors"`, `sk = <rule>#<equal-label digest>#<source fingerprint>`: a firing
//!   inhibition source; a target's Query with `begins_with(sk, <rule>#<digest>#)` finds the
//!   sources that may mute it (no index: the key is the query);
//! - `pk = "muted#<source fingerprint>"`, `sk = <target fingerprint>`: a target it muted;
//! - `pk = "group#<group key>"`, `sk = "group"`: one alert group (`body`: its JSON, with
//!   `version` beside it for the conditional writes);
//! - `pk = "activities"`, `sk = <activity key>`: what the suite is doing (`body`: its JSON,
//!   `since_ms` beside it, so an older start or end never replaces a newer one).
//!
//! Every item carries the `expires_at` TTL attribute.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use streamops_shared::AwsCallError;
use streamops_shared::dynamo::{
    self, Item, TTL_ATTRIBUTE, VERSION_ATTRIBUTE, WriteOutcome, get_bool, get_n, get_s, n, s,
};

use crate::context::Activity;
use crate::dedup::{Claim, StoredState};
use crate::group::Group;
use crate::inhibit::{Inhibitor, MutedTarget};
use crate::model::Alert;
use crate::ports::{ActivityStore, GroupStore, StateStore};
use crate::silence::Silence;

const SILENCES_PK: &str = "silences";
const INHIBITORS_PK: &str = "inhibitors";
/// One item per group (sort key its key), written when the group is: `groups` lists them.
const GROUPS_PK: &str = "groups";

#[derive(Clone)]
pub struct AlertStore {
    client: Client,
    table: String,
}

fn state_key(fingerprint: &str) -> Item {
    [
        ("pk".to_string(), s(format!("fp#{fingerprint}"))),
        ("sk".to_string(), s("state")),
    ]
    .into()
}

/// A record's own fields (not its claim or version), at the top of its item or inside
/// `claim_before`.
fn put_record_fields(item: &mut Item, state: &StoredState) {
    item.insert("state".into(), s(&state.state));
    item.insert("state_time_ms".into(), n(state.state_time_ms));
    item.insert("event_id".into(), s(&state.event_id));
    if let Some(p) = state.published_at_ms {
        item.insert("published_at_ms".into(), n(p));
    }
    item.insert(
        "problem_notified".into(),
        AttributeValue::Bool(state.problem_notified),
    );
}

/// The fields [`put_record_fields`] wrote, with no claim and version 0.
fn record_fields(item: &Item) -> StoredState {
    StoredState {
        state: get_s(item, "state").unwrap_or_default().to_string(),
        state_time_ms: get_n(item, "state_time_ms").unwrap_or(0),
        event_id: get_s(item, "event_id").unwrap_or_default().to_string(),
        published_at_ms: get_n(item, "published_at_ms"),
        problem_notified: get_bool(item, "problem_notified").unwrap_or(false),
        claim: None,
        version: 0,
    }
}

impl AlertStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn state_item(alert: &Alert, state: &StoredState, expires_at: i64) -> Item {
        let mut item = state_key(&alert.fingerprint);
        put_record_fields(&mut item, state);
        if let Some(c) = &state.claim {
            item.insert("claim_event_id".into(), s(&c.event_id));
            item.insert("claim_expires_at_ms".into(), n(c.expires_at_ms));
            if let Some(before) = &c.before {
                let mut fields = Item::new();
                put_record_fields(&mut fields, before);
                item.insert("claim_before".into(), AttributeValue::M(fields));
            }
        }
        // For people reading the table: what this fingerprint is.
        item.insert("resource".into(), s(&alert.resource));
        item.insert("source".into(), s(&alert.source));
        item.insert("severity".into(), s(alert.severity.as_str()));
        item.insert(TTL_ATTRIBUTE.into(), n(expires_at));
        item
    }
}

impl AlertStore {
    /// Puts `{pk, sk, body: <json>, expires_at}` unconditionally (the body is the whole truth
    /// of the item, so a repeat write changes nothing).
    async fn put_body(
        &self,
        pk: &str,
        sk: &str,
        body: &impl serde::Serialize,
        expires_at: i64,
        what: &'static str,
    ) -> Result<(), AwsCallError> {
        // Strings and timestamps only: serializing cannot fail.
        let body = serde_json::to_string(body).expect("item body serializes");
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item("sk", s(sk))
            .item("body", s(body))
            .item(TTL_ATTRIBUTE, n(expires_at))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsCallError::from_sdk(what, format!("table {}", self.table), &e))
    }

    /// Every readable `body` under `pk` whose sort key starts with `prefix`.
    async fn query_bodies<T: serde::de::DeserializeOwned>(
        &self,
        pk: &str,
        prefix: &str,
        what: &'static str,
    ) -> Result<Vec<T>, AwsCallError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":pk", s(pk));
            // DynamoDB refuses an empty string as a key condition value: no prefix, no condition.
            query = if prefix.is_empty() {
                query.key_condition_expression("pk = :pk")
            } else {
                query
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":prefix", s(prefix))
            };
            let page = query
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| AwsCallError::from_sdk(what, format!("table {}", self.table), &e))?;
            for item in page.items() {
                match get_s(item, "body").map(serde_json::from_str::<T>) {
                    Some(Ok(v)) => out.push(v),
                    _ => tracing::warn!(
                        pk,
                        sk = get_s(item, "sk").unwrap_or("?"),
                        "skipping unreadable item"
                    ),
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }
}

impl StateStore for AlertStore {
    async fn load_state(&self, fingerprint: &str) -> Result<Option<StoredState>, AwsCallError> {
        let item = dynamo::get_item(&self.client, &self.table, state_key(fingerprint)).await?;
        Ok(item.map(|i| {
            let claim = match (
                get_s(&i, "claim_event_id"),
                get_n::<i64>(&i, "claim_expires_at_ms"),
            ) {
                (Some(e), Some(t)) => Some(Claim {
                    event_id: e.to_string(),
                    expires_at_ms: t,
                    before: match i.get("claim_before") {
                        Some(AttributeValue::M(fields)) => Some(Box::new(record_fields(fields))),
                        _ => None,
                    },
                }),
                _ => None,
            };
            StoredState {
                claim,
                version: get_n(&i, VERSION_ATTRIBUTE).unwrap_or(0),
                ..record_fields(&i)
            }
        }))
    }

    async fn write_state(
        &self,
        alert: &Alert,
        state: &StoredState,
        expected: Option<u64>,
        expires_at: i64,
    ) -> Result<WriteOutcome, AwsCallError> {
        let item = Self::state_item(alert, state, expires_at);
        dynamo::put_if_version(&self.client, &self.table, "pk", item, expected).await
    }

    /// After a successful publish: drop our claim (only ours) and bump the version so readers
    /// that saw the claim re-read.
    async fn release_claim(&self, fingerprint: &str, event_id: &str) -> Result<(), AwsCallError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(state_key(fingerprint)))
            .update_expression(
                "REMOVE claim_event_id, claim_expires_at_ms, claim_before ADD #ver :one",
            )
            .condition_expression("claim_event_id = :e")
            .expression_attribute_names("#ver", VERSION_ATTRIBUTE)
            .expression_attribute_values(":e", s(event_id))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Someone took over an expired claim: nothing of ours to release.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(AwsCallError::from_sdk(
                "UpdateItem (release claim)",
                format!("table {}", self.table),
                &e,
            )),
        }
    }

    /// After a failed publish: put back what was there before our claim, so the retry is judged
    /// against the same record and publishes.
    async fn roll_back_claim(
        &self,
        alert: &Alert,
        previous: Option<&StoredState>,
        expires_at: i64,
    ) -> Result<(), AwsCallError> {
        let outcome = match previous {
            None => {
                dynamo::delete_if_equals(
                    &self.client,
                    &self.table,
                    state_key(&alert.fingerprint),
                    "claim_event_id",
                    s(&alert.event_id),
                )
                .await?
            }
            Some(prev) => {
                let mut item = Self::state_item(alert, prev, expires_at);
                item.insert(VERSION_ATTRIBUTE.into(), n(prev.version + 2));
                let result = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("claim_event_id = :e")
                    .expression_attribute_values(":e", s(&alert.event_id))
                    .send()
                    .await;
                match result {
                    Ok(_) => WriteOutcome::Written,
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                    {
                        WriteOutcome::ConditionFailed
                    }
                    Err(e) => {
                        return Err(AwsCallError::from_sdk(
                            "PutItem (roll back claim)",
                            format!("table {}", self.table),
                            &e,
                        ));
                    }
                }
            }
        };
        if outcome == WriteOutcome::ConditionFailed {
            tracing::warn!(fingerprint = %alert.fingerprint, "claim was taken over before roll-back; leaving the newer record");
        }
        Ok(())
    }

    async fn put_silence(&self, silence: &Silence) -> Result<(), AwsCallError> {
        let item: Item = [
            ("pk".to_string(), s(SILENCES_PK)),
            ("sk".to_string(), s(&silence.id)),
            (
                "body".to_string(),
                // Strings and timestamps only: serializing cannot fail.
                s(serde_json::to_string(silence).expect("silence serializes")),
            ),
            // Kept a day after it ends so `list-silences include_expired` can show it.
            (
                TTL_ATTRIBUTE.to_string(),
                n(silence.ends_at.timestamp() + 86_400),
            ),
        ]
        .into();
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                AwsCallError::from_sdk("PutItem (silence)", format!("table {}", self.table), &e)
            })
    }

    async fn list_silences(&self) -> Result<Vec<Silence>, AwsCallError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(SILENCES_PK))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| {
                    AwsCallError::from_sdk("Query (silences)", format!("table {}", self.table), &e)
                })?;
            for item in page.items() {
                match get_s(item, "body").map(serde_json::from_str::<Silence>) {
                    Some(Ok(silence)) => out.push(silence),
                    _ => tracing::warn!(
                        id = get_s(item, "sk").unwrap_or("?"),
                        "skipping unreadable silence item"
                    ),
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }

    /// `true` if the silence existed.
    async fn delete_silence(&self, id: &str) -> Result<bool, AwsCallError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(SILENCES_PK))
            .key("sk", s(id))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| {
                AwsCallError::from_sdk("DeleteItem (silence)", format!("table {}", self.table), &e)
            })?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn put_inhibitor(
        &self,
        inhibitor: &Inhibitor,
        expires_at: i64,
    ) -> Result<(), AwsCallError> {
        let sk = inhibitor.sort_key();
        self.put_body(
            INHIBITORS_PK,
            &sk,
            inhibitor,
            expires_at,
            "PutItem (inhibitor)",
        )
        .await
    }

    async fn list_inhibitors(&self, prefix: &str) -> Result<Vec<Inhibitor>, AwsCallError> {
        self.query_bodies(INHIBITORS_PK, prefix, "Query (inhibitors)")
            .await
    }

    async fn put_muted(
        &self,
        source_fingerprint: &str,
        target: &MutedTarget,
        expires_at: i64,
    ) -> Result<(), AwsCallError> {
        let pk = format!("muted#{source_fingerprint}");
        self.put_body(
            &pk,
            &target.fingerprint,
            target,
            expires_at,
            "PutItem (muted)",
        )
        .await
    }

    async fn list_muted(&self, source_fingerprint: &str) -> Result<Vec<MutedTarget>, AwsCallError> {
        let pk = format!("muted#{source_fingerprint}");
        self.query_bodies(&pk, "", "Query (muted)").await
    }
}

fn group_key_item(key: &str) -> Item {
    [
        ("pk".to_string(), s(format!("group#{key}"))),
        ("sk".to_string(), s("group")),
    ]
    .into()
}

impl GroupStore for AlertStore {
    async fn load_group(&self, key: &str) -> Result<Option<Group>, AwsCallError> {
        let Some(item) = dynamo::get_item(&self.client, &self.table, group_key_item(key)).await?
        else {
            return Ok(None);
        };
        let body = get_s(&item, "body").unwrap_or_default();
        // Only this code writes the body: unreadable means a bad deploy, which a retry won't fix.
        let mut group: Group = serde_json::from_str(body).map_err(|e| AwsCallError {
            operation: "GetItem (group)",
            resource: format!("table {}", self.table),
            class: streamops_shared::ErrorClass::Permanent,
            code: None,
            message: format!("unreadable group {key}: {e}"),
        })?;
        group.version = get_n(&item, VERSION_ATTRIBUTE).unwrap_or(0);
        Ok(Some(group))
    }

    async fn write_group(
        &self,
        group: &Group,
        expected: Option<u64>,
        expires_at: i64,
    ) -> Result<WriteOutcome, AwsCallError> {
        // Strings, numbers and timestamps only: serializing cannot fail.
        let body = serde_json::to_string(group).expect("group body serializes");
        if expected.is_none() {
            // Before the group: an index entry whose group write lost the race names a group
            // that exists all the same; the other way round, a group nobody could list.
            self.put_body(
                GROUPS_PK,
                &group.key,
                &group.key,
                expires_at,
                "PutItem (group index)",
            )
            .await?;
        }
        let mut item = group_key_item(&group.key);
        item.insert("body".into(), s(body));
        item.insert(TTL_ATTRIBUTE.into(), n(expires_at));
        dynamo::put_if_version(&self.client, &self.table, "pk", item, expected).await
    }

    async fn list_group_keys(&self) -> Result<Vec<String>, AwsCallError> {
        self.query_bodies(GROUPS_PK, "", "Query (groups)").await
    }
}

const ACTIVITIES_PK: &str = "activities";
const SINCE_MS: &str = "since_ms";

impl ActivityStore for AlertStore {
    async fn record_activity(&self, activity: &Activity) -> Result<(), AwsCallError> {
        let body = serde_json::to_string(activity).expect("an activity serializes");
        let mut item = Item::new();
        item.insert("pk".into(), s(ACTIVITIES_PK));
        item.insert("sk".into(), s(&activity.key));
        item.insert("body".into(), s(body));
        // Kept a day past its end, for people reading the table (and the end's marker).
        let expires_at = activity.expires_at().timestamp() + 86_400;
        item.insert(TTL_ATTRIBUTE.into(), n(expires_at));
        let since = activity.since.timestamp_millis();
        // A later start or end under the key stays: the write is conditioned on `since_ms`.
        dynamo::put_if_newer(&self.client, &self.table, "pk", item, SINCE_MS, since)
            .await
            .map(|_| ())
    }

    async fn list_activities(&self) -> Result<Vec<Activity>, AwsCallError> {
        self.query_bodies(ACTIVITIES_PK, "", "Query (activities)")
            .await
    }
}
