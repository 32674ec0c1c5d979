//! The PII HMAC key, read once at cold start from Secrets Manager. Never logged.

use aws_sdk_secretsmanager::Client;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use streamops_shared::AwsCallError;

/// Reads the secret. A `SecretString` of the form `base64:<...>` is decoded; any other string is
/// used as UTF-8 bytes; a binary secret is used as is.
pub async fn load_hmac_key(client: &Client, secret_id: &str) -> Result<Vec<u8>, String> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| AwsCallError::from_sdk("GetSecretValue", secret_id, &e).to_string())?;
    if let Some(s) = out.secret_string() {
        return key_from_string(s).map_err(|e| format!("secret {secret_id}: {e}"));
    }
    if let Some(b) = out.secret_binary() {
        return Ok(b.as_ref().to_vec());
    }
    Err(format!(
        "secret {secret_id} has neither a string nor a binary value"
    ))
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
