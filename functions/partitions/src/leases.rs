//! Iceberg maintenance leases in the partitions registry (DynamoDB): one item per table, key
//! `#maintenance/<db.table>` (a partition's key always has a `.` before its first `/`, so the
//! two never meet). A lease carries its run's token and an `expires_at`; a run that leaves a
//! query running keeps its lease, with the query, until the query's runtime bound has passed.

use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};
use serde_json::Value;
use streamops_shared::AwsCallError;
use streamops_shared::dynamo::{self, Item, TTL_ATTRIBUTE, WriteOutcome, get_n, get_s, n, s};

use crate::maintenance::Operation;
use crate::ports::{LeaseOutcome, LeaseView, LeftQuery, MaintenanceLeases, MaintenanceState};
use crate::registry::{KEY, Registry};

fn key(table: &str) -> Item {
    [(KEY.to_string(), s(format!("#maintenance/{table}")))].into()
}

/// The table's latest run, kept apart from the lease (which expires) and without a TTL.
fn last_run_key(table: &str) -> Item {
    [(KEY.to_string(), s(format!("#maintained/{table}")))].into()
}

/// The query a lease item records, if any.
fn left_query(item: &Item) -> Option<LeftQuery> {
    let operation = match get_s(item, "operation")? {
        "optimize" => Operation::Optimize,
        "vacuum" => Operation::Vacuum,
        _ => return None,
    };
    Some(LeftQuery {
        query_execution_id: get_s(item, "query_execution_id")?.to_string(),
        operation,
        sql: get_s(item, "sql").unwrap_or_default().to_string(),
        started_at: get_n(item, "started_at").unwrap_or_default(),
    })
}

impl MaintenanceLeases for Registry {
    async fn acquire_lease(
        &self,
        table: &str,
        token: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<LeaseOutcome, AwsCallError> {
        let (client, name) = self.parts();
        let before = dynamo::get_item(client, name, key(table)).await?;
        let live = |i: &Item| get_n::<i64>(i, TTL_ATTRIBUTE).is_some_and(|e| e >= now);
        if let Some(item) = before.as_ref().filter(|i| live(i)) {
            return Ok(LeaseOutcome::Held {
                left: left_query(item),
            });
        }
        let mut item = key(table);
        item.insert("token".into(), s(token));
        item.insert("leased_at".into(), n(now));
        item.insert(TTL_ATTRIBUTE.into(), n(expires_at));
        match dynamo::put_if_absent(client, name, KEY, item, now).await? {
            WriteOutcome::Written => Ok(LeaseOutcome::Acquired {
                left: before.as_ref().and_then(left_query),
            }),
            // Another run took it between the read and the write.
            WriteOutcome::ConditionFailed => {
                let now_held = dynamo::get_item(client, name, key(table)).await?;
                Ok(LeaseOutcome::Held {
                    left: now_held.as_ref().and_then(left_query),
                })
            }
        }
    }

    async fn hold_lease(
        &self,
        table: &str,
        token: &str,
        left: &LeftQuery,
        expires_at: i64,
    ) -> Result<(), AwsCallError> {
        let (client, name) = self.parts();
        client
            .update_item()
            .table_name(name)
            .set_key(Some(key(table)))
            .update_expression(
                "SET query_execution_id = :q, operation = :o, #sql = :s, started_at = :t, #exp = :exp",
            )
            .condition_expression("#tok = :tok")
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_names("#tok", "token")
            .expression_attribute_names("#sql", "sql")
            .expression_attribute_values(":q", s(&left.query_execution_id))
            .expression_attribute_values(":o", s(left.operation.as_str()))
            .expression_attribute_values(":s", s(&left.sql))
            .expression_attribute_values(":t", n(left.started_at))
            .expression_attribute_values(":exp", n(expires_at))
            .expression_attribute_values(":tok", s(token))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsCallError::from_sdk("UpdateItem (hold lease)", format!("table {name}"), &e))
    }

    async fn release_lease(&self, table: &str, token: &str) -> Result<(), AwsCallError> {
        let (client, name) = self.parts();
        // A lease no longer ours (it expired and another run took it) is theirs to release.
        dynamo::delete_if_equals(client, name, key(table), "token", s(token))
            .await
            .map(|_| ())
    }

    async fn take_over_lease(
        &self,
        table: &str,
        from: &str,
        to: &str,
        expires_at: i64,
    ) -> Result<Option<LeftQuery>, AwsCallError> {
        let (client, name) = self.parts();
        let result = client
            .update_item()
            .table_name(name)
            .set_key(Some(key(table)))
            .update_expression("SET #tok = :to, #exp = :exp")
            // Only a lease that keeps a query: one without is a run still going, not ours.
            .condition_expression(
                "(#tok = :from OR #tok = :to) AND attribute_exists(query_execution_id)",
            )
            .expression_attribute_names("#tok", "token")
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_values(":from", s(from))
            .expression_attribute_values(":to", s(to))
            .expression_attribute_values(":exp", n(expires_at))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.attributes.as_ref().and_then(left_query)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(AwsCallError::from_sdk(
                "UpdateItem (take over lease)",
                format!("table {name}"),
                &e,
            )),
        }
    }

    async fn record_run(
        &self,
        table: &str,
        at: DateTime<Utc>,
        run: &Value,
    ) -> Result<(), AwsCallError> {
        let (client, name) = self.parts();
        let mut item = last_run_key(table);
        item.insert("at".into(), s(at.to_rfc3339()));
        item.insert("run".into(), s(run.to_string()));
        client
            .put_item()
            .table_name(name)
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                AwsCallError::from_sdk("PutItem (maintenance run)", format!("table {name}"), &e)
            })
    }

    async fn maintenance_state(&self, table: &str) -> Result<MaintenanceState, AwsCallError> {
        let (client, name) = self.parts();
        let lease = dynamo::get_item(client, name, key(table)).await?;
        let last = dynamo::get_item(client, name, last_run_key(table)).await?;
        let lease = lease.map(|item| LeaseView {
            token: get_s(&item, "token").unwrap_or_default().to_string(),
            expires_at: get_n(&item, TTL_ATTRIBUTE).unwrap_or_default(),
            left: left_query(&item),
        });
        let last_run = last.and_then(|item| {
            let at = DateTime::parse_from_rfc3339(get_s(&item, "at")?)
                .ok()?
                .to_utc();
            let run = serde_json::from_str(get_s(&item, "run")?).ok()?;
            Some((at, run))
        });
        Ok(MaintenanceState { lease, last_run })
    }
}
