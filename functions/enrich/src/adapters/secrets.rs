//! The PII key's secret on Secrets Manager.

use aws_sdk_secretsmanager::Client;
use streamops_shared::AwsCallError;

use crate::ports::{SecretSource, SecretValue};

pub struct SecretsManager {
    client: Client,
}

impl SecretsManager {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

impl SecretSource for SecretsManager {
    async fn secret_value(&self, secret_id: &str) -> Result<SecretValue, AwsCallError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("GetSecretValue", secret_id, &e))?;
        if let Some(s) = out.secret_string() {
            return Ok(SecretValue::Text(s.to_string()));
        }
        Ok(match out.secret_binary() {
            Some(b) => SecretValue::Binary(b.as_ref().to_vec()),
            None => SecretValue::Empty,
        })
    }
}
