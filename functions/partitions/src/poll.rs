//! Waiting for Athena: capped, jittered backoff, an overall deadline inside the invocation's
//! remaining time, and state tracking that tolerates a query going from RUNNING back to QUEUED
//! (Athena re-queues queries when capacity moves).

use std::future::Future;
use std::time::{Duration, Instant};

use streamops_shared::AwsCallError;

/// Backoff between polls and between retries of throttled calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollPolicy {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(2),
        }
    }
}

impl PollPolicy {
    /// Delay before poll `attempt` (0-based): exponential from `initial`, capped at `max`, with
    /// "equal jitter" (half fixed, half random) so concurrent invocations spread out but still
    /// wait at least half the base. `jitter` is a uniform sample in [0, 1).
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX);
        let base = self.initial.saturating_mul(factor).min(self.max);
        let half = base / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }
}

/// The overall deadline: `cap` from now, but never later than the invocation's end minus `reserve`
/// (time kept to release registry marks and answer).
pub fn deadline(now: Instant, remaining: Duration, reserve: Duration, cap: Duration) -> Instant {
    now + cap.min(remaining.saturating_sub(reserve))
}

/// Athena query states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Other(String),
}

impl QueryState {
    pub fn parse(s: &str) -> Self {
        match s {
            "QUEUED" => QueryState::Queued,
            "RUNNING" => QueryState::Running,
            "SUCCEEDED" => QueryState::Succeeded,
            "FAILED" => QueryState::Failed,
            "CANCELLED" => QueryState::Cancelled,
            other => QueryState::Other(other.to_string()),
        }
    }

    pub fn is_final(&self) -> bool {
        matches!(
            self,
            QueryState::Succeeded | QueryState::Failed | QueryState::Cancelled
        )
    }
}

/// What was seen while polling.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollStats {
    pub polls: u32,
    /// How often the query went from RUNNING back to QUEUED.
    pub requeued: u32,
    /// Retryable errors (throttling) absorbed while polling.
    pub throttled: u32,
}

#[derive(Debug)]
pub enum PollOutcome<T> {
    /// A final state, with the details the fetch returned for it.
    Final(QueryState, T, PollStats),
    /// The deadline came first; the last state seen.
    TimedOut(Option<QueryState>, PollStats),
}

/// Polls `fetch` until it reports a final state or the deadline passes. Retryable errors
/// (throttling, 5xx) back off and poll again; permanent errors end the wait.
pub async fn poll_until_final<T, F, Fut>(
    policy: PollPolicy,
    deadline: Instant,
    mut fetch: F,
) -> Result<PollOutcome<T>, AwsCallError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(QueryState, T), AwsCallError>>,
{
    let mut stats = PollStats::default();
    let mut last: Option<QueryState> = None;
    let mut saw_running = false;
    let mut attempt = 0u32;
    loop {
        stats.polls += 1;
        match fetch().await {
            Ok((state, detail)) => {
                if state.is_final() {
                    return Ok(PollOutcome::Final(state, detail, stats));
                }
                if state == QueryState::Running {
                    saw_running = true;
                } else if state == QueryState::Queued && saw_running {
                    stats.requeued += 1;
                    saw_running = false;
                    tracing::info!("query went from RUNNING back to QUEUED; still waiting");
                }
                last = Some(state);
            }
            Err(e) if e.is_retryable() => {
                stats.throttled += 1;
                tracing::warn!(error = %e, "polling the query was throttled; backing off");
            }
            Err(e) => return Err(e),
        }
        let pause = policy.delay(attempt, fastrand::f64());
        attempt += 1;
        if Instant::now() + pause > deadline {
            return Ok(PollOutcome::TimedOut(last, stats));
        }
        tokio::time::sleep(pause).await;
    }
}

/// Runs `call` until it succeeds, fails permanently, or the next retry would pass the deadline.
/// Used for `StartQueryExecution` (`TooManyRequestsException` when the account's DDL concurrency
/// is used up, `ThrottlingException` for the API rate) and Glue writes.
pub async fn retry_throttled<T, F, Fut>(
    policy: PollPolicy,
    deadline: Instant,
    mut call: F,
) -> Result<(T, u32), AwsCallError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsCallError>>,
{
    let mut attempt = 0u32;
    loop {
        match call().await {
            Ok(v) => return Ok((v, attempt)),
            Err(e) if e.is_retryable() => {
                let pause = policy.delay(attempt, fastrand::f64());
                attempt += 1;
                if Instant::now() + pause > deadline {
                    return Err(e);
                }
                tracing::warn!(error = %e, attempt, "throttled; backing off");
                tokio::time::sleep(pause).await;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use streamops_shared::ErrorClass;

    fn fast() -> PollPolicy {
        PollPolicy {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(4),
        }
    }

    fn err(class: ErrorClass, code: &str) -> AwsCallError {
        AwsCallError {
            operation: "GetQueryExecution",
            resource: "query q".into(),
            class,
            code: Some(code.into()),
            message: "x".into(),
        }
    }

    #[test]
    fn delays_grow_are_capped_and_jittered_within_half_to_full() {
        let p = PollPolicy::default();
        assert_eq!(p.delay(0, 0.0), Duration::from_millis(100));
        assert_eq!(p.delay(0, 1.0), Duration::from_millis(200));
        assert_eq!(p.delay(1, 0.0), Duration::from_millis(200));
        assert_eq!(p.delay(3, 0.5), Duration::from_millis(1200));
        for attempt in [4, 10, 40, u32::MAX] {
            let d = p.delay(attempt, 0.999);
            assert!(
                d <= Duration::from_secs(2) && d >= Duration::from_secs(1),
                "{attempt}: {d:?}"
            );
        }
    }

    #[test]
    fn deadline_is_capped_by_remaining_time_minus_reserve() {
        let now = Instant::now();
        let d = deadline(
            now,
            Duration::from_secs(30),
            Duration::from_secs(3),
            Duration::from_secs(60),
        );
        assert_eq!(d - now, Duration::from_secs(27));
        let d = deadline(
            now,
            Duration::from_secs(900),
            Duration::from_secs(3),
            Duration::from_secs(60),
        );
        assert_eq!(d - now, Duration::from_secs(60));
        let d = deadline(
            now,
            Duration::from_secs(1),
            Duration::from_secs(3),
            Duration::from_secs(60),
        );
        assert_eq!(d, now);
    }

    async fn run(
        states: Vec<Result<&'static str, AwsCallError>>,
        deadline_in: Duration,
    ) -> (Result<PollOutcome<u32>, AwsCallError>, usize) {
        let queue = RefCell::new(states.into_iter().collect::<VecDeque<_>>());
        let calls = RefCell::new(0usize);
        let out = poll_until_final(fast(), Instant::now() + deadline_in, || {
            *calls.borrow_mut() += 1;
            let next = queue.borrow_mut().pop_front().unwrap_or(Ok("RUNNING"));
            let n = *calls.borrow() as u32;
            async move { next.map(|s| (QueryState::parse(s), n)) }
        })
        .await;
        let n = *calls.borrow();
        (out, n)
    }

    #[tokio::test]
    async fn requeued_queries_are_tolerated_and_throttling_backs_off() {
        let (out, calls) = run(
            vec![
                Ok("QUEUED"),
                Ok("RUNNING"),
                Ok("QUEUED"),
                Err(err(ErrorClass::Retryable, "ThrottlingException")),
                Ok("RUNNING"),
                Ok("SUCCEEDED"),
            ],
            Duration::from_secs(5),
        )
        .await;
        match out.unwrap() {
            PollOutcome::Final(QueryState::Succeeded, n, stats) => {
                assert_eq!(n, 6);
                assert_eq!(
                    stats,
                    PollStats {
                        polls: 6,
                        requeued: 1,
                        throttled: 1
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(calls, 6);
    }

    #[tokio::test]
    async fn failed_is_final_and_permanent_errors_stop() {
        let (out, _) = run(vec![Ok("RUNNING"), Ok("FAILED")], Duration::from_secs(5)).await;
        assert!(matches!(
            out.unwrap(),
            PollOutcome::Final(QueryState::Failed, 2, _)
        ));
        let (out, calls) = run(
            vec![Err(err(ErrorClass::Permanent, "InvalidRequestException"))],
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(
            out.unwrap_err().code.as_deref(),
            Some("InvalidRequestException")
        );
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn the_deadline_ends_a_query_that_never_finishes() {
        let started = Instant::now();
        let (out, calls) = run(vec![], Duration::from_millis(50)).await;
        match out.unwrap() {
            PollOutcome::TimedOut(Some(QueryState::Running), stats) => {
                assert_eq!(stats.polls as usize, calls)
            }
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() < Duration::from_millis(500));
        assert!(calls >= 5, "{calls}");
    }

    #[tokio::test]
    async fn throttled_calls_are_retried_until_the_deadline() {
        let tries = RefCell::new(0);
        let (v, retries) = retry_throttled(fast(), Instant::now() + Duration::from_secs(5), || {
            *tries.borrow_mut() += 1;
            let n = *tries.borrow();
            async move {
                if n < 3 {
                    Err(err(ErrorClass::Retryable, "TooManyRequestsException"))
                } else {
                    Ok("qid")
                }
            }
        })
        .await
        .unwrap();
        assert_eq!((v, retries), ("qid", 2));
        let e = retry_throttled::<(), _, _>(
            fast(),
            Instant::now() + Duration::from_millis(20),
            || async { Err(err(ErrorClass::Retryable, "ThrottlingException")) },
        )
        .await
        .unwrap_err();
        assert!(e.is_retryable());
        let e = retry_throttled::<(), _, _>(
            fast(),
            Instant::now() + Duration::from_secs(5),
            || async { Err(err(ErrorClass::Permanent, "InvalidRequestException")) },
        )
        .await
        .unwrap_err();
        assert!(!e.is_retryable());
    }
}
