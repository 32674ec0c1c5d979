//! Facts about the current invocation that every function needs the same way.

use std::time::Duration;

/// Time left in the invocation. Lambda sends the deadline as epoch milliseconds; the local
/// emulator of `cargo lambda watch` sends the timeout itself (e.g. 600000), which no real
/// deadline can be (it would be 1970), so such a value is read as a duration from now.
pub fn time_left(deadline_ms: u64, now_ms: i64) -> Duration {
    const EPOCH_2001_MS: u64 = 978_307_200_000;
    if deadline_ms < EPOCH_2001_MS {
        return Duration::from_millis(deadline_ms);
    }
    Duration::from_millis(deadline_ms.saturating_sub(now_ms.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_from_lambda_and_from_the_local_emulator() {
        let now = 1_795_425_330_000;
        assert_eq!(time_left(1_795_425_360_000, now), Duration::from_secs(30));
        assert_eq!(
            time_left(1_795_425_320_000, now),
            Duration::ZERO,
            "a passed deadline leaves nothing"
        );
        assert_eq!(time_left(600_000, now), Duration::from_secs(600));
    }
}
