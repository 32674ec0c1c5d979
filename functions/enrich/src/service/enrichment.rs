//! Records through the pipeline in chunks, with the chunk's reference keys fetched through the
//! cache in between the two phases. No writes.

use std::sync::MutexGuard;

use streamops_shared::{Metrics, Unit};

use super::{EnrichError, EnrichService, InvocationContext, PIPELINE_CHUNK};
use crate::input::InputRecord;
use crate::pipeline::{BatchContext, Lookup, Prepared, Stage};
use crate::poison::Poison;
use crate::ports::{ReferenceSource, SchemaRegistry};
use crate::reference::ReferenceCache;

impl<W, L, R, Q, S> EnrichService<W, L, R, Q, S> {
    /// The reference cache, locked. The lock is held while a chunk is finished (the pipeline
    /// reads the cache for every record), so a panic there poisons it; with `lock().expect`
    /// every later invocation in this sandbox would then fail. The cache is only a copy of the
    /// reference table, so a poisoned one is emptied (a half-done insert cannot be trusted; the
    /// next lookups fetch again) and the poison cleared.
    pub fn cache(&self) -> MutexGuard<'_, ReferenceCache> {
        self.cache.lock().unwrap_or_else(|poisoned| {
            let mut cache = poisoned.into_inner();
            cache.clear();
            self.cache.clear_poison();
            cache
        })
    }
}

impl<W, L, R: ReferenceSource, Q, S: SchemaRegistry> EnrichService<W, L, R, Q, S> {
    /// Decode, validate, look up reference data, enrich. `skip` marks records a previous
    /// attempt already handled. No writes. Waits for the PII key first if it is still being
    /// read (the one way this fails).
    pub async fn run_pipeline(
        &self,
        records: &[InputRecord],
        skip: impl Fn(&InputRecord) -> bool,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Result<Vec<Stage>, EnrichError> {
        self.key_ready().await?;
        // Registry formats to JSON first: a registry that cannot be reached fails the batch
        // here, before any record is judged.
        let decoded = self.decode_values(records, &skip, metrics).await?;
        let batch = BatchContext::new(ctx.now);
        let mut stages = Vec::with_capacity(records.len());
        let (mut hits, mut misses) = (0usize, 0usize);
        // In chunks, so only a chunk's parsed JSON trees are alive at once (peak memory stays
        // near input + output size); reference keys are fetched per chunk, through the cache.
        for (i, chunk) in records.chunks(PIPELINE_CHUNK).enumerate() {
            let start = (i * PIPELINE_CHUNK).min(decoded.len());
            let end = (start + PIPELINE_CHUNK).min(decoded.len());
            let prepared = self
                .enricher
                .prepare_batch(chunk, &decoded[start..end], &skip);
            let (lookup_failure, h, m) = self.load_reference(&prepared, metrics).await;
            hits += h;
            misses += m;
            let cache = self.cache();
            let now = std::time::Instant::now();
            let unavailable = lookup_failure.unwrap_or_else(|| {
                (
                    "ReferenceLookupFailed".into(),
                    "reference item not loaded".into(),
                )
            });
            stages.extend(self.enricher.finish_batch(
                chunk,
                prepared,
                |key| match cache.get(key, now) {
                    Some(Some(attrs)) => Lookup::Found(attrs),
                    Some(None) => Lookup::Missing,
                    None => Lookup::Unavailable(unavailable.0.clone(), unavailable.1.clone()),
                },
                &batch,
            ));
        }
        if hits + misses > 0 {
            metrics.count("ReferenceCacheHits", hits as u64);
            metrics.count("ReferenceCacheMisses", misses as u64);
            metrics.record(
                "ReferenceCacheHitRate",
                Unit::Percent,
                100.0 * hits as f64 / (hits + misses) as f64,
            );
        }
        Ok(stages)
    }

    /// Fills the cache for a chunk's reference keys. Returns the error (code, message) when the
    /// lookup failed (records whose key is still not cached are then failed, not guessed), and
    /// the chunk's cache hits and misses counted per record.
    async fn load_reference(
        &self,
        prepared: &[Result<Option<Prepared<'_>>, Poison>],
        metrics: &mut Metrics,
    ) -> (Option<(String, String)>, usize, usize) {
        let Some(table) = self.reference.as_ref() else {
            return (None, 0, 0);
        };
        let keys: Vec<&str> = prepared
            .iter()
            .filter_map(|p| {
                p.as_ref()
                    .ok()
                    .and_then(|p| p.as_ref())
                    .and_then(|p| p.reference_key.as_deref())
            })
            .collect();
        if keys.is_empty() {
            return (None, 0, 0);
        }
        let to_fetch = self
            .cache()
            .keys_to_fetch(keys.iter().copied(), std::time::Instant::now());
        let fetched: std::collections::HashSet<&str> =
            to_fetch.iter().map(String::as_str).collect();
        let misses = keys.iter().filter(|k| fetched.contains(**k)).count();
        let hits = keys.len() - misses;
        if to_fetch.is_empty() {
            return (None, hits, misses);
        }
        match table.fetch(&to_fetch).await {
            Ok(mut found) => {
                let mut cache = self.cache();
                let now = std::time::Instant::now();
                for key in to_fetch {
                    let value = found.remove(&key);
                    cache.insert(key, value, now);
                }
                (None, hits, misses)
            }
            Err(e) => {
                tracing::error!(table = table.table(), keys = to_fetch.len(), error = %e, "reference lookup failed; records needing it are reported as failed");
                metrics.count("ReferenceLookupErrors", 1);
                (
                    Some((
                        e.code
                            .clone()
                            .unwrap_or_else(|| "ReferenceLookupFailed".into()),
                        e.to_string(),
                    )),
                    hits,
                    misses,
                )
            }
        }
    }
}
