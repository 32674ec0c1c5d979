//! Follow-ups of Iceberg maintenance, pure: a query still running when a `maintain` run ends is
//! looked at again by a one-time EventBridge Scheduler schedule that invokes this function with
//! a `maintain` command naming the table and the lease it follows. So a query is stopped at its
//! runtime bound (not at the next scheduled run, a day later), and VACUUM runs soon after an
//! OPTIMIZE that outlived its run. This module says when, under which name, with what input.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Scheduler names are at most 64 characters: the prefix leaves room for the digest.
pub const MAX_NAME_PREFIX: usize = 64 - DIGEST_CHARS;
const DIGEST_CHARS: usize = 12;
/// Scheduler fires a one-time schedule within about a minute: never ask for less.
const MIN_LEAD: Duration = Duration::from_secs(60);

/// `PARTITIONS_MAINTENANCE_FOLLOW_UP`: where a follow-up schedule sends its command.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUpConfig {
    /// This function's ARN (the schedule's target).
    pub target_arn: String,
    /// The role the schedule invokes the function with.
    pub role_arn: String,
    /// Schedule names start with it (the function's role may create only these).
    pub name_prefix: String,
    /// Where the schedule sends an invocation it could not deliver.
    #[serde(default)]
    pub dead_letter_arn: Option<String>,
    /// The longest wait between two looks at a running query (default 300 s, 60 to 3600).
    #[serde(default = "default_every_seconds")]
    pub every_seconds: u64,
}

fn default_every_seconds() -> u64 {
    300
}

/// Follow-ups as configured. A configuration they cannot use turns them off (said in every
/// `maintain` answer and logged at start) rather than stopping the function: registration does
/// not depend on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowUpSetting {
    Off,
    On(FollowUpConfig),
    Unusable(String),
}

impl FollowUpSetting {
    /// From `PARTITIONS_MAINTENANCE_FOLLOW_UP` (unset or empty: off).
    pub fn from_env_value(raw: Option<&str>) -> Self {
        match raw.map(str::trim).filter(|r| !r.is_empty()) {
            None => FollowUpSetting::Off,
            Some(raw) => match FollowUpConfig::parse(raw) {
                Ok(c) => FollowUpSetting::On(c),
                Err(e) => FollowUpSetting::Unusable(format!(
                    "PARTITIONS_MAINTENANCE_FOLLOW_UP is unusable: {e}"
                )),
            },
        }
    }

    /// The configuration, when follow-ups are on.
    pub fn config(&self) -> Option<&FollowUpConfig> {
        match self {
            FollowUpSetting::On(c) => Some(c),
            FollowUpSetting::Off | FollowUpSetting::Unusable(_) => None,
        }
    }

    /// Why there are no follow-ups, when there are none.
    pub fn off_reason(&self) -> Option<String> {
        match self {
            FollowUpSetting::On(_) => None,
            FollowUpSetting::Off => {
                Some("follow-ups are not configured (PARTITIONS_MAINTENANCE_FOLLOW_UP)".into())
            }
            FollowUpSetting::Unusable(why) => Some(why.clone()),
        }
    }
}

impl FollowUpConfig {
    /// Reads and checks it; the message names the field.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let c: FollowUpConfig = serde_json::from_str(raw).map_err(|e| e.to_string())?;
        for (field, arn) in [("target_arn", &c.target_arn), ("role_arn", &c.role_arn)] {
            if !arn.starts_with("arn:") {
                return Err(format!("`{field}` must be an ARN, not {arn:?}"));
            }
        }
        if c.dead_letter_arn
            .as_ref()
            .is_some_and(|a| !a.starts_with("arn:"))
        {
            return Err("`dead_letter_arn` must be an ARN".into());
        }
        let prefix_ok = c
            .name_prefix
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch));
        if c.name_prefix.is_empty() || !prefix_ok {
            return Err(format!(
                "`name_prefix` {:?} must be letters, digits, '-', '_' or '.'",
                c.name_prefix
            ));
        }
        if c.name_prefix.len() > MAX_NAME_PREFIX {
            return Err(format!(
                "`name_prefix` {:?} is {} characters; at most {MAX_NAME_PREFIX} leave room in a schedule name (a stack name of at most 47 characters)",
                c.name_prefix,
                c.name_prefix.len()
            ));
        }
        if !(60..=3600).contains(&c.every_seconds) {
            return Err(format!(
                "`every_seconds` must be 60 to 3600, not {}",
                c.every_seconds
            ));
        }
        Ok(c)
    }

    pub fn every(&self) -> Duration {
        Duration::from_secs(self.every_seconds)
    }
}

/// When the next look at a query is due: at its runtime bound, or sooner (`every` from now) to
/// start the table's next statement soon after the query ends; never sooner than a minute.
pub fn due_at(now: DateTime<Utc>, bound_at: DateTime<Utc>, every: Duration) -> DateTime<Utc> {
    let soonest = now + chrono::Duration::from_std(MIN_LEAD).unwrap_or_default();
    let next = now + chrono::Duration::from_std(every).unwrap_or_default();
    next.min(bound_at).max(soonest).trunc_subsecs(0)
}

/// The schedule's name: the prefix and a digest of the table and the run that asks (its lease
/// token), so a retried run asks for the same schedule and Scheduler refuses the second one.
pub fn schedule_name(prefix: &str, table: &str, token: &str) -> String {
    let digest = Sha256::digest(format!("{table}\n{token}").as_bytes());
    let hex = hex::encode(digest);
    format!("{prefix}{}", &hex[..DIGEST_CHARS])
}

/// Scheduler's one-time expression, in UTC.
pub fn at_expression(at: DateTime<Utc>) -> String {
    format!("at({})", at.format("%Y-%m-%dT%H:%M:%S"))
}

/// The command the schedule sends: `maintain` of one table, following the lease `token`.
pub fn command(table: &str, token: &str) -> Value {
    json!({"command": "maintain", "table": table, "dry_run": false, "follow_up": token})
}

/// What became of a run's follow-up for one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum FollowUp {
    /// Nothing of the table may still run: no follow-up needed.
    None,
    /// A schedule will invoke the function at `at`.
    Scheduled { schedule: String, at: DateTime<Utc> },
    /// The schedule could not be created: the next scheduled run looks at the query.
    Failed { reason: String },
    /// Follow-ups are off ([`FollowUpSetting::off_reason`]): the next scheduled run looks at
    /// the query.
    Off { reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    const GOOD: &str = r#"{"target_arn":"arn:aws:lambda:us-east-1:123456789012:function:s-partitions","role_arn":"arn:aws:iam::123456789012:role/r","name_prefix":"s-mfu-"}"#;

    #[test]
    fn the_next_look_is_at_the_bound_or_sooner_but_never_within_a_minute() {
        let now = at("2026-12-02T05:00:00.700Z");
        let every = Duration::from_secs(300);
        // The bound is far: the next look comes after `every`.
        assert_eq!(
            due_at(now, at("2026-12-02T06:00:00Z"), every),
            at("2026-12-02T05:05:00Z")
        );
        // The bound comes first.
        assert_eq!(
            due_at(now, at("2026-12-02T05:02:30Z"), every),
            at("2026-12-02T05:02:30Z")
        );
        // The bound has passed (a stop that failed): a minute from now.
        assert_eq!(
            due_at(now, at("2026-12-02T04:00:00Z"), every),
            at("2026-12-02T05:01:00Z")
        );
    }

    #[test]
    fn a_name_is_the_same_for_a_retried_run_and_fits_scheduler() {
        let a = schedule_name("s-mfu-", "db.t", "req-1");
        assert_eq!(a, schedule_name("s-mfu-", "db.t", "req-1"));
        assert_ne!(a, schedule_name("s-mfu-", "db.t", "req-2"));
        assert_ne!(a, schedule_name("s-mfu-", "db.u", "req-1"));
        assert!(a.starts_with("s-mfu-") && a.len() == 6 + 12);
        let longest = "p".repeat(MAX_NAME_PREFIX);
        assert_eq!(schedule_name(&longest, "db.t", "r").len(), 64);
        assert_eq!(
            at_expression(at("2026-12-02T05:05:00Z")),
            "at(2026-12-02T05:05:00)"
        );
        assert_eq!(
            command("db.t", "req-1"),
            json!({"command":"maintain","table":"db.t","dry_run":false,"follow_up":"req-1"})
        );
    }

    #[test]
    fn the_config_is_checked_field_by_field() {
        let c = FollowUpConfig::parse(GOOD).unwrap();
        assert_eq!(c.every(), Duration::from_secs(300));
        assert_eq!(c.dead_letter_arn, None);
        let with = |field: &str, value: &str| {
            let mut v: Value = serde_json::from_str(GOOD).unwrap();
            v[field] = serde_json::from_str(value).unwrap();
            FollowUpConfig::parse(&v.to_string())
        };
        assert!(
            with("target_arn", "\"partitions\"")
                .unwrap_err()
                .contains("target_arn")
        );
        assert!(with("role_arn", "\"r\"").unwrap_err().contains("role_arn"));
        assert!(
            with("name_prefix", "\"a b\"")
                .unwrap_err()
                .contains("name_prefix")
        );
        let long = format!("\"{}\"", "s".repeat(MAX_NAME_PREFIX + 1));
        assert!(
            with("name_prefix", &long)
                .unwrap_err()
                .contains("at most 52")
        );
        assert!(
            with("every_seconds", "30")
                .unwrap_err()
                .contains("60 to 3600")
        );
        assert!(with("dead_letter_arn", "\"q\"").is_err());
        assert!(with("every_seconds", "600").is_ok());
        assert!(FollowUpConfig::parse(r#"{"target_arn":"arn:x"}"#).is_err());
    }

    #[test]
    fn an_unusable_setting_turns_follow_ups_off_with_its_reason() {
        assert_eq!(FollowUpSetting::from_env_value(None), FollowUpSetting::Off);
        assert_eq!(
            FollowUpSetting::from_env_value(Some(" ")),
            FollowUpSetting::Off
        );
        assert!(matches!(
            FollowUpSetting::from_env_value(Some(GOOD)),
            FollowUpSetting::On(_)
        ));
        let bad = FollowUpSetting::from_env_value(Some("{"));
        let reason = bad.off_reason().unwrap();
        assert!(
            reason.starts_with("PARTITIONS_MAINTENANCE_FOLLOW_UP is unusable"),
            "{reason}"
        );
        assert!(
            FollowUpSetting::Off
                .off_reason()
                .unwrap()
                .contains("not configured")
        );
    }
}
