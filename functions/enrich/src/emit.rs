//! Writing enriched records to the output stream: chunks within the PutRecords limits, only
//! the failed entries retried, full-jitter backoff, and never past the invocation's deadline.
//! The call itself goes through the [`OutputStream`] port.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::pipeline::EnrichedRecord;
use crate::ports::OutputStream;

/// PutRecords accepts at most 500 entries per call...
pub const MAX_ENTRIES_PER_CALL: usize = 500;
/// ...and at most 5 MiB per call, counting data and partition keys.
pub const MAX_BYTES_PER_CALL: usize = 5 * 1024 * 1024;

const BACKOFF_BASE: Duration = Duration::from_millis(50);
const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// Splits records (by index) into PutRecords calls that respect both limits, in order.
pub fn plan_chunks(records: &[&EnrichedRecord]) -> Vec<Vec<usize>> {
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0usize;
    for (i, r) in records.iter().enumerate() {
        let size = r.data.len() + r.partition_key.len();
        if !current.is_empty()
            && (current.len() == MAX_ENTRIES_PER_CALL || bytes + size > MAX_BYTES_PER_CALL)
        {
            chunks.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(i);
        bytes += size;
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// Full jitter (AWS architecture blog): uniformly random in [0, min(cap, base * 2^attempt)].
pub fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(16))
        .min(BACKOFF_CAP);
    ceiling.mul_f64(fastrand::f64())
}

/// Why an entry was not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFailure {
    pub index: usize,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct EmitReport {
    pub written: usize,
    /// Entries still not written when retries or time ran out.
    pub failed: Vec<EntryFailure>,
    pub calls: u32,
    pub retried_entries: usize,
}

/// Writes every record, retrying failed entries until `deadline`; what is still unwritten is
/// returned by index into `records`.
pub async fn put_all(
    stream: &impl OutputStream,
    records: &[&EnrichedRecord],
    deadline: Instant,
) -> EmitReport {
    let mut report = EmitReport::default();
    let mut last_error: HashMap<usize, (String, String)> = HashMap::new();
    let mut pending: Vec<usize> = (0..records.len()).collect();
    let mut attempt = 0u32;
    let unwritten = loop {
        let batch: Vec<&EnrichedRecord> = pending.iter().map(|i| records[*i]).collect();
        let mut failed_now = Vec::new();
        for chunk in plan_chunks(&batch) {
            let indices: Vec<usize> = chunk.iter().map(|c| pending[*c]).collect();
            if Instant::now() >= deadline {
                for i in &indices {
                    last_error.entry(*i).or_insert_with(|| {
                        (
                            "DeadlineReached".into(),
                            "not attempted before the invocation deadline".into(),
                        )
                    });
                }
                failed_now.extend(indices);
                continue;
            }
            report.calls += 1;
            match put_chunk(stream, records, &indices).await {
                Ok(failures) => {
                    report.written += indices.len() - failures.len();
                    for (i, code, message) in failures {
                        last_error.insert(i, (code, message));
                        failed_now.push(i);
                    }
                }
                Err(e) => {
                    tracing::warn!(stream = %stream.name(), entries = indices.len(), error = %e, "PutRecords call failed");
                    let code = e.code.clone().unwrap_or_else(|| e.class.to_string());
                    for i in &indices {
                        last_error.insert(*i, (code.clone(), e.message.clone()));
                    }
                    failed_now.extend(indices);
                }
            }
        }
        if failed_now.is_empty() {
            break Vec::new();
        }
        failed_now.sort_unstable();
        let wait = backoff(attempt);
        attempt += 1;
        if Instant::now() + wait >= deadline {
            break failed_now;
        }
        report.retried_entries += failed_now.len();
        tracing::info!(
            stream = %stream.name(),
            entries = failed_now.len(),
            attempt,
            wait_ms = wait.as_millis() as u64,
            "retrying failed PutRecords entries"
        );
        tokio::time::sleep(wait).await;
        pending = failed_now;
    };
    report.failed = unwritten
        .into_iter()
        .map(|index| {
            let (code, message) = last_error.remove(&index).unwrap_or_default();
            EntryFailure {
                index,
                code,
                message,
            }
        })
        .collect();
    report
}

/// One PutRecords call; per-entry failures come back as (index, code, message).
async fn put_chunk(
    stream: &impl OutputStream,
    records: &[&EnrichedRecord],
    indices: &[usize],
) -> Result<Vec<(usize, String, String)>, streamops_shared::AwsCallError> {
    let entries: Vec<&EnrichedRecord> = indices.iter().map(|i| records[*i]).collect();
    let results = stream.put_records(&entries).await?;
    if results.len() != indices.len() {
        // Should not happen; treat the unmatched tail as failed rather than guess.
        tracing::error!(
            sent = indices.len(),
            answered = results.len(),
            "PutRecords answered a different number of entries"
        );
    }
    let mut failures = Vec::new();
    for (pos, i) in indices.iter().enumerate() {
        match results.get(pos) {
            Some(Ok(())) => {}
            Some(Err(e)) => failures.push((*i, e.code.clone(), e.message.clone())),
            None => failures.push((
                *i,
                "MissingResult".into(),
                "no result for this entry".into(),
            )),
        }
    }
    Ok(failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(bytes: usize) -> EnrichedRecord {
        EnrichedRecord {
            partition_key: "k".into(),
            data: vec![b'x'; bytes],
        }
    }

    #[test]
    fn chunks_respect_count_and_size_limits() {
        let small: Vec<EnrichedRecord> = (0..1201).map(|_| rec(100)).collect();
        let refs: Vec<&EnrichedRecord> = small.iter().collect();
        let chunks = plan_chunks(&refs);
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![500, 500, 201]
        );
        let big: Vec<EnrichedRecord> = (0..12).map(|_| rec(1024 * 1024 - 1)).collect();
        let refs: Vec<&EnrichedRecord> = big.iter().collect();
        let chunks = plan_chunks(&refs);
        for c in &chunks {
            let bytes: usize = c.iter().map(|i| big[*i].data.len() + 1).sum();
            assert!(bytes <= MAX_BYTES_PER_CALL);
        }
        assert_eq!(
            chunks.concat(),
            (0..12).collect::<Vec<_>>(),
            "order kept, nothing lost"
        );
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        for attempt in 0..40 {
            assert!(backoff(attempt) <= BACKOFF_CAP);
        }
        let samples: std::collections::BTreeSet<u128> =
            (0..20).map(|_| backoff(5).as_micros()).collect();
        assert!(samples.len() > 1);
    }
}
