//! Structured JSON logs, one object per line, each carrying the Lambda request id.
//!
//! lambda_runtime opens a span named "Lambda runtime invoke" with `requestId` (and
//! `xrayTraceId`) around every invocation. Our formatter lifts the fields of every enclosing
//! span to the top level of the log line, so `requestId` is a plain top-level key that
//! CloudWatch Logs Insights can filter on, however deep the span a line is logged from.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Installs the JSON subscriber. The level comes from `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced
/// logging controls) or `RUST_LOG`, default `info`. Safe to call twice (the second is a no-op).
pub fn init_logging() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_string())
        .to_ascii_lowercase();
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info")))
        .fmt_fields(JsonFields::new())
        .event_format(LambdaJsonFormat { function })
        .with_writer(std::io::stdout)
        .try_init();
}

/// The line format: `timestamp`, `level`, `target`, `message`, the event's fields, the fields
/// of every enclosing span (so `requestId`), and `function`.
pub struct LambdaJsonFormat {
    pub function: Option<String>,
}

impl<S, N> FormatEvent<S, N> for LambdaJsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        );
        line.insert(
            "level".into(),
            Value::String(event.metadata().level().to_string()),
        );
        line.insert(
            "target".into(),
            Value::String(event.metadata().target().to_string()),
        );
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>() {
                    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(fields.as_str()) {
                        line.extend(map);
                    }
                }
            }
        }
        event.record(&mut JsonVisitor(&mut line));
        if let Some(function) = &self.function {
            line.insert("function".into(), Value::String(function.clone()));
        }
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().into(), Value::String(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(
            field.name().into(),
            Value::String(crate::error::render_chain(value)),
        );
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn lines_are_json_with_request_id_from_the_invoke_span() {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(JsonFields::new())
            .event_format(LambdaJsonFormat {
                function: Some("alerts".into()),
            })
            .with_writer(capture.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let invoke = tracing::info_span!("Lambda runtime invoke", requestId = "req-123");
            let _g = invoke.enter();
            let inner = tracing::info_span!("publish", topic = "alerts");
            let _i = inner.enter();
            tracing::info!(fingerprint = "abc", count = 3, "published alert");
        });
        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["requestId"], "req-123");
        assert_eq!(line["topic"], "alerts");
        assert_eq!(line["message"], "published alert");
        assert_eq!(line["fingerprint"], "abc");
        assert_eq!(line["count"], 3);
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["function"], "alerts");
    }
}
