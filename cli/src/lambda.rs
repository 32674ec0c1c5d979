//! Where the functions are (a deployed stack's outputs, a name given, the local stack's
//! endpoints file) and invoking one with the Lambda Invoke API.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_smithy_types::Blob;
use serde_json::Value;

use crate::args::TargetArgs;
use crate::book::{BookReader, DynamoBook, Presence};
use crate::commands::FunctionKind;
use crate::error::{CliError, service_said};
use crate::known::{ConfigSource, Environment, local_environment};

/// Which deployment the command goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Stack(String),
    Function(String),
    /// The endpoints file of the local stack: binary -> its `cargo lambda watch` URL.
    Local(PathBuf),
}

impl Target {
    pub fn from_args(a: &TargetArgs) -> Result<Self, CliError> {
        match (&a.stack, &a.function_name, &a.local) {
            (Some(s), None, None) => Ok(Target::Stack(s.clone())),
            (None, Some(f), None) => Ok(Target::Function(f.clone())),
            (None, None, Some(l)) => Ok(Target::Local(l.clone())),
            (None, None, None) => Err(CliError::Invalid(
                "say where the functions are: --stack NAME (a deployed stack), --function NAME, or --local FILE (the local stack)".into(),
            )),
            _ => Err(CliError::Invalid(
                "give only one of --stack, --function and --local".into(),
            )),
        }
    }
}

/// Something that answers a function's commands: the Lambda Invoke API, or a fake in tests.
pub trait Invoke {
    /// The function's name, as invoked (the deployed name, or the local binary).
    fn name(&self) -> &str;
    fn invoke(&self, payload: &Value) -> impl Future<Output = Result<Answer, CliError>>;
}

/// One function, ready to invoke.
pub struct Function {
    client: aws_sdk_lambda::Client,
    pub name: String,
    /// Where its configuration is read: Lambda's, or the local stack's environment file.
    config: ConfigFrom,
    /// The checkpoints book's table, for the pipelines it knows.
    book: DynamoBook,
}

enum ConfigFrom {
    /// `GetFunctionConfiguration` on the deployed function.
    Lambda,
    /// `cargo lambda watch` serves no `GetFunctionConfiguration`: the environment the local
    /// stack launched the function with, from the file beside its endpoints file.
    Local { endpoints: PathBuf, binary: String },
}

/// What a function answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Ok(Value),
    /// Lambda's `FunctionError`, with the payload's `errorType` and `errorMessage`.
    Failed {
        error_type: String,
        message: String,
    },
}

impl Answer {
    /// The answer's value, or the function's error as the CLI reports it.
    pub fn into_result(self) -> Result<Value, CliError> {
        match self {
            Answer::Ok(v) => Ok(v),
            Answer::Failed {
                error_type,
                message,
            } => Err(CliError::Function {
                error_type,
                message,
            }),
        }
    }
}

impl Function {
    /// Finds the function for `kind` on the target and builds its client.
    pub async fn find(target: &Target, kind: FunctionKind) -> Result<Self, CliError> {
        match target {
            Target::Function(name) => {
                let sdk = streamops_shared::aws::load_sdk_config().await;
                let book = DynamoBook(Some(aws_sdk_dynamodb::Client::new(&sdk)));
                Ok(Self::with(
                    &sdk,
                    None,
                    name.clone(),
                    ConfigFrom::Lambda,
                    book,
                ))
            }
            Target::Stack(stack) => {
                let sdk = streamops_shared::aws::load_sdk_config().await;
                let name = stack_function(&sdk, stack, kind).await?;
                let book = DynamoBook(Some(aws_sdk_dynamodb::Client::new(&sdk)));
                Ok(Self::with(&sdk, None, name, ConfigFrom::Lambda, book))
            }
            Target::Local(file) => {
                let endpoint = local_endpoint(file, kind)?;
                // The local stack checks no signature, but the SDK signs: moto's dummy keys
                // and its region when the environment has none.
                let sdk = streamops_shared::aws::load_sdk_config_from(&|n| {
                    std::env::var(n).ok().or_else(|| local_default(n))
                })
                .await;
                let binary = kind.binary().to_string();
                let config = ConfigFrom::Local {
                    endpoints: file.clone(),
                    binary: binary.clone(),
                };
                let book = DynamoBook(local_aws(file).map(|aws| {
                    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
                        .endpoint_url(aws.endpoint_url)
                        .credentials_provider(aws_credential_types::Credentials::new(
                            aws.access_key_id,
                            aws.secret_access_key,
                            None,
                            None,
                            "local stack operator",
                        ));
                    aws_sdk_dynamodb::Client::from_conf(conf.build())
                }));
                Ok(Self::with(&sdk, Some(endpoint), binary, config, book))
            }
        }
    }

    fn with(
        sdk: &SdkConfig,
        endpoint: Option<String>,
        name: String,
        config: ConfigFrom,
        book: DynamoBook,
    ) -> Self {
        // An invocation runs as long as the function does (up to Lambda's 15 minutes), and is
        // not retried: a command that timed out on the way back may have run, and running a
        // backfill or a scale twice is the operator's decision, not the SDK's.
        let mut conf = aws_sdk_lambda::config::Builder::from(sdk)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(16 * 60))
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(1));
        if let Some(url) = endpoint {
            conf = conf.endpoint_url(url);
        }
        Self {
            client: aws_sdk_lambda::Client::from_conf(conf.build()),
            name,
            config,
            book,
        }
    }

    /// The deployed function's environment variables (`GetFunctionConfiguration`); why not
    /// when Lambda refuses (no `lambda:GetFunctionConfiguration`) or cannot decrypt them.
    async fn lambda_environment(&self) -> Result<Environment, String> {
        let out = self
            .client
            .get_function_configuration()
            .function_name(&self.name)
            .send()
            .await
            .map_err(|e| format!("GetFunctionConfiguration: {}", service_said(&e)))?;
        let env = out.environment();
        if let Some(e) = env.and_then(|e| e.error()) {
            return Err(format!(
                "its environment could not be decrypted: {} {}",
                e.error_code().unwrap_or_default(),
                e.message().unwrap_or_default()
            ));
        }
        Ok(env
            .and_then(|e| e.variables())
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }
}

impl ConfigSource for Function {
    async fn environment(&self) -> Result<Environment, String> {
        match &self.config {
            ConfigFrom::Lambda => self.lambda_environment().await,
            ConfigFrom::Local { endpoints, binary } => local_environment(endpoints, binary),
        }
    }
}

impl BookReader for Function {
    async fn pipeline(&self, table: &str, pipeline: &str) -> Result<Presence, String> {
        self.book.pipeline(table, pipeline).await
    }
}

impl Invoke for Function {
    fn name(&self) -> &str {
        &self.name
    }

    async fn invoke(&self, payload: &Value) -> Result<Answer, CliError> {
        let out = self
            .client
            .invoke()
            .function_name(&self.name)
            .payload(Blob::new(payload.to_string()))
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                // `cargo lambda watch` (the local stack) answers a function's error as HTTP 500
                // with the error payload, where Lambda answers 200 with `X-Amz-Function-Error`.
                let raw = e.raw_response().and_then(|r| r.body().bytes());
                if let Some(Answer::Failed {
                    error_type,
                    message,
                }) = raw
                    .and_then(|b| serde_json::from_slice::<Value>(b).ok())
                    .filter(|v| v.get("errorType").is_some())
                    .map(|v| failure("Unhandled", &v))
                {
                    return Ok(Answer::Failed {
                        error_type,
                        message,
                    });
                }
                let e = aws_sdk_lambda::error::DisplayErrorContext(e);
                return Err(CliError::Call(format!("invoking {}: {e}", self.name)));
            }
        };
        let body = out.payload().map(|b| b.as_ref()).unwrap_or_default();
        let value: Value = serde_json::from_slice(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
        Ok(match out.function_error() {
            None => Answer::Ok(value),
            Some(kind) => failure(kind, &value),
        })
    }
}

/// A `FunctionError` answer: the harness's `errorType` (`Retryable.*`, `Permanent.*`) and
/// `errorMessage`, or Lambda's own kind (`Unhandled`) and the raw payload when it has neither.
fn failure(kind: &str, payload: &Value) -> Answer {
    let field = |name: &str| {
        payload
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Answer::Failed {
        error_type: field("errorType").unwrap_or_else(|| kind.to_string()),
        message: field("errorMessage").unwrap_or_else(|| payload.to_string()),
    }
}

fn local_default(name: &str) -> Option<String> {
    match name {
        "AWS_REGION" => Some("us-east-1".into()),
        "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("testing".into()),
        _ => None,
    }
}

/// The function's name from the stack's outputs (template.yaml `Outputs`: `<Name>FunctionName`).
async fn stack_function(
    sdk: &SdkConfig,
    stack: &str,
    kind: FunctionKind,
) -> Result<String, CliError> {
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    let out = cfn
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| {
            // The service's own words when it answered ("Stack with id x does not exist"), the
            // whole chain when it did not (no network, no credentials).
            let said = e
                .as_service_error()
                .and_then(|s| aws_sdk_cloudformation::error::ProvideErrorMetadata::message(s))
                .map(str::to_string);
            let why = said.unwrap_or_else(|| {
                aws_sdk_cloudformation::error::DisplayErrorContext(&e).to_string()
            });
            CliError::Call(format!("describing stack {stack}: {why}"))
        })?;
    let key = kind.stack_output();
    out.stacks()
        .iter()
        .flat_map(|s| s.outputs())
        .find(|o| o.output_key() == Some(key))
        .and_then(|o| o.output_value())
        .map(str::to_string)
        .ok_or_else(|| {
            CliError::Call(format!(
                "stack {stack} has no {key} output (is it a streamops stack, with the {} function enabled?)",
                kind.binary()
            ))
        })
}

/// The function's URL from the local stack's endpoints file.
/// The local stack's AWS (its moto server on 127.0.0.1) and the operator's keys there.
#[derive(serde::Deserialize)]
struct LocalAws {
    endpoint_url: String,
    access_key_id: String,
    secret_access_key: String,
}

/// `moto.json` beside the endpoints file; none if the stack wrote none (or one not on
/// 127.0.0.1), so nothing is ever sent to a default AWS endpoint.
fn local_aws(endpoints: &Path) -> Option<LocalAws> {
    let text = std::fs::read_to_string(endpoints.with_file_name("moto.json")).ok()?;
    let aws: LocalAws = serde_json::from_str(&text).ok()?;
    aws.endpoint_url
        .starts_with("http://127.0.0.1:")
        .then_some(aws)
}

fn local_endpoint(file: &Path, kind: FunctionKind) -> Result<String, CliError> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        CliError::Call(format!(
            "{}: {e} (is the local stack running? `make demo` or the e2e tests write it)",
            file.display()
        ))
    })?;
    let endpoints: BTreeMap<String, String> = serde_json::from_str(&text)
        .map_err(|e| CliError::Call(format!("{} is not an endpoints file: {e}", file.display())))?;
    endpoints.get(kind.binary()).cloned().ok_or_else(|| {
        CliError::Call(format!(
            "the local stack ({}) does not serve {}; it serves: {}",
            file.display(),
            kind.binary(),
            endpoints.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })
}
