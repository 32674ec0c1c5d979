//! Why a run failed, and the exit code that says so to a script.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CliError {
    /// The arguments: nothing was sent.
    #[error("{0}")]
    Invalid(String),
    /// The function answered with an error (Lambda `FunctionError`): its `errorType` and
    /// `errorMessage` (`Retryable.*` may succeed when run again, `Permanent.*` will not).
    #[error("{error_type}: {message}")]
    Function { error_type: String, message: String },
    /// The call could not be made or answered (credentials, network, no such stack or function).
    #[error("{0}")]
    Call(String),
    /// The operator said no at the prompt: nothing was sent.
    #[error("not confirmed; nothing was sent")]
    Declined,
    /// The command names a target or table the deployed configuration does not list: nothing
    /// was sent.
    #[error("unknown {what} {name:?}; known: {} (from {from}); nothing was sent", known.join(", "))]
    Unknown {
        what: &'static str,
        name: String,
        known: Vec<String>,
        from: String,
    },
    /// A rescale the CLI followed failed or was left stranded (the function has audited it).
    #[error("{0}")]
    RescaleFailed(String),
    /// A rescale the CLI followed was still running when the wait ran out: it may still finish.
    #[error("{0}")]
    RescaleTimedOut(String),
}

impl CliError {
    /// 1: the function's error; 2: the arguments (as clap's own usage errors); 3: the call;
    /// 4: declined; 5: a name the configuration does not know; 6: a followed rescale failed;
    /// 7: a followed rescale was still running at the timeout.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Function { .. } => 1,
            CliError::Invalid(_) => 2,
            CliError::Call(_) => 3,
            CliError::Declined => 4,
            CliError::Unknown { .. } => 5,
            CliError::RescaleFailed(_) => 6,
            CliError::RescaleTimedOut(_) => 7,
        }
    }
}

/// An error and its sources, each once, in a line.
pub(crate) fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let said = err.to_string();
        if !words.iter().any(|w| w.contains(&said)) {
            words.push(said);
        }
        next = err.source();
    }
    words.join(": ")
}

/// What an AWS call's error says: the service's own words when it answered, else the error's
/// causes. Not `DisplayErrorContext`: for an answer that did not parse it holds the whole
/// response (a function's variables and all), which a message should not print.
pub(crate) fn service_said<E>(e: &aws_sdk_lambda::error::SdkError<E>) -> String
where
    E: aws_sdk_lambda::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    e.as_service_error()
        .and_then(|s| s.message())
        .map(str::to_string)
        .unwrap_or_else(|| causes(e))
}
