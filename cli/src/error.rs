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
}

impl CliError {
    /// 1: the function's error; 2: the arguments (as clap's own usage errors); 3: the call;
    /// 4: declined.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Function { .. } => 1,
            CliError::Invalid(_) => 2,
            CliError::Call(_) => 3,
            CliError::Declined => 4,
        }
    }
}
