//! Lambda destination failures ("Lambda Function Invocation Result - Failure").

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::{LAMBDA_FAILURE_DETAIL_TYPE, NormalizeOptions, runbook_for, truncate};
use crate::model::{Alert, AlertKind, Severity, fingerprint};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LambdaFailureDetail {
    request_context: LambdaRequestContext,
    #[serde(default)]
    response_context: Option<Value>,
    #[serde(default)]
    response_payload: Option<Value>,
    #[serde(default)]
    timestamp: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LambdaRequestContext {
    request_id: String,
    function_arn: String,
    #[serde(default)]
    condition: Option<String>,
    #[serde(default)]
    approximate_invoke_count: Option<u64>,
}

pub(super) fn from_lambda_failure(
    event: &EventBridgeEvent<Value>,
    now: DateTime<Utc>,
    opts: &NormalizeOptions,
) -> Result<Alert, String> {
    let d: LambdaFailureDetail =
        serde_json::from_value(event.detail.clone()).map_err(|e| e.to_string())?;
    let (function, region, account) = function_coordinates(&d.request_context.function_arn, event);
    let summary = failure_summary(&d, &function);
    Ok(Alert {
        kind: AlertKind::FunctionFailure,
        severity: Severity::Error,
        title: format!("Lambda {function} invocation failed"),
        summary: truncate(&summary, opts.detail_max_bytes),
        source: "aws.lambda".into(),
        detail_type: LAMBDA_FAILURE_DETAIL_TYPE.into(),
        fingerprint: fingerprint(
            account.as_deref(),
            region.as_deref(),
            "aws.lambda",
            &function,
        ),
        console_url: region.as_deref().map(|r| {
            format!(
                "https://{r}.console.aws.amazon.com/lambda/home?region={r}#/functions/{function}"
            )
        }),
        runbook_url: runbook_for(&function, opts),
        resource: function,
        region,
        account,
        time: d.timestamp.or(event.time).unwrap_or(now),
        state: "FAILURE".into(),
        previous_state: None,
        event_id: event
            .id
            .clone()
            .unwrap_or_else(|| d.request_context.request_id.clone()),
        details: failure_details(&d),
        suppressed_by: None,
        labels: Default::default(),
    })
}

/// The function name, region and account from its ARN
/// (`arn:aws:lambda:region:account:function:name[:qualifier]`), the event's where it has none.
fn function_coordinates(
    arn: &str,
    event: &EventBridgeEvent<Value>,
) -> (String, Option<String>, Option<String>) {
    let parts: Vec<&str> = arn.split(':').collect();
    let function = parts.get(6).copied().unwrap_or(arn).to_string();
    let region = parts
        .get(3)
        .map(|s| s.to_string())
        .or_else(|| event.region.clone());
    let account = parts
        .get(4)
        .map(|s| s.to_string())
        .or_else(|| event.account.clone());
    (function, region, account)
}

/// "Function F failed an asynchronous invocation (condition): ErrorType message".
fn failure_summary(d: &LambdaFailureDetail, function: &str) -> String {
    let payload = |member: &str| {
        d.response_payload
            .as_ref()
            .and_then(|p| p.get(member))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let (error_type, error_message) = (payload("errorType"), payload("errorMessage"));
    let condition = d
        .request_context
        .condition
        .clone()
        .unwrap_or_else(|| "failure".into());
    let mut summary =
        format!("Function {function} failed an asynchronous invocation ({condition})");
    if !error_message.is_empty() || !error_type.is_empty() {
        summary.push_str(format!(": {error_type} {error_message}").trim_end());
    }
    summary
}

fn failure_details(d: &LambdaFailureDetail) -> Vec<(String, String)> {
    let mut details = vec![("request id".into(), d.request_context.request_id.clone())];
    if let Some(n) = d.request_context.approximate_invoke_count {
        details.push(("attempts".into(), n.to_string()));
    }
    if let Some(fe) = d
        .response_context
        .as_ref()
        .and_then(|c| c.get("functionError"))
        .and_then(Value::as_str)
    {
        details.push(("function error".into(), fe.to_string()));
    }
    details
}
