//! One `aws_config` load per cold start, and cheap clients built from it.
//!
//! Endpoints come only from the standard SDK settings: `AWS_ENDPOINT_URL` for every service and
//! `AWS_ENDPOINT_URL_<SERVICE>` (e.g. `AWS_ENDPOINT_URL_DYNAMODB`) for one. Nothing here knows
//! whether it talks to AWS or to a local moto server.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig, timeout::TimeoutConfig};
use aws_credential_types::Credentials;

use crate::https::{TrustRoots, shared_https_client};

/// Connect and per-attempt timeouts sized for Lambda: a hung connection must fail fast enough
/// that the SDK's standard retry (3 attempts, exponential backoff with jitter) still fits in
/// the invocation. Override the attempt count with the standard `AWS_MAX_ATTEMPTS`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Loads region, credentials and endpoint overrides from the environment, once.
///
/// Cold start (`make coldstart`): most of a function's init time above a bare runtime's went
/// to TLS set-up. Every SDK client built its own default HTTP client, and each one, when the
/// client was constructed, built a connector and parsed the whole trust store (on Debian, the
/// bundle and every file of `/etc/ssl/certs`); the default credential and region chains built
/// IMDS and container clients that did the same. Now one HTTP client serves every SDK client
/// of the process ([`shared_https_client`]) and sets up TLS once, on the first request, from
/// trust anchors compiled in (nothing read from disk, `STREAMOPS_TLS_ROOTS=native` for the OS
/// store); and
/// Lambda's own environment gives the region and the role's credentials (`AWS_REGION`,
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) directly, without the
/// chains. Elsewhere (a developer's profile, SSO), the default chains as usual.
pub async fn load_sdk_config() -> SdkConfig {
    load_sdk_config_from(&|name| std::env::var(name).ok()).await
}

/// [`load_sdk_config`] reading the variables through `var` (a test's own environment).
pub async fn load_sdk_config_from(var: &dyn Fn(&str) -> Option<String>) -> SdkConfig {
    let roots = TrustRoots::from_setting(var("STREAMOPS_TLS_ROOTS").as_deref());
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(shared_https_client(roots))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        );
    let set = |name: &str| var(name).filter(|v| !v.is_empty());
    if let Some(region) = set("AWS_REGION").or_else(|| set("AWS_DEFAULT_REGION")) {
        loader = loader.region(Region::new(region));
    }
    if let (Some(key), Some(secret)) = (set("AWS_ACCESS_KEY_ID"), set("AWS_SECRET_ACCESS_KEY")) {
        let credentials =
            Credentials::new(key, secret, set("AWS_SESSION_TOKEN"), None, "Environment");
        loader = loader.credentials_provider(credentials);
    }
    loader.load().await
}

/// An SDK client built on its first use from the process's SDK configuration, then kept.
///
/// Constructing a client costs 0.1 to 0.3 ms of a cold start (it assembles and validates its
/// runtime components, in code touched for the first time). A function that talks to a service
/// on some invocations only (the scaler reaches Kinesis only for a stream target, enrich writes
/// to S3 only to quarantine) builds that client when an invocation first needs it, never at
/// init. Derefs to the client; `From<C>` wraps one built already (tests, callers that have one).
pub struct LazyClient<C> {
    build: Option<Arc<dyn Fn() -> C + Send + Sync>>,
    client: OnceLock<C>,
}

impl<C> LazyClient<C> {
    /// `build` is the client's constructor, e.g. `Client::new`, called once, on first use.
    pub fn new(sdk: &SdkConfig, build: impl Fn(&SdkConfig) -> C + Send + Sync + 'static) -> Self {
        let sdk = sdk.clone();
        Self {
            build: Some(Arc::new(move || build(&sdk))),
            client: OnceLock::new(),
        }
    }

    /// The client, built now if this is its first use.
    pub fn get(&self) -> &C {
        self.client.get_or_init(|| match &self.build {
            Some(build) => build(),
            None => unreachable!("a LazyClient without a builder is made from a built client"),
        })
    }
}

impl<C> From<C> for LazyClient<C> {
    fn from(client: C) -> Self {
        Self {
            build: None,
            client: OnceLock::from(client),
        }
    }
}

impl<C: Clone> Clone for LazyClient<C> {
    fn clone(&self) -> Self {
        Self {
            build: self.build.clone(),
            client: self.client.clone(),
        }
    }
}

impl<C> std::ops::Deref for LazyClient<C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.get()
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::provider::ProvideCredentials;
    use std::collections::HashMap;

    static BUILT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    fn counted_build(sdk: &SdkConfig) -> Option<String> {
        BUILT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        sdk.region().map(|r| r.to_string())
    }

    #[test]
    fn a_lazy_client_is_built_on_first_use_and_only_once() {
        let sdk = SdkConfig::builder()
            .region(Region::new("eu-west-1"))
            .build();
        let lazy = LazyClient::new(&sdk, counted_build);
        assert_eq!(
            BUILT.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "not at construction"
        );
        assert_eq!(
            lazy.as_deref(),
            Some("eu-west-1"),
            "built from the configuration given"
        );
        assert_eq!(lazy.get().as_deref(), Some("eu-west-1"));
        assert_eq!(BUILT.load(std::sync::atomic::Ordering::SeqCst), 1, "once");
        let built: LazyClient<Option<String>> = Some("ready".to_string()).into();
        assert_eq!(
            built.as_deref(),
            Some("ready"),
            "a built client is used as it is"
        );
    }

    /// What Lambda sets is what the clients use, without the default chains.
    #[tokio::test]
    async fn lambdas_environment_gives_the_region_and_the_role_credentials() {
        let env: HashMap<&str, &str> = [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ]
        .into();
        let sdk = load_sdk_config_from(&|n| env.get(n).map(|v| v.to_string())).await;
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
        let creds = sdk
            .credentials_provider()
            .unwrap()
            .provide_credentials()
            .await
            .unwrap();
        assert_eq!(
            (
                creds.access_key_id(),
                creds.secret_access_key(),
                creds.session_token()
            ),
            ("AKIDEXAMPLE", "secret", Some("token"))
        );
        let timeouts = sdk.timeout_config().unwrap();
        assert_eq!(timeouts.connect_timeout(), Some(CONNECT_TIMEOUT));
    }
}
