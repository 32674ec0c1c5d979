//! Error taxonomy: is a failure worth retrying, or will it fail the same way every time?
//!
//! Retryable: throttling, service-side 5xx, timeouts and connection failures. The caller
//! retries (within the invocation's remaining time) or reports the item so Lambda redelivers it.
//! Permanent: bad input, validation, missing resources, access denied. The caller quarantines or
//! reports it once with context; retrying would only burn time and money.

use std::fmt;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorClass {
    Retryable,
    Permanent,
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorClass::Retryable => "retryable",
            ErrorClass::Permanent => "permanent",
        })
    }
}

/// Service error codes that mean "slow down" or "try again" across the services we call.
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "SlowDown",
    "TransactionInProgressException",
    "InternalServerError",
    "InternalServerException",
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "KMSThrottlingException",
    "KMSInternalException",
];

/// Classifies a service error code (e.g. `ThrottlingException`) and HTTP status.
pub fn classify_code(code: Option<&str>, http_status: Option<u16>) -> ErrorClass {
    if let Some(code) = code {
        if RETRYABLE_CODES.contains(&code) {
            return ErrorClass::Retryable;
        }
    }
    match http_status {
        Some(429) => ErrorClass::Retryable,
        Some(s) if s >= 500 => ErrorClass::Retryable,
        _ => ErrorClass::Permanent,
    }
}

/// Classifies any AWS SDK error.
pub fn classify_sdk_error<E: ProvideErrorMetadata>(err: &SdkError<E, Response>) -> ErrorClass {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ErrorClass::Retryable
        }
        SdkError::ServiceError(service) => {
            classify_code(service.err().code(), Some(service.raw().status().as_u16()))
        }
        // Construction failures are our own bug (a missing required field): never retryable.
        _ => ErrorClass::Permanent,
    }
}

/// An AWS call that failed, with what was being done and to what.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} on {resource} failed ({class}{}): {message}", .code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
pub struct AwsCallError {
    pub operation: &'static str,
    pub resource: String,
    pub class: ErrorClass,
    pub code: Option<String>,
    pub message: String,
}

impl AwsCallError {
    pub fn from_sdk<E>(
        operation: &'static str,
        resource: impl Into<String>,
        err: &SdkError<E, Response>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let (code, message) = match err {
            SdkError::ServiceError(service) => (
                service.err().code().map(str::to_string),
                service
                    .err()
                    .message()
                    .map(str::to_string)
                    .unwrap_or_else(|| service.err().to_string()),
            ),
            other => (None, render_chain(other)),
        };
        Self {
            operation,
            resource: resource.into(),
            class: classify_sdk_error(err),
            code,
            message,
        }
    }

    pub fn is_retryable(&self) -> bool {
        self.class == ErrorClass::Retryable
    }
}

/// The error and its sources on one line: SDK errors hide the useful part (connection refused,
/// timeout) a few levels down.
pub fn render_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_5xx_are_retryable() {
        assert_eq!(
            classify_code(Some("ThrottlingException"), Some(400)),
            ErrorClass::Retryable
        );
        assert_eq!(
            classify_code(Some("ProvisionedThroughputExceededException"), Some(400)),
            ErrorClass::Retryable
        );
        assert_eq!(classify_code(None, Some(503)), ErrorClass::Retryable);
        assert_eq!(classify_code(None, Some(429)), ErrorClass::Retryable);
    }

    #[test]
    fn validation_and_missing_resources_are_permanent() {
        assert_eq!(
            classify_code(Some("ValidationException"), Some(400)),
            ErrorClass::Permanent
        );
        assert_eq!(
            classify_code(Some("ResourceNotFoundException"), Some(400)),
            ErrorClass::Permanent
        );
        assert_eq!(
            classify_code(Some("AccessDeniedException"), Some(403)),
            ErrorClass::Permanent
        );
        assert_eq!(classify_code(None, None), ErrorClass::Permanent);
    }

    #[test]
    fn call_error_names_operation_resource_and_class() {
        let e = AwsCallError {
            operation: "PutItem",
            resource: "table alerts-state".into(),
            class: ErrorClass::Retryable,
            code: Some("ThrottlingException".into()),
            message: "Rate exceeded".into(),
        };
        assert_eq!(
            e.to_string(),
            "PutItem on table alerts-state failed (retryable, ThrottlingException): Rate exceeded"
        );
    }
}
