//! The scaler's configuration, read once at cold start.

use streamops_shared::{ConfigError, EnvReader};

use crate::policy::Policies;

#[derive(Debug, Clone)]
pub struct ScalerConfig {
    /// `SCALER_TABLE`: state, claims and audit trail.
    pub table: String,
    /// `SCALER_POLICIES`: JSON `{"targets": [...], "rules": [...]}` (see docs/scaler.md), validated here.
    pub policies: Policies,
    /// `AWS_LAMBDA_FUNCTION_NAME` (set by Lambda; default `scaler`): named in every
    /// notification, so the alerts function of this stack takes this stack's decisions only.
    pub function_name: String,
    /// `SCALER_CHECKPOINTS_TABLE` (optional): the checkpoints book, where a Flink job resubmitted
    /// from a savepoint is registered under its target's `pipeline`.
    pub checkpoints_table: Option<String>,
}

impl ScalerConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(EnvReader::from_env())
    }

    pub fn read(mut r: EnvReader) -> Result<Self, ConfigError> {
        let table = r.required(
            "SCALER_TABLE",
            "the name of the DynamoDB scaler state table",
        );
        let raw = r.required(
            "SCALER_POLICIES",
            "the scaling policies as JSON {\"targets\": [...], \"rules\": [...]}",
        );
        let policies = if raw.is_empty() {
            None
        } else {
            match Policies::parse(&raw) {
                Ok(p) => Some(p),
                Err(e) => {
                    r.invalid(
                        "SCALER_POLICIES",
                        "valid scaling policies",
                        "(JSON)",
                        Some(e),
                    );
                    None
                }
            }
        };
        let policies = policies.unwrap_or(Policies {
            targets: Vec::new(),
            rules: Vec::new(),
        });
        let function_name = r
            .optional("AWS_LAMBDA_FUNCTION_NAME")
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "scaler".into());
        let checkpoints_table = r
            .optional("SCALER_CHECKPOINTS_TABLE")
            .filter(|t| !t.is_empty());
        r.finish(ScalerConfig {
            table,
            policies,
            function_name,
            checkpoints_table,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn policy_errors_name_the_variable() {
        let map: HashMap<String, String> =
            [("SCALER_TABLE", "t"), ("SCALER_POLICIES", "{\"targets\": [], \"rules\": [{\"alarm\": \"a\", \"target\": \"x\", \"direction\": \"out\"}]}")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let e = ScalerConfig::read(EnvReader::from_map(map))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("SCALER_POLICIES") && e.contains("unknown target"),
            "{e}"
        );
        let e = ScalerConfig::read(EnvReader::from_map(HashMap::new()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("SCALER_TABLE") && e.contains("SCALER_POLICIES"),
            "{e}"
        );
    }
}
