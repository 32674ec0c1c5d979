//! Reference data: an in-memory cache that lives across warm invocations, in front of the
//! [`crate::ports::ReferenceSource`] port. A key that is not in the table is cached as missing
//! too, so a hot unknown key does not cost a read per batch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

pub type Attributes = Arc<Map<String, Value>>;

#[derive(Debug)]
struct CacheEntry {
    value: Option<Attributes>,
    loaded: Instant,
}

/// TTL cache of reference items by key. `None` values mean "looked up, not in the table".
#[derive(Debug)]
pub struct ReferenceCache {
    ttl: Duration,
    max_entries: usize,
    entries: HashMap<String, CacheEntry>,
}

impl ReferenceCache {
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries: max_entries.max(1),
            entries: HashMap::new(),
        }
    }

    /// `Some(found_or_missing)` when cached and fresh.
    pub fn get(&self, key: &str, now: Instant) -> Option<Option<Attributes>> {
        self.entries
            .get(key)
            .filter(|e| now.duration_since(e.loaded) < self.ttl)
            .map(|e| e.value.clone())
    }

    /// The distinct keys among `keys` that are not cached or are stale, without counting.
    pub fn keys_to_fetch<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a str>,
        now: Instant,
    ) -> Vec<String> {
        let mut out: Vec<String> = keys
            .into_iter()
            .filter(|k| {
                self.entries
                    .get(*k)
                    .is_none_or(|e| now.duration_since(e.loaded) >= self.ttl)
            })
            .map(str::to_string)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    pub fn insert(&mut self, key: String, value: Option<Map<String, Value>>, now: Instant) {
        if self.entries.len() >= self.max_entries && !self.entries.contains_key(&key) {
            // Evict stale entries first; if all are fresh, start over rather than grow unbounded.
            let ttl = self.ttl;
            self.entries
                .retain(|_, e| now.duration_since(e.loaded) < ttl);
            if self.entries.len() >= self.max_entries {
                self.entries.clear();
            }
        }
        self.entries.insert(
            key,
            CacheEntry {
                value: value.map(Arc::new),
                loaded: now,
            },
        );
    }

    /// Forgets every entry: the next lookups fetch again.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_hits_misses_and_ttl() {
        let t0 = Instant::now();
        let mut c = ReferenceCache::new(Duration::from_secs(60), 10);
        assert!(c.get("p1", t0).is_none());
        c.insert("p1".into(), Some(Map::new()), t0);
        c.insert("p2".into(), None, t0);
        assert!(c.get("p1", t0).unwrap().is_some());
        assert!(
            c.get("p2", t0).unwrap().is_none(),
            "a missing key is cached as missing"
        );
        assert_eq!(
            c.keys_to_fetch(["p1", "p3", "p3"], t0),
            vec!["p3".to_string()]
        );
        let later = t0 + Duration::from_secs(61);
        assert!(c.get("p1", later).is_none());
        assert_eq!(c.keys_to_fetch(["p1"], later), vec!["p1".to_string()]);
    }

    #[test]
    fn cache_stays_bounded() {
        let t0 = Instant::now();
        let mut c = ReferenceCache::new(Duration::from_secs(60), 3);
        for i in 0..10 {
            c.insert(format!("k{i}"), None, t0);
            assert!(c.len() <= 3);
        }
    }
}
