//! The follow-up schedules' adapter: EventBridge Scheduler `CreateSchedule`, one-time (`at()`,
//! UTC), targeting this function with the follow-up command, deleted by Scheduler once it ran.

use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
    RetryPolicy, Target,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use streamops_shared::aws::LazyClient;
use streamops_shared::{AwsCallError, ErrorClass};

use crate::follow_up::{FollowUpConfig, at_expression};
use crate::ports::FollowUpScheduler;

/// A request we could not even build: our own bug or configuration, never retried.
fn refused(name: &str, why: impl std::fmt::Display) -> AwsCallError {
    AwsCallError {
        operation: "CreateSchedule",
        resource: name.to_string(),
        class: ErrorClass::Permanent,
        code: None,
        message: why.to_string(),
    }
}

/// Creates follow-up schedules in the default schedule group.
#[derive(Clone)]
pub struct SchedulerFollowUps {
    client: LazyClient<aws_sdk_scheduler::Client>,
    config: Option<FollowUpConfig>,
}

impl SchedulerFollowUps {
    /// `config` is `None` when follow-ups are off: the service then never asks for one.
    pub fn new(
        client: LazyClient<aws_sdk_scheduler::Client>,
        config: Option<FollowUpConfig>,
    ) -> Self {
        Self { client, config }
    }
}

/// The schedule `name`'s target: the function, with the follow-up command.
fn target(name: &str, config: &FollowUpConfig, input: &Value) -> Result<Target, AwsCallError> {
    let retry = RetryPolicy::builder()
        // A look that is missed is repeated by the next run; a short retry covers throttling.
        .maximum_retry_attempts(3)
        .maximum_event_age_in_seconds(900)
        .build();
    let dead_letters = config
        .dead_letter_arn
        .as_ref()
        .map(|arn| DeadLetterConfig::builder().arn(arn).build());
    Target::builder()
        .arn(&config.target_arn)
        .role_arn(&config.role_arn)
        .input(input.to_string())
        .retry_policy(retry)
        .set_dead_letter_config(dead_letters)
        .build()
        .map_err(|e| refused(name, e))
}

impl FollowUpScheduler for SchedulerFollowUps {
    async fn schedule_once(
        &self,
        name: &str,
        at: DateTime<Utc>,
        input: &Value,
    ) -> Result<(), AwsCallError> {
        let Some(config) = &self.config else {
            return Err(refused(name, "follow-ups are not configured"));
        };
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| refused(name, e))?;
        let result = self
            .client
            .create_schedule()
            .name(name)
            .schedule_expression(at_expression(at))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .action_after_completion(ActionAfterCompletion::Delete)
            .description(
                "streamops partitions: a look at an Iceberg maintenance query left running",
            )
            .target(target(name, config, input)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Asked for before by this same run (a retry): it is there.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conflict_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(AwsCallError::from_sdk("CreateSchedule", name, &e)),
        }
    }
}
