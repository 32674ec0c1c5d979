//! The checkpoints function's configuration, read once at cold start.

use std::collections::BTreeMap;

use serde::Deserialize;
use streamops_shared::{ConfigError, EnvReader};

use crate::book::RetentionPolicy;
use crate::health::HealthPolicy;
use crate::layout::Locations;
use crate::savepoint::SavepointFormat;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    #[serde(default)]
    pub default: RetentionPolicy,
    /// Per pipeline overrides.
    #[serde(default)]
    pub pipelines: BTreeMap<String, RetentionPolicy>,
}

/// The longest minimum age accepted: ten years. Far below where a duration overflows.
const MAX_MIN_AGE_HOURS: i64 = 10 * 366 * 24;

const RETENTION_RANGE: &str = "min_age_hours from 0 to 87840 (ten years)";

impl RetentionConfig {
    pub fn for_pipeline(&self, pipeline: &str) -> &RetentionPolicy {
        self.pipelines.get(pipeline).unwrap_or(&self.default)
    }

    /// The first policy whose minimum age is negative or over ten years, named.
    fn problem(&self) -> Option<String> {
        std::iter::once(("default", &self.default))
            .chain(self.pipelines.iter().map(|(k, v)| (k.as_str(), v)))
            .find(|(_, p)| !(0..=MAX_MIN_AGE_HOURS).contains(&p.min_age_hours))
            .map(|(name, p)| format!("{name}: min_age_hours {}", p.min_age_hours))
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    #[serde(default)]
    pub default: HealthPolicy,
    /// Per pipeline overrides.
    #[serde(default)]
    pub pipelines: BTreeMap<String, HealthPolicy>,
}

impl HealthConfig {
    pub fn for_pipeline(&self, pipeline: &str) -> &HealthPolicy {
        self.pipelines.get(pipeline).unwrap_or(&self.default)
    }

    /// The first policy with a zero threshold, named.
    fn problem(&self) -> Option<String> {
        std::iter::once(("default", &self.default))
            .chain(self.pipelines.iter().map(|(k, v)| (k.as_str(), v)))
            .find_map(|(name, p)| Some(format!("{name}: {}", p.problem()?)))
    }
}

#[derive(Debug, Clone)]
pub struct CheckpointsConfig {
    /// `CHECKPOINTS_TABLE`: the book.
    pub table: String,
    /// `CHECKPOINTS_BUCKET`: where Flink writes checkpoints and savepoints.
    pub bucket: String,
    /// `CHECKPOINTS_CHECKPOINT_PREFIX` (default `flink/checkpoints/`), `CHECKPOINTS_SAVEPOINT_PREFIX`
    /// (default `flink/savepoints/`), `CHECKPOINTS_ENTROPY_KEY` (optional, e.g. `_entropy_`).
    pub locations: Locations,
    /// `CHECKPOINTS_RETENTION`: JSON `{"default": {"keep_savepoints": 5, "min_age_hours": 24}, "pipelines": {...}}`.
    pub retention: RetentionConfig,
    /// `CHECKPOINTS_HEALTH`: JSON `{"default": {"missed_intervals": 3, "interval_seconds": 60,
    /// "consecutive_failures": 3}, "pipelines": {...}}`; every field optional.
    pub health: HealthConfig,
    /// `AWS_LAMBDA_FUNCTION_NAME` (set by Lambda; default `checkpoints`): named in every health
    /// event, so the alerts rule takes this stack's only.
    pub function_name: String,
    /// `CHECKPOINTS_FLINK_REST_URL` (optional): the JobManager REST endpoint `verify` asks.
    pub flink_rest_url: Option<String>,
    /// `CHECKPOINTS_SAVEPOINT_TARGET` (default `s3://<bucket>/<savepoint prefix>`): the
    /// `target-directory` of the savepoints the `savepoint` command triggers, as the JobManager
    /// writes it (`s3://`, `s3a://`, ...). It must end in the savepoint prefix, where the book
    /// finds savepoints.
    pub savepoint_target: String,
    /// `CHECKPOINTS_SAVEPOINT_FORMAT`: `canonical` (default) or `native`.
    pub savepoint_format: SavepointFormat,
    /// `S3_FORCE_PATH_STYLE` (default false).
    pub s3_force_path_style: bool,
}

impl CheckpointsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(EnvReader::from_env())
    }

    pub fn read(mut r: EnvReader) -> Result<Self, ConfigError> {
        let table = r.required(
            "CHECKPOINTS_TABLE",
            "the name of the DynamoDB checkpoint book table",
        );
        let bucket = r.required(
            "CHECKPOINTS_BUCKET",
            "the S3 bucket Flink writes checkpoints and savepoints to",
        );
        let cp = r
            .optional("CHECKPOINTS_CHECKPOINT_PREFIX")
            .unwrap_or_else(|| "flink/checkpoints/".into());
        let sp = r
            .optional("CHECKPOINTS_SAVEPOINT_PREFIX")
            .unwrap_or_else(|| "flink/savepoints/".into());
        let entropy = r
            .optional("CHECKPOINTS_ENTROPY_KEY")
            .filter(|k| !k.is_empty());
        let locations = match Locations::new(&cp, &sp, entropy.as_deref()) {
            Ok(l) => Some(l),
            Err(e) => {
                r.invalid(
                    "CHECKPOINTS_CHECKPOINT_PREFIX",
                    "key prefixes ending in /",
                    &cp,
                    Some(e),
                );
                None
            }
        };
        let retention: RetentionConfig = r
            .json_optional(
                "CHECKPOINTS_RETENTION",
                "a JSON object {\"default\": {\"keep_savepoints\": N, \"min_age_hours\": H}, \"pipelines\": {...}}",
            )
            .unwrap_or_default();
        if let Some(problem) = retention.problem() {
            let raw = r.optional("CHECKPOINTS_RETENTION").unwrap_or_default();
            r.invalid(
                "CHECKPOINTS_RETENTION",
                RETENTION_RANGE,
                &raw,
                Some(problem),
            );
        }
        let health = read_health(&mut r);
        let function_name = r
            .optional("AWS_LAMBDA_FUNCTION_NAME")
            .unwrap_or_else(|| "checkpoints".into());
        let flink_rest_url = read_flink_url(&mut r);
        let (savepoint_target, savepoint_format) = read_savepoints(&mut r, &bucket, &sp);
        let s3_force_path_style = r.flag_or("S3_FORCE_PATH_STYLE", false);
        // A problem with the prefixes is already recorded, so `finish` refuses the config and
        // these placeholder locations are never used; empty prefixes always parse.
        let locations = locations
            .unwrap_or_else(|| Locations::new("", "", None).expect("empty prefixes are valid"));
        r.finish(CheckpointsConfig {
            table,
            bucket,
            locations,
            retention,
            health,
            function_name,
            flink_rest_url,
            savepoint_target,
            savepoint_format,
            s3_force_path_style,
        })
    }
}

fn read_flink_url(r: &mut EnvReader) -> Option<String> {
    let url = r
        .optional("CHECKPOINTS_FLINK_REST_URL")
        .filter(|u| !u.is_empty());
    if let Some(url) = &url
        && let Err(e) = crate::flink_rest::parse_endpoint(url)
    {
        r.invalid(
            "CHECKPOINTS_FLINK_REST_URL",
            "http://host:port",
            url,
            Some(e),
        );
    }
    url
}

/// Where the `savepoint` command's savepoints go, and in which format.
fn read_savepoints(r: &mut EnvReader, bucket: &str, prefix: &str) -> (String, SavepointFormat) {
    let target = r
        .optional("CHECKPOINTS_SAVEPOINT_TARGET")
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("s3://{bucket}/{prefix}"));
    if !target
        .trim_end_matches('/')
        .ends_with(prefix.trim_end_matches('/'))
        || !target.contains("://")
    {
        r.invalid(
            "CHECKPOINTS_SAVEPOINT_TARGET",
            "a URL ending in CHECKPOINTS_SAVEPOINT_PREFIX (s3://bucket/flink/savepoints/)",
            &target,
            None,
        );
    }
    let raw = r
        .optional("CHECKPOINTS_SAVEPOINT_FORMAT")
        .unwrap_or_default();
    let format = match raw.as_str() {
        "" | "canonical" => SavepointFormat::Canonical,
        "native" => SavepointFormat::Native,
        _ => {
            r.invalid(
                "CHECKPOINTS_SAVEPOINT_FORMAT",
                "canonical or native",
                &raw,
                None,
            );
            SavepointFormat::Canonical
        }
    };
    (target, format)
}

fn read_health(r: &mut EnvReader) -> HealthConfig {
    let health: HealthConfig = r
        .json_optional(
            "CHECKPOINTS_HEALTH",
            "a JSON object {\"default\": {\"missed_intervals\": N, \"interval_seconds\": S, \"consecutive_failures\": F}, \"pipelines\": {...}}",
        )
        .unwrap_or_default();
    if let Some(problem) = health.problem() {
        let raw = r.optional("CHECKPOINTS_HEALTH").unwrap_or_default();
        r.invalid(
            "CHECKPOINTS_HEALTH",
            "thresholds of at least 1",
            &raw,
            Some(problem),
        );
    }
    health
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(pairs: &[(&str, &str)]) -> Result<CheckpointsConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        CheckpointsConfig::read(EnvReader::from_map(map))
    }

    #[test]
    fn defaults_and_errors() {
        let c = read(&[("CHECKPOINTS_TABLE", "t"), ("CHECKPOINTS_BUCKET", "b")]).unwrap();
        assert_eq!(c.locations.checkpoint_prefix, "flink/checkpoints/");
        assert_eq!(c.retention.for_pipeline("x").keep_savepoints, 5);
        let e = read(&[
            ("CHECKPOINTS_CHECKPOINT_PREFIX", "nope"),
            ("CHECKPOINTS_RETENTION", "{\"default\": {\"keep\": 1}}"),
        ])
        .unwrap_err()
        .to_string();
        for v in [
            "CHECKPOINTS_TABLE",
            "CHECKPOINTS_BUCKET",
            "CHECKPOINTS_CHECKPOINT_PREFIX",
            "CHECKPOINTS_RETENTION",
        ] {
            assert!(e.contains(v), "{v} missing from {e}");
        }
    }

    #[test]
    fn health_thresholds_default_per_pipeline_and_zero_is_refused() {
        let base = [("CHECKPOINTS_TABLE", "t"), ("CHECKPOINTS_BUCKET", "b")];
        let c = read(&base).unwrap();
        assert_eq!(c.health.for_pipeline("x"), &HealthPolicy::default());
        assert_eq!(c.function_name, "checkpoints");
        let health = r#"{"pipelines": {"clicks": {"missed_intervals": 5}}}"#;
        let c = read(&[base[0], base[1], ("CHECKPOINTS_HEALTH", health)]).unwrap();
        assert_eq!(c.health.for_pipeline("clicks").missed_intervals, 5);
        assert_eq!(c.health.for_pipeline("clicks").interval_seconds, 60);
        let zero = r#"{"pipelines": {"clicks": {"interval_seconds": 0}}}"#;
        let e = read(&[base[0], base[1], ("CHECKPOINTS_HEALTH", zero)])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("CHECKPOINTS_HEALTH") && e.contains("clicks"),
            "{e}"
        );
        let typo = r#"{"default": {"intervals": 2}}"#;
        assert!(read(&[base[0], base[1], ("CHECKPOINTS_HEALTH", typo)]).is_err());
    }

    /// A minimum age past what a duration holds used to panic at every prune; negative or
    /// over ten years is a configuration error now, naming the policy.
    #[test]
    fn a_minimum_age_out_of_range_is_refused_at_cold_start() {
        let base = [("CHECKPOINTS_TABLE", "t"), ("CHECKPOINTS_BUCKET", "b")];
        for (retention, named) in [
            (
                r#"{"default": {"min_age_hours": 9223372036854775807}}"#,
                "default",
            ),
            (
                r#"{"pipelines": {"clicks": {"min_age_hours": -1}}}"#,
                "clicks",
            ),
        ] {
            let e = read(&[base[0], base[1], ("CHECKPOINTS_RETENTION", retention)])
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("CHECKPOINTS_RETENTION") && e.contains(named),
                "{e}"
            );
        }
        let ok = r#"{"default": {"min_age_hours": 87840}}"#;
        assert!(read(&[base[0], base[1], ("CHECKPOINTS_RETENTION", ok)]).is_ok());
    }

    #[test]
    fn savepoints_go_under_the_savepoint_prefix_in_a_known_format() {
        let base = [("CHECKPOINTS_TABLE", "t"), ("CHECKPOINTS_BUCKET", "b")];
        let c = read(&base).unwrap();
        assert_eq!(c.savepoint_target, "s3://b/flink/savepoints/");
        assert_eq!(c.savepoint_format, SavepointFormat::Canonical);
        let local = (
            "CHECKPOINTS_SAVEPOINT_TARGET",
            "file:///tmp/state/flink/savepoints",
        );
        let c = read(&[
            base[0],
            base[1],
            local,
            ("CHECKPOINTS_SAVEPOINT_FORMAT", "native"),
        ])
        .unwrap();
        assert_eq!(c.savepoint_format, SavepointFormat::Native);
        for bad in [
            ("CHECKPOINTS_SAVEPOINT_TARGET", "s3://b/elsewhere/"),
            ("CHECKPOINTS_SAVEPOINT_FORMAT", "NATIVE"),
        ] {
            let e = read(&[base[0], base[1], bad]).unwrap_err().to_string();
            assert!(e.contains(bad.0), "{e}");
        }
    }
}
