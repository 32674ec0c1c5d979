//! A Confluent Schema Registry (or one speaking its REST API): a schema by its id,
//! `GET /schemas/ids/{id}`, answered `{"schema": "...", "schemaType": "AVRO"}` (the type is
//! left out for Avro) or 404 with error code 40403. Basic auth when configured (the secret read
//! at cold start). Plain HTTP over TCP, as the suite's other REST clients
//! (`streamops_shared::http`): a registry reached over TLS is not supported yet.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use streamops_shared::http::{parse_endpoint, parse_response};
use streamops_shared::{AwsCallError, ErrorClass};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::ports::{RegistrySchema, SchemaId, SchemaRegistry, SecretValue};

/// The registry's credentials from their secret: `user:password` as text, or a JSON object
/// with `username` and `password` (as Secrets Manager's console stores a key-value secret).
pub fn credentials(secret: &SecretValue) -> Result<String, String> {
    let SecretValue::Text(text) = secret else {
        return Err(
            "the secret has no text value (user:password or {\"username\", \"password\"})".into(),
        );
    };
    if let Ok(serde_json::Value::Object(m)) = serde_json::from_str(text) {
        return match (
            m.get("username").and_then(|v| v.as_str()),
            m.get("password").and_then(|v| v.as_str()),
        ) {
            (Some(u), Some(p)) => Ok(format!("{u}:{p}")),
            _ => Err("the secret's JSON has no string username and password".into()),
        };
    }
    match text.split_once(':') {
        Some((u, _)) if !u.is_empty() => Ok(text.clone()),
        _ => Err("the secret is not user:password".into()),
    }
}

const OPERATION: &str = "GetSchemaById";
const TIMEOUT: Duration = Duration::from_secs(5);
const MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;

pub struct ConfluentRegistry {
    url: String,
    /// `Basic base64(user:password)`, when the registry wants credentials.
    authorization: Option<String>,
}

#[derive(Deserialize)]
struct SchemaById {
    schema: String,
    #[serde(rename = "schemaType", default)]
    schema_type: Option<String>,
}

impl ConfluentRegistry {
    /// `url` is `http://host:port` (checked by the configuration); `credentials` is
    /// `user:password`.
    pub fn new(url: &str, credentials: Option<&str>) -> Self {
        Self {
            url: url.trim_end_matches('/').to_string(),
            authorization: credentials.map(|c| format!("Basic {}", STANDARD.encode(c))),
        }
    }

    fn error(&self, id: u32, class: ErrorClass, message: String) -> AwsCallError {
        AwsCallError {
            operation: OPERATION,
            resource: format!("{}/schemas/ids/{id}", self.url),
            class,
            code: None,
            message,
        }
    }

    /// One GET, the raw response (status and body).
    async fn get(&self, path: &str) -> Result<(u16, Vec<u8>), String> {
        let (host, port) = parse_endpoint(&self.url)?;
        let mut head = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/vnd.schemaregistry.v1+json, application/json\r\nConnection: close\r\n"
        );
        if let Some(auth) = &self.authorization {
            head.push_str(&format!("Authorization: {auth}\r\n"));
        }
        head.push_str("\r\n");
        let exchange = async {
            let mut stream = TcpStream::connect((host.as_str(), port))
                .await
                .map_err(|e| format!("connect {host}:{port}: {e}"))?;
            stream
                .write_all(head.as_bytes())
                .await
                .map_err(|e| format!("send: {e}"))?;
            let mut raw = Vec::new();
            stream
                .take(MAX_RESPONSE_BYTES)
                .read_to_end(&mut raw)
                .await
                .map_err(|e| format!("read: {e}"))?;
            Ok::<_, String>(raw)
        };
        let raw = tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| format!("no answer within {TIMEOUT:?}"))??;
        parse_response(&raw)
    }
}

impl SchemaRegistry for ConfluentRegistry {
    fn name(&self) -> &str {
        "confluent-schema-registry"
    }

    async fn schema(&self, id: SchemaId) -> Result<Option<RegistrySchema>, AwsCallError> {
        // A Glue id cannot be in this registry (the format decides the header; not reachable).
        let SchemaId::Confluent(id) = id else {
            return Ok(None);
        };
        let (status, body) = self
            .get(&format!("/schemas/ids/{id}"))
            .await
            .map_err(|e| self.error(id, ErrorClass::Retryable, e))?;
        match status {
            200 => {
                let answer: SchemaById = serde_json::from_slice(&body).map_err(|e| {
                    self.error(
                        id,
                        ErrorClass::Retryable,
                        format!("answer is not a schema: {e}"),
                    )
                })?;
                Ok(Some(RegistrySchema {
                    data_format: answer.schema_type.unwrap_or_else(|| "AVRO".into()),
                    definition: answer.schema,
                }))
            }
            // 40403: "Schema not found" (the id was never registered, or was deleted).
            404 => Ok(None),
            other => {
                let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
                let class = match other {
                    401 | 403 => ErrorClass::Permanent,
                    _ => ErrorClass::Retryable,
                };
                Err(self.error(id, class, format!("HTTP {other}: {text}")))
            }
        }
    }
}
