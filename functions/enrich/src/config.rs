//! The enrich function's configuration, read once at cold start.

use std::str::FromStr;
use std::time::Duration;

use streamops_shared::{ConfigError, EnvReader};

use crate::spec::{DEFAULT_SPEC, EnrichmentSpec};
use crate::values::{ValueConfig, read_value_config};

/// How MSK batches report records that could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MskFailureMode {
    /// Return `batchItemFailures` (needs `ReportBatchItemFailures` on a provisioned-mode Kafka
    /// event source mapping; without it Lambda would ignore the list and lose the records).
    Partial,
    /// Fail the invocation so Lambda retries the whole batch; the ledger skips what was done.
    FailBatch,
}

impl FromStr for MskFailureMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "partial" => Ok(Self::Partial),
            "fail-batch" => Ok(Self::FailBatch),
            other => Err(format!("unknown mode {other:?}")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct EnrichConfig {
    /// `ENRICH_OUTPUT_STREAM`: name of the enriched Kinesis stream.
    pub output_stream: String,
    /// `ENRICH_QUARANTINE_BUCKET` and `ENRICH_QUARANTINE_PREFIX` (default `quarantine/`).
    pub quarantine_bucket: String,
    pub quarantine_prefix: String,
    /// `ENRICH_LEDGER_TABLE`: per-shard delivery ledger.
    pub ledger_table: String,
    /// `ENRICH_LEDGER_TTL_DAYS` (default 8): a ledger outlives the stream's retention.
    pub ledger_ttl: Duration,
    /// `ENRICH_REFERENCE_TABLE`: required when the spec joins reference data.
    pub reference_table: Option<String>,
    /// `ENRICH_REFERENCE_CACHE_SECONDS` (default 300) and `ENRICH_REFERENCE_CACHE_MAX_ENTRIES` (default 100000).
    pub reference_cache_ttl: Duration,
    pub reference_cache_max_entries: usize,
    /// `ENRICH_PII_KEY_SECRET_ARN`: Secrets Manager secret holding the HMAC key (required for hmac rules).
    pub pii_key_secret: Option<String>,
    /// `ENRICH_SPEC_PATH`: spec file; the shipped `specs/clickstream.json` when unset.
    pub spec: EnrichmentSpec,
    /// `ENRICH_MSK_FAILURE_MODE`: `fail-batch` (default) or `partial`.
    pub msk_failure_mode: MskFailureMode,
    /// `ENRICH_DEADLINE_MARGIN_MS` (default 3000): stop retrying this long before the deadline.
    pub deadline_margin: Duration,
    /// `S3_FORCE_PATH_STYLE` (default false): path-style S3 addressing for S3-compatible endpoints.
    pub s3_force_path_style: bool,
    /// `ENRICH_VALUE_FORMAT` (default `json`) and its schemas: see [`crate::values`].
    pub values: ValueConfig,
}

impl EnrichConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(EnvReader::from_env(), |path| {
            std::fs::read_to_string(path).map_err(|e| e.to_string())
        })
    }

    /// `read_file` is injected so tests need no files.
    pub fn read(
        mut r: EnvReader,
        read_file: impl Fn(&str) -> Result<String, String>,
    ) -> Result<Self, ConfigError> {
        let output_stream = r.required(
            "ENRICH_OUTPUT_STREAM",
            "the name of the enriched Kinesis stream",
        );
        let quarantine_bucket = r.required(
            "ENRICH_QUARANTINE_BUCKET",
            "the S3 bucket for quarantined records",
        );
        let quarantine_prefix = quarantine_prefix(&mut r);
        let ledger_table = r.required(
            "ENRICH_LEDGER_TABLE",
            "the name of the DynamoDB delivery ledger table",
        );
        let ledger_days = ledger_days(&mut r);
        let reference_table = r
            .optional("ENRICH_REFERENCE_TABLE")
            .filter(|t| !t.is_empty());
        let reference_cache_ttl =
            r.seconds_or("ENRICH_REFERENCE_CACHE_SECONDS", Duration::from_secs(300));
        let reference_cache_max_entries = r.parsed_or(
            "ENRICH_REFERENCE_CACHE_MAX_ENTRIES",
            "a number of cache entries",
            100_000usize,
        );
        let pii_key_secret = r
            .optional("ENRICH_PII_KEY_SECRET_ARN")
            .filter(|t| !t.is_empty());
        let spec = read_spec(&mut r, &read_file);
        if let Some(spec) = &spec {
            check_spec_needs(&mut r, spec, &reference_table, &pii_key_secret);
        }
        let msk_failure_mode = r.parsed_or(
            "ENRICH_MSK_FAILURE_MODE",
            "fail-batch or partial",
            MskFailureMode::FailBatch,
        );
        let margin_ms: u64 = r.parsed_or("ENRICH_DEADLINE_MARGIN_MS", "milliseconds", 3000);
        let s3_force_path_style = r.flag_or("S3_FORCE_PATH_STYLE", false);
        let values = read_value_config(&mut r, &read_file);
        let config = EnrichConfig {
            output_stream,
            quarantine_bucket,
            quarantine_prefix,
            ledger_table,
            ledger_ttl: Duration::from_secs(ledger_days * 86_400),
            reference_table,
            reference_cache_ttl,
            reference_cache_max_entries,
            pii_key_secret,
            spec: spec.unwrap_or_else(|| {
                // The spec compiled into the binary; a unit test parses it.
                EnrichmentSpec::parse(DEFAULT_SPEC, "shipped").expect("shipped spec is valid")
            }),
            msk_failure_mode,
            deadline_margin: Duration::from_millis(margin_ms),
            s3_force_path_style,
            values,
        };
        r.finish(config)
    }
}

/// `ENRICH_QUARANTINE_PREFIX`: a key prefix ending in `/` (default `quarantine/`).
fn quarantine_prefix(r: &mut EnvReader) -> String {
    let prefix = r
        .optional("ENRICH_QUARANTINE_PREFIX")
        .unwrap_or_else(|| "quarantine/".into());
    if !prefix.is_empty() && !prefix.ends_with('/') {
        r.invalid(
            "ENRICH_QUARANTINE_PREFIX",
            "an S3 key prefix ending in /",
            &prefix,
            None,
        );
    }
    prefix
}

/// `ENRICH_LEDGER_TTL_DAYS`: 1 or more (default 8).
fn ledger_days(r: &mut EnvReader) -> u64 {
    let days: u64 = r.parsed_or(
        "ENRICH_LEDGER_TTL_DAYS",
        "a whole number of days (1 or more)",
        8,
    );
    if days == 0 {
        r.invalid(
            "ENRICH_LEDGER_TTL_DAYS",
            "a whole number of days (1 or more)",
            "0",
            None,
        );
    }
    days
}

/// `ENRICH_SPEC_PATH`, or the shipped spec; `None` (and the problem noted) when invalid.
fn read_spec(
    r: &mut EnvReader,
    read_file: impl Fn(&str) -> Result<String, String>,
) -> Option<EnrichmentSpec> {
    let spec_path = r.optional("ENRICH_SPEC_PATH").filter(|p| !p.is_empty());
    let spec = match &spec_path {
        None => EnrichmentSpec::parse(DEFAULT_SPEC, "specs/clickstream.json"),
        Some(path) => read_file(path)
            .map_err(|e| format!("cannot read {path}: {e}"))
            .and_then(|text| EnrichmentSpec::parse(&text, path)),
    };
    match spec {
        Ok(spec) => Some(spec),
        Err(e) => {
            r.invalid(
                "ENRICH_SPEC_PATH",
                "a valid enrichment spec file",
                spec_path.as_deref().unwrap_or("(shipped spec)"),
                Some(e),
            );
            None
        }
    }
}

/// What the spec needs configured: the reference table it joins, the key its hmac rules use.
fn check_spec_needs(
    r: &mut EnvReader,
    spec: &EnrichmentSpec,
    reference_table: &Option<String>,
    pii_key_secret: &Option<String>,
) {
    if spec.reference.is_some() && reference_table.is_none() {
        r.invalid(
            "ENRICH_REFERENCE_TABLE",
            "a DynamoDB table name",
            "",
            Some(format!("spec {} joins reference data", spec.name)),
        );
    }
    if spec.needs_hmac_key() && pii_key_secret.is_none() {
        r.invalid(
            "ENRICH_PII_KEY_SECRET_ARN",
            "a Secrets Manager secret ARN or name",
            "",
            Some(format!("spec {} has hmac PII rules", spec.name)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(pairs: &[(&str, &str)]) -> Result<EnrichConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        EnrichConfig::read(EnvReader::from_map(map), |p| {
            match p {
            "/opt/spec.json" => Ok(r#"{"name": "x", "event_time": {"field": "ts", "formats": ["rfc3339"]}, "partition_key": "id"}"#.into()),
            "/opt/bad.json" => Ok(r#"{"name": "x"}"#.into()),
            _ => Err("No such file or directory".into()),
        }
        })
    }

    const BASE: &[(&str, &str)] = &[
        ("ENRICH_OUTPUT_STREAM", "enriched"),
        ("ENRICH_QUARANTINE_BUCKET", "q"),
        ("ENRICH_LEDGER_TABLE", "ledger"),
        ("ENRICH_REFERENCE_TABLE", "ref"),
        (
            "ENRICH_PII_KEY_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:1:secret:k",
        ),
    ];

    #[test]
    fn defaults() {
        let c = read(BASE).unwrap();
        assert_eq!(c.spec.name, "clickstream-v1");
        assert_eq!(c.quarantine_prefix, "quarantine/");
        assert_eq!(c.msk_failure_mode, MskFailureMode::FailBatch);
        assert_eq!(c.reference_cache_ttl, Duration::from_secs(300));
        assert!(!c.s3_force_path_style);
    }

    #[test]
    fn spec_file_and_its_errors() {
        let mut pairs = BASE.to_vec();
        pairs.push(("ENRICH_SPEC_PATH", "/opt/spec.json"));
        assert_eq!(read(&pairs).unwrap().spec.partition_key, "id");
        pairs.pop();
        pairs.push(("ENRICH_SPEC_PATH", "/opt/bad.json"));
        let e = read(&pairs).unwrap_err().to_string();
        assert!(
            e.contains("ENRICH_SPEC_PATH") && e.contains("missing field"),
            "{e}"
        );
        pairs.pop();
        pairs.push(("ENRICH_SPEC_PATH", "/nope.json"));
        assert!(
            read(&pairs)
                .unwrap_err()
                .to_string()
                .contains("cannot read /nope.json")
        );
    }

    #[test]
    fn the_shipped_spec_needs_its_table_and_key() {
        let e = read(&[
            ("ENRICH_MSK_FAILURE_MODE", "sometimes"),
            ("ENRICH_QUARANTINE_PREFIX", "q"),
        ])
        .unwrap_err()
        .to_string();
        for v in [
            "ENRICH_OUTPUT_STREAM",
            "ENRICH_QUARANTINE_BUCKET",
            "ENRICH_LEDGER_TABLE",
            "ENRICH_REFERENCE_TABLE",
            "ENRICH_PII_KEY_SECRET_ARN",
            "ENRICH_MSK_FAILURE_MODE",
            "ENRICH_QUARANTINE_PREFIX",
        ] {
            assert!(e.contains(v), "{v} missing from: {e}");
        }
    }
}
