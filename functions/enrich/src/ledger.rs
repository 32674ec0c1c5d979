//! The delivery ledger: per Kinesis shard (or Kafka topic-partition), what a previous attempt
//! already handled, so a batch Lambda re-delivers after a partial failure does not write those
//! records again.
//!
//! Lambda resumes a shard from the lowest reported failure, so the retry carries the failed
//! records *and* every record after them, most of which were delivered (or quarantined) the
//! first time. The ledger remembers the highest position the last attempt handled
//! (`high_water`) and the positions at or below it that were not handled (`pending`): a record is
//! skipped when `position <= high_water` and it is not pending. Requires one invocation per shard
//! at a time (ParallelizationFactor 1, the template's setting); writes are conditional on the
//! version read, so a concurrent writer is detected rather than overwritten. Pure: the
//! [`crate::ports::Ledger`] port reads and writes it.

use std::cmp::Ordering;

use crate::origin::cmp_position;

/// More pending positions than this and the high-water mark is lowered to keep the item small
/// (a 56-digit sequence number per entry; DynamoDB items are capped at 400 KB).
pub const MAX_PENDING: usize = 2000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaneLedger {
    pub high_water: Option<String>,
    /// Sorted ascending by position.
    pub pending: Vec<String>,
    /// Version read from the table; `None` when there was no item.
    pub version: Option<u64>,
}

/// What one attempt did with the records of a lane.
#[derive(Debug, Default)]
pub struct LaneAttempt {
    /// Lowest position in the batch for this lane: Lambda has checkpointed everything below it.
    pub batch_min: Option<String>,
    pub batch_max: Option<String>,
    /// Positions not handled (reported as failures).
    pub failed: Vec<String>,
}

impl LaneAttempt {
    pub fn observe(&mut self, position: &str) {
        if self
            .batch_min
            .as_deref()
            .is_none_or(|m| cmp_position(position, m) == Ordering::Less)
        {
            self.batch_min = Some(position.to_string());
        }
        if self
            .batch_max
            .as_deref()
            .is_none_or(|m| cmp_position(position, m) == Ordering::Greater)
        {
            self.batch_max = Some(position.to_string());
        }
    }
}

impl LaneLedger {
    /// True when a previous attempt already delivered or quarantined this position.
    pub fn already_handled(&self, position: &str) -> bool {
        match &self.high_water {
            Some(hw) if cmp_position(position, hw) != Ordering::Greater => self
                .pending
                .binary_search_by(|p| cmp_position(p, position))
                .is_err(),
            _ => false,
        }
    }

    /// The ledger after `attempt`, or `None` when nothing needs writing: no failures now and
    /// nothing pending from before, so Lambda's own checkpoint covers the lane. `batch_retried`
    /// forces the write: when any record of the invocation failed, Lambda may re-deliver this
    /// lane's records too (a whole-batch retry), and they must be skipped then.
    pub fn advance(&self, attempt: &LaneAttempt, batch_retried: bool) -> Option<LaneLedger> {
        let batch_min = attempt.batch_min.as_deref()?;
        // Pending entries below the batch start are behind Lambda's checkpoint: gone for good.
        let mut pending: Vec<String> = self
            .pending
            .iter()
            .filter(|p| cmp_position(p, batch_min) != Ordering::Less)
            .filter(|p| !self.handled_now(p, attempt))
            .cloned()
            .collect();
        pending.extend(attempt.failed.iter().cloned());
        pending.sort_by(|a, b| cmp_position(a, b));
        pending.dedup();
        if pending.is_empty() && self.pending.is_empty() && !batch_retried {
            return None;
        }
        let mut high_water = match (&self.high_water, &attempt.batch_max) {
            (Some(a), Some(b)) => Some(if cmp_position(a, b) == Ordering::Greater {
                a.clone()
            } else {
                b.clone()
            }),
            (a, b) => a.clone().or(b.clone()),
        };
        if pending.len() > MAX_PENDING {
            // Keep the lowest entries; records above the cut are re-processed on retry (the
            // at-least-once case docs/enrich.md describes, identifiable by `_event_id`).
            pending.truncate(MAX_PENDING + 1);
            high_water = pending.last().cloned();
        }
        Some(LaneLedger {
            high_water,
            pending,
            version: self.version,
        })
    }

    /// A previously pending position in this batch that is not failing again was handled now.
    fn handled_now(&self, position: &str, attempt: &LaneAttempt) -> bool {
        let in_batch = attempt
            .batch_max
            .as_deref()
            .is_some_and(|m| cmp_position(position, m) != Ordering::Greater);
        in_batch && !attempt.failed.iter().any(|f| f == position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(positions: &[u32], failed: &[u32]) -> LaneAttempt {
        let mut a = LaneAttempt::default();
        for p in positions {
            a.observe(&p.to_string());
        }
        a.failed = failed.iter().map(|f| f.to_string()).collect();
        a
    }

    #[test]
    fn a_clean_batch_writes_nothing() {
        assert_eq!(
            LaneLedger::default().advance(&attempt(&[1, 2, 3], &[]), false),
            None
        );
        // ...unless another lane failed and the whole batch comes back.
        let l = LaneLedger::default()
            .advance(&attempt(&[1, 2, 3], &[]), true)
            .unwrap();
        assert!(l.already_handled("2") && !l.already_handled("4"));
    }

    #[test]
    fn retry_skips_what_the_first_attempt_handled() {
        // Attempt 1: records 10..=15, 12 and 14 failed.
        let l1 = LaneLedger::default()
            .advance(&attempt(&[10, 11, 12, 13, 14, 15], &[12, 14]), false)
            .unwrap();
        assert_eq!(l1.high_water.as_deref(), Some("15"));
        assert_eq!(l1.pending, vec!["12", "14"]);
        // Lambda resumes from 12: 12..=17 arrive. 13 and 15 are skipped, 12 and 14 are not.
        let skipped: Vec<u32> = (12..=17)
            .filter(|p| l1.already_handled(&p.to_string()))
            .collect();
        assert_eq!(skipped, vec![13, 15]);
        // Attempt 2: 14 fails again.
        let l2 = l1
            .advance(&attempt(&[12, 13, 14, 15, 16, 17], &[14]), false)
            .unwrap();
        assert_eq!(l2.pending, vec!["14"]);
        assert_eq!(l2.high_water.as_deref(), Some("17"));
        // Attempt 3 from 14: everything handled, the ledger is cleared.
        let l3 = l2
            .advance(&attempt(&[14, 15, 16, 17, 18], &[]), false)
            .unwrap();
        assert!(l3.pending.is_empty());
        assert!(!l3.already_handled("19"));
        assert!(l3.already_handled("16"));
    }

    #[test]
    fn pending_is_bounded() {
        let positions: Vec<u32> = (0..5000).collect();
        let l = LaneLedger::default()
            .advance(&attempt(&positions, &positions), false)
            .unwrap();
        assert_eq!(l.pending.len(), MAX_PENDING + 1);
        assert_eq!(
            l.high_water.as_deref(),
            Some(MAX_PENDING.to_string().as_str())
        );
        // Nothing above the cut counts as handled: it will be re-processed, never lost.
        assert!(!l.already_handled("4000"));
    }

    #[test]
    fn huge_sequence_numbers() {
        let a = "49590338271490256608559692538361571095921575989136588898";
        let b = "49590338271490256608559692540925702759324208523137515618";
        let mut at = LaneAttempt::default();
        at.observe(a);
        at.observe(b);
        at.failed = vec![a.to_string()];
        let l = LaneLedger::default().advance(&at, false).unwrap();
        assert!(l.already_handled(b));
        assert!(!l.already_handled(a));
    }
}
