//! PutRecords failures moto cannot produce, injected by an SDK interceptor: the chosen entries
//! are removed from the request before it is sent (so moto never stores them) and reported back
//! as throttled in the response, exactly what a partially failed PutRecords looks like.

use aws_sdk_kinesis::operation::put_records::PutRecordsOutput;
use aws_sdk_kinesis::types::PutRecordsResultEntry;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextMut, Output,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// Fails, on every PutRecords call, the entries whose input `event_id` is in `fail`.
#[derive(Debug, Clone, Default)]
pub struct PutRecordsFaults {
    pub fail: Arc<Mutex<HashSet<String>>>,
    /// Request positions removed from the call in flight.
    pub removed: Arc<Mutex<Vec<usize>>>,
    pub injected: Arc<Mutex<usize>>,
}

impl PutRecordsFaults {
    pub fn set(&self, ids: &[&str]) {
        *self.fail.lock().unwrap() = ids.iter().map(|s| s.to_string()).collect();
    }
}

impl Intercept for PutRecordsFaults {
    fn name(&self) -> &'static str {
        "PutRecordsFaults"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let Some(body) = request.body().bytes() else {
            return Ok(());
        };
        let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
            return Ok(());
        };
        let Some(entries) = v.get("Records").and_then(Value::as_array).cloned() else {
            return Ok(());
        };
        let fail = self.fail.lock().unwrap().clone();
        let mut removed = Vec::new();
        let mut kept = Vec::new();
        for (i, e) in entries.into_iter().enumerate() {
            let data = STANDARD
                .decode(e["Data"].as_str().unwrap_or_default())
                .unwrap_or_default();
            let id = serde_json::from_slice::<Value>(&data)
                .ok()
                .and_then(|d| d["event_id"].as_str().map(str::to_string));
            if id.is_some_and(|id| fail.contains(&id)) {
                removed.push(i);
            } else {
                kept.push(e);
            }
        }
        *self.injected.lock().unwrap() += removed.len();
        *self.removed.lock().unwrap() = removed;
        v["Records"] = Value::Array(kept);
        let bytes = serde_json::to_vec(&v)?;
        request
            .headers_mut()
            .insert("content-length", bytes.len().to_string());
        *request.body_mut() = SdkBody::from(bytes);
        Ok(())
    }

    fn modify_before_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let removed = std::mem::take(&mut *self.removed.lock().unwrap());
        if removed.is_empty() {
            return Ok(());
        }
        let Some(Ok(output)) = context.output_or_error_mut() else {
            return Ok(());
        };
        let Some(real) = output.downcast_ref::<PutRecordsOutput>() else {
            return Ok(());
        };
        let mut answered = real.records().to_vec().into_iter();
        let total = answered.len() + removed.len();
        let mut records = Vec::with_capacity(total);
        for i in 0..total {
            if removed.contains(&i) {
                records.push(
                    PutRecordsResultEntry::builder()
                        .error_code("ProvisionedThroughputExceededException")
                        .error_message("Rate exceeded for shard (injected by the test)")
                        .build(),
                );
            } else {
                records.push(answered.next().expect("moto answered every kept entry"));
            }
        }
        let rewritten = PutRecordsOutput::builder()
            .failed_record_count(real.failed_record_count().unwrap_or(0) + removed.len() as i32)
            .set_records(Some(records))
            .build()?;
        *output = Output::erase(rewritten);
        Ok(())
    }
}
