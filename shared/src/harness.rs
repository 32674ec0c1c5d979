//! The Lambda harness every function runs under: one [`Invocation`] per event (request id,
//! clock, deadline, metrics), one [`run`] that owns the runtime loop, the metrics flush and
//! error reporting, and errors that reach Lambda with an `errorType` saying whether a retry can
//! help (what on-failure destinations, DLQ records and the console show).

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{AwsCallError, ErrorClass};
use crate::metrics::Metrics;
use crate::{METRICS_NAMESPACE, invocation};

/// One invocation: who it is, when it started and when Lambda ends it.
pub struct Invocation {
    pub request_id: String,
    pub now: DateTime<Utc>,
    /// When Lambda stops the invocation, on the monotonic clock.
    pub deadline: tokio::time::Instant,
    /// The same moment as wall time (for claims that must expire with the invocation).
    pub deadline_at: DateTime<Utc>,
    /// This invocation's metrics; flushed when the invocation ends (and on drop).
    pub metrics: Metrics,
}

impl Invocation {
    /// From the runtime's deadline (epoch ms under Lambda, a plain duration under
    /// `cargo lambda watch`: see [`invocation::time_left`]).
    pub fn new(
        function: &'static str,
        request_id: String,
        deadline_ms: u64,
        now: DateTime<Utc>,
    ) -> Self {
        let left = invocation::time_left(deadline_ms, now.timestamp_millis());
        Self {
            request_id,
            now,
            deadline: tokio::time::Instant::now() + left,
            deadline_at: now + chrono::Duration::from_std(left).unwrap_or_default(),
            metrics: Metrics::new(METRICS_NAMESPACE, function),
        }
    }

    pub fn time_left(&self) -> Duration {
        self.deadline
            .saturating_duration_since(tokio::time::Instant::now())
    }

    /// The deadline less a margin kept for replying or recording progress.
    pub fn deadline_less(&self, margin: Duration) -> tokio::time::Instant {
        let left = self.time_left();
        tokio::time::Instant::now() + left.saturating_sub(margin)
    }
}

/// A handler error as Lambda should see it: retryable or permanent, and what kind of thing failed.
pub trait Classified: std::fmt::Display {
    fn class(&self) -> ErrorClass;
    /// A short CamelCase name of what failed (`AwsCall`, `BadInput`, `BadCommand`, ...).
    fn kind(&self) -> &'static str;
}

impl Classified for AwsCallError {
    fn class(&self) -> ErrorClass {
        self.class
    }
    fn kind(&self) -> &'static str {
        "AwsCall"
    }
}

/// What a failed invocation reports: `errorType` `Retryable.AwsCall`, `Permanent.BadInput`, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub error_type: String,
    pub message: String,
}

impl Failure {
    pub fn of<E: Classified + ?Sized>(e: &E) -> Self {
        let class = match e.class() {
            ErrorClass::Retryable => "Retryable",
            ErrorClass::Permanent => "Permanent",
        };
        Self {
            error_type: format!("{class}.{}", e.kind()),
            message: e.to_string(),
        }
    }
}

impl From<Failure> for Diagnostic {
    fn from(f: Failure) -> Self {
        Diagnostic {
            error_type: f.error_type,
            error_message: f.message,
        }
    }
}

/// Runs `handler` for every event until the runtime stops. Each call gets its [`Invocation`];
/// its metrics are flushed when it returns, and an error is logged once and reported to Lambda
/// as a classified [`Failure`].
pub async fn run<P, R, E, F, Fut>(
    function: &'static str,
    handler: F,
) -> Result<(), lambda_runtime::Error>
where
    P: DeserializeOwned + Send + 'static,
    R: Serialize,
    E: Classified,
    F: Fn(P, Invocation) -> Fut,
    Fut: Future<Output = (Result<R, E>, Metrics)>,
{
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<P>| async move {
        let invocation = Invocation::new(
            function,
            event.context.request_id.clone(),
            event.context.deadline,
            Utc::now(),
        );
        let (result, mut metrics) = handler(event.payload, invocation).await;
        let result = result.map_err(|e| {
            let failure = Failure::of(&e);
            metrics.count_by("InvocationErrors", "class", classify_label(e.class()), 1);
            tracing::error!(error_type = %failure.error_type, error = %failure.message, "invocation failed");
            failure
        });
        metrics.flush();
        result
    }))
    .await
}

fn classify_label(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::Retryable => "retryable",
        ErrorClass::Permanent => "permanent",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("bad: {0}")]
    struct Bad(&'static str);

    impl Classified for Bad {
        fn class(&self) -> ErrorClass {
            ErrorClass::Permanent
        }
        fn kind(&self) -> &'static str {
            "BadInput"
        }
    }

    #[test]
    fn failures_carry_their_class_and_kind_as_the_error_type() {
        let d: Diagnostic = Failure::of(&Bad("no such field")).into();
        assert_eq!(d.error_type, "Permanent.BadInput");
        assert_eq!(d.error_message, "bad: no such field");
        let aws = AwsCallError {
            operation: "PutItem",
            resource: "t".into(),
            class: ErrorClass::Retryable,
            code: Some("ThrottlingException".into()),
            message: "slow down".into(),
        };
        assert_eq!(Failure::of(&aws).error_type, "Retryable.AwsCall");
    }

    #[tokio::test]
    async fn deadlines_from_lambda_and_from_the_local_emulator() {
        let now = Utc::now();
        let lambda = Invocation::new(
            "t",
            "r".into(),
            (now.timestamp_millis() + 30_000) as u64,
            now,
        );
        assert!(
            lambda.time_left() > Duration::from_secs(29)
                && lambda.time_left() <= Duration::from_secs(30)
        );
        assert_eq!((lambda.deadline_at - now).num_seconds(), 30);
        let local = Invocation::new("t", "r".into(), 600_000, now);
        assert!(local.time_left() > Duration::from_secs(599));
        assert!(local.deadline_less(Duration::from_secs(5)) < local.deadline);
    }
}
