//! The partitions function's configuration, read and validated once at cold start.

use std::time::Duration;

use streamops_shared::{ConfigError, EnvReader};

use crate::follow_up::FollowUpSetting;
use crate::sql::MAX_STATEMENT_BYTES;
use crate::table::Tables;

/// How partitions are registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `ALTER TABLE ... ADD IF NOT EXISTS PARTITION ...` through an Athena workgroup.
    Athena,
    /// Glue `BatchCreatePartition` (100 per call): spends no Athena DDL capacity.
    Glue,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "athena" => Ok(Mode::Athena),
            "glue" => Ok(Mode::Glue),
            _ => Err("unknown mode".into()),
        }
    }
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Athena => "athena",
            Mode::Glue => "glue",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PartitionsConfig {
    /// `PARTITIONS_TABLES`: JSON array of tables (see `table::TableSpecInput`).
    pub tables: Tables,
    /// `PARTITIONS_REGISTRY_TABLE`: the DynamoDB registry of registered partitions (hash key `pk`).
    pub registry_table: String,
    /// `PARTITIONS_REGISTRY_TTL_DAYS` (default 35): how long a registered mark is kept. After it
    /// expires the next object of that partition runs one idempotent `ADD IF NOT EXISTS` again.
    pub registry_ttl: Duration,
    /// `PARTITIONS_MODE` (athena | glue, default athena).
    pub mode: Mode,
    /// `PARTITIONS_ATHENA_WORKGROUP` (default primary): the workgroup DDL runs in.
    pub workgroup: String,
    /// `PARTITIONS_ATHENA_OUTPUT_LOCATION` (optional `s3://...`): result location when the
    /// workgroup does not enforce its own.
    pub output_location: Option<String>,
    /// `PARTITIONS_QUERY_TIMEOUT_SECONDS` (default 60): the longest wait for one query, further
    /// capped by the invocation's remaining time.
    pub query_timeout: Duration,
    /// `PARTITIONS_MAX_STATEMENT_BYTES` (default and maximum 262144, Athena's limit).
    pub max_statement_bytes: usize,
    /// `PARTITIONS_REGISTRY_CONCURRENCY` (default 32, 1 to 256): registry writes (claims,
    /// confirms, releases) in flight at once, so a batch naming thousands of hours claims them
    /// within one invocation's budget.
    pub registry_concurrency: usize,
    /// `S3_FORCE_PATH_STYLE` (default false): path-style S3 addressing for S3-compatible endpoints.
    pub s3_force_path_style: bool,
    /// `PARTITIONS_MAINTENANCE_CONCURRENCY` (default 2, 1 to 8): Iceberg maintenance queries in
    /// flight at once across tables (each table runs one at a time); they share the account's
    /// Athena query concurrency with everything else.
    pub maintenance_concurrency: usize,
    /// `PARTITIONS_MAINTENANCE_FOLLOW_UP` (optional JSON, [`FollowUpConfig`]): one-time schedules
    /// that look again at a maintenance query still running when its run ended.
    ///
    /// [`FollowUpConfig`]: crate::follow_up::FollowUpConfig
    pub follow_up: FollowUpSetting,
    /// `AWS_LAMBDA_FUNCTION_NAME` (set by Lambda; default `partitions`): named in maintenance
    /// events, so the alerts rule takes this stack's only.
    pub function_name: String,
}

impl PartitionsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(EnvReader::from_env())
    }

    pub fn read(mut r: EnvReader) -> Result<Self, ConfigError> {
        let tables = read_tables(&mut r);
        let registry_table = r.required(
            "PARTITIONS_REGISTRY_TABLE",
            "the name of the DynamoDB partition registry table",
        );
        // At most 100 years: the TTL becomes seconds and an epoch time, which must not overflow.
        const TTL_DAYS: &str = "a whole number of days (1 or more, at most 36500)";
        let mut ttl_days: u64 = r.parsed_or("PARTITIONS_REGISTRY_TTL_DAYS", TTL_DAYS, 35);
        if !(1..=36_500).contains(&ttl_days) {
            r.invalid(
                "PARTITIONS_REGISTRY_TTL_DAYS",
                TTL_DAYS,
                &ttl_days.to_string(),
                None,
            );
            ttl_days = 35;
        }
        let mode = r.parsed_or("PARTITIONS_MODE", "athena or glue", Mode::Athena);
        let (workgroup, output_location) = read_athena(&mut r);
        let query_timeout =
            r.seconds_or("PARTITIONS_QUERY_TIMEOUT_SECONDS", Duration::from_secs(60));
        let max_statement_bytes = r.parsed_or(
            "PARTITIONS_MAX_STATEMENT_BYTES",
            "a number of bytes between 4096 and 262144",
            MAX_STATEMENT_BYTES,
        );
        if !(4096..=MAX_STATEMENT_BYTES).contains(&max_statement_bytes) {
            r.invalid(
                "PARTITIONS_MAX_STATEMENT_BYTES",
                "a number of bytes between 4096 and 262144",
                &max_statement_bytes.to_string(),
                None,
            );
        }
        const CONCURRENCY: &str = "a whole number from 1 to 256";
        let mut registry_concurrency: usize =
            r.parsed_or("PARTITIONS_REGISTRY_CONCURRENCY", CONCURRENCY, 32);
        if !(1..=256).contains(&registry_concurrency) {
            r.invalid(
                "PARTITIONS_REGISTRY_CONCURRENCY",
                CONCURRENCY,
                &registry_concurrency.to_string(),
                None,
            );
            registry_concurrency = 32;
        }
        let s3_force_path_style = r.flag_or("S3_FORCE_PATH_STYLE", false);
        let maintenance_concurrency = read_maintenance_concurrency(&mut r);
        let follow_up = read_follow_up(&mut r);
        let function_name = r
            .optional("AWS_LAMBDA_FUNCTION_NAME")
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "partitions".into());
        let config = tables.map(|tables| PartitionsConfig {
            tables,
            registry_table,
            registry_ttl: Duration::from_secs(ttl_days * 86_400),
            mode,
            workgroup,
            output_location,
            query_timeout,
            max_statement_bytes,
            registry_concurrency,
            s3_force_path_style,
            maintenance_concurrency,
            follow_up,
            function_name,
        });
        match r.finish(()) {
            // `read_tables` records a problem whenever it returns None, so no problem means
            // the tables were parsed.
            Ok(()) => Ok(config.expect("tables parsed when there is no problem")),
            Err(e) => Err(e),
        }
    }
}

fn read_tables(r: &mut EnvReader) -> Option<Tables> {
    let tables_json = r.required(
        "PARTITIONS_TABLES",
        "a JSON array of tables: [{\"bucket\", \"prefix\", \"database\", \"table\", \"layout\", ...}]",
    );
    if tables_json.is_empty() {
        return None;
    }
    match Tables::from_json(&tables_json) {
        Ok(t) => Some(t),
        Err(problems) => {
            r.invalid(
                "PARTITIONS_TABLES",
                "a valid JSON array of tables",
                &tables_json,
                Some(problems.join("; ")),
            );
            None
        }
    }
}

/// Follow-ups as configured; one the function cannot use is logged and off (see
/// [`FollowUpSetting`]).
fn read_follow_up(r: &mut EnvReader) -> FollowUpSetting {
    let setting =
        FollowUpSetting::from_env_value(r.optional("PARTITIONS_MAINTENANCE_FOLLOW_UP").as_deref());
    if let FollowUpSetting::Unusable(why) = &setting {
        tracing::warn!(problem = %why, "maintenance follow-ups are off");
    }
    setting
}

fn read_maintenance_concurrency(r: &mut EnvReader) -> usize {
    const BOUND: &str = "a whole number from 1 to 8";
    let n: usize = r.parsed_or("PARTITIONS_MAINTENANCE_CONCURRENCY", BOUND, 2);
    if !(1..=8).contains(&n) {
        r.invalid(
            "PARTITIONS_MAINTENANCE_CONCURRENCY",
            BOUND,
            &n.to_string(),
            None,
        );
        return 2;
    }
    n
}

/// The workgroup and the optional result location.
fn read_athena(r: &mut EnvReader) -> (String, Option<String>) {
    let workgroup = r
        .optional("PARTITIONS_ATHENA_WORKGROUP")
        .unwrap_or_else(|| "primary".into());
    let output_location = r.optional("PARTITIONS_ATHENA_OUTPUT_LOCATION");
    if let Some(loc) = &output_location {
        if !loc.starts_with("s3://") {
            r.invalid(
                "PARTITIONS_ATHENA_OUTPUT_LOCATION",
                "an s3://bucket/prefix/ location",
                loc,
                None,
            );
        }
    }
    (workgroup, output_location)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const TABLES: &str = r#"[{"bucket":"data-bucket","prefix":"enriched/","database":"streamops","table":"enriched_events","layout":"firehose"}]"#;

    fn read(pairs: &[(&str, &str)]) -> Result<PartitionsConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        PartitionsConfig::read(EnvReader::from_map(map))
    }

    #[test]
    fn minimal_config_has_documented_defaults() {
        let c = read(&[
            ("PARTITIONS_TABLES", TABLES),
            ("PARTITIONS_REGISTRY_TABLE", "reg"),
        ])
        .unwrap();
        assert_eq!(c.mode, Mode::Athena);
        assert_eq!(c.workgroup, "primary");
        assert_eq!(c.registry_ttl, Duration::from_secs(35 * 86_400));
        assert_eq!(c.max_statement_bytes, 262_144);
        assert_eq!(c.query_timeout, Duration::from_secs(60));
        assert!(!c.s3_force_path_style);
        assert_eq!(c.maintenance_concurrency, 2);
        assert_eq!(c.function_name, "partitions");
        assert_eq!(c.follow_up, FollowUpSetting::Off);
        assert_eq!(c.tables.tables[0].id(), "streamops.enriched_events");
    }

    #[test]
    fn every_problem_is_reported_by_variable_and_table_field() {
        let err = read(&[
            ("PARTITIONS_TABLES", r#"[{"bucket":"data-bucket","database":"streamops","table":"t","layout":"{yyyy}/"}]"#),
            ("PARTITIONS_MODE", "hive"),
            ("PARTITIONS_MAX_STATEMENT_BYTES", "300000"),
            ("PARTITIONS_ATHENA_OUTPUT_LOCATION", "bucket/results"),
            ("S3_FORCE_PATH_STYLE", "maybe"),
            ("PARTITIONS_MAINTENANCE_CONCURRENCY", "0"),
        ])
        .unwrap_err();
        let text = err.to_string();
        for want in [
            "PARTITIONS_TABLES has invalid value",
            "table #1 (streamops.t): field `layout`",
            "PARTITIONS_REGISTRY_TABLE is not set",
            "PARTITIONS_MODE has invalid value \"hive\"; expected athena or glue",
            "PARTITIONS_MAX_STATEMENT_BYTES",
            "PARTITIONS_ATHENA_OUTPUT_LOCATION",
            "S3_FORCE_PATH_STYLE",
            "PARTITIONS_MAINTENANCE_CONCURRENCY has invalid value \"0\"; expected a whole number from 1 to 8",
        ] {
            assert!(text.contains(want), "{want} missing from: {text}");
        }
        let err = read(&[("PARTITIONS_REGISTRY_TABLE", "reg")]).unwrap_err();
        assert!(err.to_string().contains("PARTITIONS_TABLES is not set"));
    }
}
