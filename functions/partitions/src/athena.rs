//! Athena adapter: run one DDL statement in the configured workgroup and wait for it.

use std::time::Instant;
use streamops_shared::aws::LazyClient;

use aws_sdk_athena::Client;
use aws_sdk_athena::types::{QueryExecutionContext, ResultConfiguration};
use sha2::{Digest, Sha256};
use streamops_shared::AwsCallError;

use crate::poll::{
    PollOutcome, PollPolicy, PollStats, QueryState, poll_until_final, retry_throttled,
};
use crate::ports::{DdlRunner, MaintenanceQueries, QueryReport, QueryResult};

#[derive(Clone)]
pub struct AthenaRunner {
    client: LazyClient<Client>,
    workgroup: String,
    output_location: Option<String>,
    policy: PollPolicy,
}

struct Detail {
    reason: String,
    category: Option<i32>,
    error_type: Option<i32>,
    retryable: bool,
}

impl AthenaRunner {
    pub fn new(
        client: impl Into<LazyClient<Client>>,
        workgroup: impl Into<String>,
        output_location: Option<String>,
        policy: PollPolicy,
    ) -> Self {
        Self {
            client: client.into(),
            workgroup: workgroup.into(),
            output_location,
            policy,
        }
    }

    pub fn workgroup(&self) -> &str {
        &self.workgroup
    }
}

impl AthenaRunner {
    /// `StartQueryExecution`, throttled starts retried until the deadline: the query id and
    /// how many retries it took.
    async fn start(
        &self,
        sql: &str,
        database: &str,
        token: &str,
        deadline: Instant,
    ) -> Result<(String, u32), AwsCallError> {
        retry_throttled(self.policy, deadline, || async {
            let mut request = self
                .client
                .start_query_execution()
                .query_string(sql)
                .work_group(&self.workgroup)
                .client_request_token(token)
                .query_execution_context(
                    QueryExecutionContext::builder().database(database).build(),
                );
            if let Some(loc) = &self.output_location {
                request = request.result_configuration(
                    ResultConfiguration::builder().output_location(loc).build(),
                );
            }
            request
                .send()
                .await
                .map_err(|e| {
                    AwsCallError::from_sdk(
                        "StartQueryExecution",
                        format!("workgroup {}", self.workgroup),
                        &e,
                    )
                })
                .map(|out| out.query_execution_id.unwrap_or_default())
        })
        .await
    }

    /// One `GetQueryExecution`: the state, and its name and details for a failure report.
    async fn state(&self, query_id: &str) -> Result<(QueryState, (String, Detail)), AwsCallError> {
        let out = self
            .client
            .get_query_execution()
            .query_execution_id(query_id)
            .send()
            .await
            .map_err(|e| {
                AwsCallError::from_sdk("GetQueryExecution", format!("query {query_id}"), &e)
            })?;
        let status = out.query_execution.and_then(|q| q.status);
        let state = status
            .as_ref()
            .and_then(|s| s.state.as_ref())
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|| "UNKNOWN".into());
        let error = status.as_ref().and_then(|s| s.athena_error.as_ref());
        let detail = Detail {
            reason: status
                .as_ref()
                .and_then(|s| s.state_change_reason.clone())
                .or_else(|| error.and_then(|e| e.error_message.clone()))
                .unwrap_or_default(),
            category: error.and_then(|e| e.error_category),
            error_type: error.and_then(|e| e.error_type),
            retryable: error.is_some_and(|e| e.retryable),
        };
        Ok((QueryState::parse(&state), (state, detail)))
    }
}

impl DdlRunner for AthenaRunner {
    /// Starts `sql` (retrying throttled starts) and polls it to a final state or the deadline.
    /// `idempotency` makes the client request token, so a retried start cannot run it twice.
    async fn run(
        &self,
        sql: &str,
        database: &str,
        idempotency: &str,
        deadline: Instant,
    ) -> Result<QueryReport, AwsCallError> {
        let token = hex::encode(Sha256::digest(format!("{idempotency}\n{sql}").as_bytes()));
        let (query_id, start_retries) = self.start(sql, database, &token, deadline).await?;
        let outcome = poll_until_final(self.policy, deadline, || self.state(&query_id)).await?;
        let (result, stats) = query_result(outcome);
        Ok(QueryReport {
            query_id,
            result,
            stats,
            start_retries,
        })
    }
}

impl MaintenanceQueries for AthenaRunner {
    async fn start(
        &self,
        sql: &str,
        database: &str,
        idempotency: &str,
        deadline: Instant,
    ) -> Result<String, AwsCallError> {
        let token = hex::encode(Sha256::digest(format!("{idempotency}\n{sql}").as_bytes()));
        let (query_id, _) = AthenaRunner::start(self, sql, database, &token, deadline).await?;
        Ok(query_id)
    }

    async fn wait(
        &self,
        query_id: &str,
        until: Instant,
    ) -> Result<(QueryResult, PollStats), AwsCallError> {
        let outcome = poll_until_final(self.policy, until, || self.state(query_id)).await?;
        Ok(query_result(outcome))
    }

    async fn stop(&self, query_id: &str) -> Result<(), AwsCallError> {
        self.client
            .stop_query_execution()
            .query_execution_id(query_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                AwsCallError::from_sdk("StopQueryExecution", format!("query {query_id}"), &e)
            })
    }
}

fn query_result(outcome: PollOutcome<(String, Detail)>) -> (QueryResult, PollStats) {
    match outcome {
        PollOutcome::Final(QueryState::Succeeded, _, stats) => (QueryResult::Succeeded, stats),
        PollOutcome::Final(_, (state, d), stats) => (
            QueryResult::Failed {
                state,
                reason: d.reason,
                category: d.category,
                error_type: d.error_type,
                retryable: d.retryable,
            },
            stats,
        ),
        PollOutcome::TimedOut(last, stats) => (
            QueryResult::TimedOut {
                last_state: match last {
                    Some(QueryState::Queued) => "QUEUED".into(),
                    Some(QueryState::Running) => "RUNNING".into(),
                    Some(QueryState::Other(s)) => s,
                    _ => "UNKNOWN".into(),
                },
            },
            stats,
        ),
    }
}
