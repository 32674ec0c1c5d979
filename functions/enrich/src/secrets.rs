//! The PII HMAC key, read once at cold start through the [`SecretSource`] port (Secrets
//! Manager in production). Never logged.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::ports::{SecretSource, SecretValue};

/// Reads the secret. A `SecretString` of the form `base64:<...>` is decoded; any other string is
/// used as UTF-8 bytes; a binary secret is used as is.
pub async fn load_hmac_key(source: &impl SecretSource, secret_id: &str) -> Result<Vec<u8>, String> {
    match source
        .secret_value(secret_id)
        .await
        .map_err(|e| e.to_string())?
    {
        SecretValue::Text(s) => key_from_string(&s).map_err(|e| format!("secret {secret_id}: {e}")),
        SecretValue::Binary(b) => Ok(b),
        SecretValue::Empty => Err(format!(
            "secret {secret_id} has neither a string nor a binary value"
        )),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_forms() {
        assert_eq!(key_from_string("base64:AAEC").unwrap(), vec![0, 1, 2]);
        assert_eq!(key_from_string("plain").unwrap(), b"plain");
        assert!(key_from_string("base64:%%").is_err());
    }
}
