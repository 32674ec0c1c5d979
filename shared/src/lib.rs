//! What two or more streamops functions share. Nothing function-specific lives here.

pub mod alarm;
pub mod aws;
pub mod book_keys;
pub mod config;
pub mod dynamo;
pub mod error;
pub mod flink;
pub mod harness;
pub mod http;
pub mod https;
pub mod invocation;
pub mod lineage;
pub mod logging;
pub mod metrics;
pub mod object_event;
pub mod ops;
pub mod s3key;
#[cfg(feature = "eventbridge")]
pub mod suite_events;
pub mod text;
pub mod window;

pub use config::{ConfigError, EnvReader};
pub use error::{AwsCallError, ErrorClass};
pub use metrics::{Metrics, Unit};

/// The CloudWatch namespace every function's EMF metrics go to.
pub const METRICS_NAMESPACE: &str = "streamops";
