//! The PII HMAC key, read through the [`SecretSource`] port (Secrets Manager in production).
//! Never logged.
//!
//! When: on an on-demand cold start, init makes no call for it ([`DeferredKey`]). The first
//! invocation starts the read as it begins and waits for it only when its records are about to
//! be protected, so the round trip (and the TLS set-up and signing of the process's first
//! request) overlaps the ledger read and the records' decoding instead of adding to the cold
//! start. Any other initialisation (provisioned concurrency, where init is off the request path;
//! or no Lambda at all) reads the key during init, so that a missing key fails init
//! ([`read_at_init`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use streamops_shared::{AwsCallError, ErrorClass};
use tokio::task::JoinHandle;

use crate::ports::{SecretSource, SecretValue};

/// Why there is no usable key.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KeyError {
    /// The secret could not be read (its class says whether a retry can help).
    #[error("{0}")]
    Read(AwsCallError),
    /// The secret was read but holds no usable key: only a new secret value helps.
    #[error("{0}")]
    Unusable(String),
}

impl KeyError {
    pub fn class(&self) -> ErrorClass {
        match self {
            KeyError::Read(e) => e.class,
            KeyError::Unusable(_) => ErrorClass::Permanent,
        }
    }
}

/// Reads the secret. A `SecretString` of the form `base64:<...>` is decoded; any other string is
/// used as UTF-8 bytes; a binary secret is used as is.
pub async fn load_hmac_key(source: &impl SecretSource, secret_id: &str) -> Result<Vec<u8>, String> {
    read_hmac_key(source, secret_id)
        .await
        .map_err(|e| e.to_string())
}

/// [`load_hmac_key`] with the reason kept apart from its wording.
pub async fn read_hmac_key(
    source: &impl SecretSource,
    secret_id: &str,
) -> Result<Vec<u8>, KeyError> {
    match source
        .secret_value(secret_id)
        .await
        .map_err(KeyError::Read)?
    {
        SecretValue::Text(s) => {
            key_from_string(&s).map_err(|e| KeyError::Unusable(format!("secret {secret_id}: {e}")))
        }
        SecretValue::Binary(b) => Ok(b),
        SecretValue::Empty => Err(KeyError::Unusable(format!(
            "secret {secret_id} has neither a string nor a binary value"
        ))),
    }
}

pub fn key_from_string(s: &str) -> Result<Vec<u8>, String> {
    match s.strip_prefix("base64:") {
        Some(b64) => STANDARD
            .decode(b64.trim())
            .map_err(|e| format!("base64: prefix but invalid base64 ({e})")),
        None => Ok(s.as_bytes().to_vec()),
    }
}

/// Whether the key is read during init rather than by the first invocation: everywhere but an
/// on-demand cold start (`AWS_LAMBDA_INITIALIZATION_TYPE` is `on-demand`), where init is on the
/// waiting event's path. Provisioned concurrency initialises ahead of traffic.
pub fn read_at_init(initialization_type: Option<&str>) -> bool {
    initialization_type != Some("on-demand")
}

type KeyRead = Pin<Box<dyn Future<Output = Result<Vec<u8>, KeyError>> + Send>>;

enum ReadState {
    NotStarted,
    Running(JoinHandle<Result<Vec<u8>, KeyError>>),
    Taken,
}

/// A key read begun by the first invocation and waited for where the key is needed. A failed
/// read is not remembered: the next batch that needs the key reads it again (a throttled or
/// briefly unreachable Secrets Manager costs one batch's retry, not the sandbox).
pub struct DeferredKey {
    state: Mutex<ReadState>,
    read: Box<dyn Fn() -> KeyRead + Send + Sync>,
}

impl DeferredKey {
    /// `read` is not called yet: see [`DeferredKey::begin`].
    pub fn new<F, Fut>(read: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<u8>, KeyError>> + Send + 'static,
    {
        Self {
            state: Mutex::new(ReadState::NotStarted),
            read: Box::new(move || Box::pin(read())),
        }
    }

    /// Starts the read on the runtime without waiting for it, once. Call inside a Tokio runtime.
    pub fn begin(&self) {
        let mut state = self.lock();
        if matches!(*state, ReadState::NotStarted) {
            *state = ReadState::Running(tokio::spawn((self.read)()));
        }
    }

    /// The key: the read [`begun`](DeferredKey::begin) if it has not been taken yet, else a new
    /// read.
    pub async fn key(&self) -> Result<Vec<u8>, KeyError> {
        let running = match std::mem::replace(&mut *self.lock(), ReadState::Taken) {
            ReadState::Running(handle) => Some(handle),
            ReadState::NotStarted | ReadState::Taken => None,
        };
        match running {
            Some(handle) => match handle.await {
                Ok(result) => result,
                // The read panicked or was cancelled: read again rather than fail the batch.
                Err(_) => (self.read)().await,
            },
            None => (self.read)().await,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReadState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_forms() {
        assert_eq!(key_from_string("base64:AAEC").unwrap(), vec![0, 1, 2]);
        assert_eq!(key_from_string("plain").unwrap(), b"plain");
        assert!(key_from_string("base64:%%").is_err());
    }

    #[test]
    fn only_an_on_demand_cold_start_defers_the_read() {
        assert!(!read_at_init(Some("on-demand")));
        for other in [
            Some("provisioned-concurrency"),
            Some("snap-start"),
            Some(""),
            None,
        ] {
            assert!(read_at_init(other), "{other:?}");
        }
    }
}
