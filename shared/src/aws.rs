//! One `aws_config` load per cold start, and cheap clients built from it.
//!
//! Endpoints come only from the standard SDK settings: `AWS_ENDPOINT_URL` for every service and
//! `AWS_ENDPOINT_URL_<SERVICE>` (e.g. `AWS_ENDPOINT_URL_DYNAMODB`) for one. Nothing here knows
//! whether it talks to AWS or to a local moto server.

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig, timeout::TimeoutConfig};

/// Connect and per-attempt timeouts sized for Lambda: a hung connection must fail fast enough
/// that the SDK's standard retry (3 attempts, exponential backoff with jitter) still fits in
/// the invocation. Override the attempt count with the standard `AWS_MAX_ATTEMPTS`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Loads region, credentials and endpoint overrides from the environment, once.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
        .load()
        .await
}

pub fn dynamodb_client(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(sdk)
}

/// S3 client. `force_path_style` comes from the `S3_FORCE_PATH_STYLE` setting: S3-compatible
/// endpoints such as moto cannot serve virtual-hosted bucket names, AWS itself does not need it.
#[cfg(feature = "s3")]
pub fn s3_client(sdk: &SdkConfig, force_path_style: bool) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(force_path_style)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}
