//! A fault script for in-memory fakes of a service's ports: call N (1-based) of an operation
//! fails before taking effect (throttled, denied), or takes effect and then loses its response.
//! Every call is counted. Each crate's fakes turn a [`Fault`] into its own error type.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What a scripted call does instead of answering normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fails before taking effect with a retryable error (throttling).
    Throttled,
    /// Fails before taking effect with a permanent error (access denied).
    Denied,
    /// Takes effect on the server, then the response is lost: the caller sees a retryable error.
    LostResponse,
}

/// Scripted faults by operation name and call number, and a count of every call. A cheap clone
/// sharing its state, so a test keeps one while the fakes hold the others.
#[derive(Clone, Default)]
pub struct Script {
    inner: Arc<Mutex<ScriptState>>,
}

#[derive(Default)]
struct ScriptState {
    calls: HashMap<&'static str, usize>,
    faults: Vec<(&'static str, usize, Fault)>,
}

impl Script {
    /// Call number `nth` (1-based) of `operation` meets `fault`.
    pub fn fail(&self, operation: &'static str, nth: usize, fault: Fault) {
        self.inner
            .lock()
            .unwrap()
            .faults
            .push((operation, nth, fault));
    }

    /// Every call of `operation` from number `from` on fails.
    pub fn fail_from(&self, operation: &'static str, from: usize, fault: Fault) {
        for n in from..from + 1000 {
            self.fail(operation, n, fault);
        }
    }

    pub fn calls(&self, operation: &str) -> usize {
        self.inner
            .lock()
            .unwrap()
            .calls
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    /// Counts the call and returns its scripted fault, if any.
    pub fn next(&self, operation: &'static str) -> Option<Fault> {
        let mut s = self.inner.lock().unwrap();
        let n = {
            let c = s.calls.entry(operation).or_default();
            *c += 1;
            *c
        };
        s.faults
            .iter()
            .find(|(op, nth, _)| *op == operation && *nth == n)
            .map(|(_, _, f)| *f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nth_call_meets_its_fault_and_every_call_is_counted() {
        let s = Script::default();
        s.fail("put", 2, Fault::Throttled);
        s.fail_from("get", 3, Fault::Denied);
        assert_eq!(s.next("put"), None);
        assert_eq!(s.clone().next("put"), Some(Fault::Throttled));
        assert_eq!(s.next("put"), None);
        assert_eq!(
            (s.next("get"), s.next("get"), s.next("get"), s.next("get")),
            (None, None, Some(Fault::Denied), Some(Fault::Denied))
        );
        assert_eq!(
            (s.calls("put"), s.calls("get"), s.calls("other")),
            (3, 4, 0)
        );
    }
}
