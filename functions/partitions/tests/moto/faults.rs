//! Faults moto cannot produce (a FAILED query, a query re-queued after RUNNING, a throttled
//! start), injected by an SDK interceptor on the Athena client that rewrites moto's answers.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::json;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

// ------------------------------------------------------------------ fault injection

/// Rewrites Athena answers: scripted GetQueryExecution states, FAILED queries, throttled starts.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// States returned by the next GetQueryExecution calls, in order (then moto's own answer).
    pub script: Arc<Mutex<VecDeque<&'static str>>>,
    /// Every GetQueryExecution answers FAILED while set.
    pub fail_queries: Arc<AtomicBool>,
    /// The next N StartQueryExecution calls answer TooManyRequestsException (and never reach moto).
    pub throttle_starts: Arc<AtomicUsize>,
    /// StartQueryExecution calls answered with throttling so far.
    pub throttled: Arc<AtomicUsize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled(bool);

impl aws_smithy_types::config_bag::Storable for Throttled {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

pub fn operation(cfg: &ConfigBag) -> String {
    cfg.load::<Metadata>()
        .map(|m| m.name().to_string())
        .unwrap_or_default()
}

impl Intercept for Faults {
    fn name(&self) -> &'static str {
        "AthenaFaults"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if operation(cfg) != "StartQueryExecution" {
            return Ok(());
        }
        // Decided per attempt: the SDK's own retry of a throttled attempt goes through here again.
        let throttle = self
            .throttle_starts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        cfg.interceptor_state().store_put(Throttled(throttle));
        if throttle {
            // Send a harmless read instead (same body, which ListWorkGroups ignores), so moto does
            // not record a query that "was throttled".
            context
                .request_mut()
                .headers_mut()
                .insert("x-amz-target", "AmazonAthena.ListWorkGroups");
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = operation(cfg);
        if op == "StartQueryExecution" && cfg.load::<Throttled>() == Some(&Throttled(true)) {
            self.throttled.fetch_add(1, Ordering::SeqCst);
            let mut resp = Response::new(
                StatusCode::try_from(400u16).unwrap(),
                SdkBody::from(
                    r#"{"__type":"TooManyRequestsException","Message":"You have exceeded the limit for the number of queries you can run concurrently."}"#,
                ),
            );
            resp.headers_mut()
                .insert("content-type", "application/x-amz-json-1.1");
            *context.response_mut() = resp;
            return Ok(());
        }
        if op != "GetQueryExecution" {
            return Ok(());
        }
        let scripted = self.script.lock().unwrap().pop_front();
        let state = match scripted {
            Some(s) => s,
            None if self.fail_queries.load(Ordering::SeqCst) => "FAILED",
            None => return Ok(()),
        };
        let mut status = json!({"State": state, "SubmissionDateTime": 1795428000.0});
        if state == "FAILED" {
            status["StateChangeReason"] = json!(
                "FAILED: Execution Error, return code 1 from org.apache.hadoop.hive.ql.exec.DDLTask (injected)"
            );
            status["AthenaError"] = json!({"ErrorCategory": 2, "ErrorType": 1006, "Retryable": false, "ErrorMessage": "injected failure"});
        }
        let body = json!({"QueryExecution": {"QueryExecutionId": "injected", "Status": status}});
        let mut resp = Response::new(
            StatusCode::try_from(200u16).unwrap(),
            SdkBody::from(body.to_string()),
        );
        resp.headers_mut()
            .insert("content-type", "application/x-amz-json-1.1");
        *context.response_mut() = resp;
        Ok(())
    }
}
