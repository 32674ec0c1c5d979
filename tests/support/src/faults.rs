//! A fault script for in-memory fakes of a service's ports, one for every function's fakes:
//! call N (1-based) of an operation fails before taking effect (throttled, a 5xx, denied), or
//! takes effect and then loses its response; every call is counted. [`Interleave`] lets
//! "another invocation" act on a fake's state just before one of our calls (a concurrent
//! writer whose write lands between our read and our conditional write).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use streamops_shared::{AwsCallError, ErrorClass};

/// What a scripted call does instead of answering normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fails before taking effect with a retryable error (throttling).
    Throttled,
    /// Fails before taking effect with a retryable 5xx.
    ServerError,
    /// Fails before taking effect with a permanent error (access denied).
    Denied,
    /// Takes effect on the server, then the response is lost (a timeout): the caller sees a
    /// retryable error although the call landed.
    LostResponse,
}

impl Fault {
    /// Whether the call's work is done despite the error.
    pub fn takes_effect(self) -> bool {
        self == Fault::LostResponse
    }

    /// The error an AWS SDK call named `operation` returns for this fault.
    pub fn aws_error(self, operation: &'static str) -> AwsCallError {
        let (class, code, message) = match self {
            Fault::Throttled => (
                ErrorClass::Retryable,
                Some("ThrottlingException"),
                "Rate exceeded (injected)",
            ),
            Fault::ServerError => (
                ErrorClass::Retryable,
                Some("InternalServerError"),
                "500 (injected)",
            ),
            Fault::Denied => (
                ErrorClass::Permanent,
                Some("AccessDeniedException"),
                "not authorized (injected)",
            ),
            Fault::LostResponse => (
                ErrorClass::Retryable,
                None,
                "timed out waiting for the response (injected)",
            ),
        };
        AwsCallError {
            operation,
            resource: "fake".into(),
            class,
            code: code.map(str::to_string),
            message: message.into(),
        }
    }

    /// The error line a plain HTTP client (Flink REST, YARN) returns for this fault.
    pub fn http_error(self, what: &str) -> String {
        match self {
            Fault::Throttled => format!("{what}: HTTP 429: injected"),
            Fault::ServerError => format!("{what}: HTTP 503: injected"),
            Fault::Denied => format!("{what}: HTTP 403: injected"),
            Fault::LostResponse => format!("{what}: connection reset: injected"),
        }
    }
}

/// Runs `apply` unless `fault` refuses the call first; a fault that lets the call take effect
/// runs it and still fails.
pub fn outcome<T>(fault: Option<Fault>, apply: impl FnOnce() -> T) -> Result<T, Fault> {
    match fault {
        None => Ok(apply()),
        Some(f) if f.takes_effect() => {
            apply();
            Err(f)
        }
        Some(f) => Err(f),
    }
}

/// A test's lock on a fake's state. A test that failed an assertion while holding it has
/// already failed; the state itself is plain data with no invariant a half-done update could
/// break for the assertions that still run, so a poisoned lock is used as it is.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
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

impl ScriptState {
    fn scripted(&self, operation: &str, nth: usize) -> Option<Fault> {
        self.faults
            .iter()
            .find(|(op, n, _)| *op == operation && *n == nth)
            .map(|(_, _, f)| *f)
    }
}

impl Script {
    /// Call number `nth` (1-based, counted from the first call) of `operation` meets `fault`.
    pub fn fail(&self, operation: &'static str, nth: usize, fault: Fault) {
        lock(&self.inner).faults.push((operation, nth, fault));
    }

    /// Every call of `operation` from number `from` on fails.
    pub fn fail_from(&self, operation: &'static str, from: usize, fault: Fault) {
        for n in from..from + 1000 {
            self.fail(operation, n, fault);
        }
    }

    /// The next call of `operation` that has no fault scripted yet meets `fault`: called
    /// twice, the next two calls fail, in that order.
    pub fn fail_next(&self, operation: &'static str, fault: Fault) {
        let mut s = lock(&self.inner);
        let mut n = s.calls.get(operation).copied().unwrap_or(0) + 1;
        while s.scripted(operation, n).is_some() {
            n += 1;
        }
        s.faults.push((operation, n, fault));
    }

    /// How many calls of `operation` were made (the failed ones too).
    pub fn calls(&self, operation: &str) -> usize {
        lock(&self.inner).calls.get(operation).copied().unwrap_or(0)
    }

    /// Counts the call and returns its scripted fault, if any.
    pub fn next(&self, operation: &'static str) -> Option<Fault> {
        let mut s = lock(&self.inner);
        let n = {
            let c = s.calls.entry(operation).or_default();
            *c += 1;
            *c
        };
        s.scripted(operation, n)
    }

    /// Counts the call and runs `apply` as its fault (if any) says: see [`outcome`].
    pub fn run<T>(&self, operation: &'static str, apply: impl FnOnce() -> T) -> Result<T, Fault> {
        outcome(self.next(operation), apply)
    }

    /// [`Script::run`] for an AWS call: a fault is the [`AwsCallError`] the SDK would return.
    pub fn call<T>(
        &self,
        operation: &'static str,
        apply: impl FnOnce() -> T,
    ) -> Result<T, AwsCallError> {
        self.run(operation, apply)
            .map_err(|f| f.aws_error(operation))
    }
}

/// What another invocation does on a fake's state `S`, given the key our call is about.
type Hook<S> = Box<dyn FnOnce(&mut S, &str) + Send>;

/// The hooks waiting, by operation, each run once in order.
type Hooks<S> = HashMap<&'static str, VecDeque<Hook<S>>>;

/// Hooks run once, just before the next call of an operation: another invocation acting in
/// between our read and our write (a concurrent writer moving an item's version on, taking a
/// lease, a claim). A cheap clone sharing its queue.
pub struct Interleave<S> {
    hooks: Arc<Mutex<Hooks<S>>>,
}

impl<S> Clone for Interleave<S> {
    fn clone(&self) -> Self {
        Self {
            hooks: self.hooks.clone(),
        }
    }
}

impl<S> Default for Interleave<S> {
    fn default() -> Self {
        Self {
            hooks: Arc::default(),
        }
    }
}

impl<S> Interleave<S> {
    /// Runs `hook` on the state (with the key of our call) just before the next call of
    /// `operation`; hooks for one operation run one a call, in the order given.
    pub fn before_next(
        &self,
        operation: &'static str,
        hook: impl FnOnce(&mut S, &str) + Send + 'static,
    ) {
        lock(&self.hooks)
            .entry(operation)
            .or_default()
            .push_back(Box::new(hook));
    }

    /// Runs the hook waiting for this call of `operation` on `key`, if any.
    pub fn run(&self, operation: &str, state: &mut S, key: &str) {
        let hook = lock(&self.hooks)
            .get_mut(operation)
            .and_then(VecDeque::pop_front);
        if let Some(hook) = hook {
            hook(state, key);
        }
    }
}

#[cfg(test)]
mod tests;
