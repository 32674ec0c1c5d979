//! The PII key's secret on Secrets Manager.

use aws_sdk_secretsmanager::Client;
use streamops_shared::AwsCallError;
use streamops_shared::aws::LazyClient;

use crate::ports::{SecretSource, SecretValue};

pub struct SecretsManager {
    client: LazyClient<Client>,
}

impl SecretsManager {
    pub fn new(client: impl Into<LazyClient<Client>>) -> Self {
        Self {
            client: client.into(),
        }
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
