//! Typed configuration read once at cold start from environment variables.
//!
//! A function describes each variable it needs (name, what is expected) and gets either a
//! fully typed config or one error that lists *every* problem at once, so a broken deployment
//! is fixed in one round trip instead of one variable at a time.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// One problem with one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableProblem {
    pub variable: String,
    pub expected: String,
    /// `None` when the variable is missing, `Some(raw)` when its value did not parse.
    pub found: Option<String>,
    pub detail: Option<String>,
}

impl fmt::Display for VariableProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.found {
            None => write!(
                f,
                "{} is not set; expected {}",
                self.variable, self.expected
            )?,
            Some(raw) => write!(
                f,
                "{} has invalid value {:?}; expected {}",
                self.variable,
                truncate_for_message(raw),
                self.expected
            )?,
        }
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

fn truncate_for_message(raw: &str) -> String {
    const MAX: usize = 120;
    if raw.len() <= MAX {
        return raw.to_string();
    }
    let mut end = MAX;
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &raw[..end])
}

/// Every problem found while reading a function's configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<VariableProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: ")?;
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Where variable values come from: the process environment, or a map in tests.
type VariableSource = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Reads variables from a source (the process environment, or a map in tests) and collects
/// problems instead of stopping at the first one. Call [`EnvReader::finish`] last.
pub struct EnvReader {
    source: VariableSource,
    problems: Vec<VariableProblem>,
}

impl EnvReader {
    /// Reads the real process environment.
    pub fn from_env() -> Self {
        Self::from_fn(|name| std::env::var(name).ok())
    }

    /// Reads from a fixed map: for unit tests of a function's config.
    pub fn from_map(map: HashMap<String, String>) -> Self {
        Self::from_fn(move |name| map.get(name).cloned())
    }

    pub fn from_fn(source: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self {
            source: Box::new(source),
            problems: Vec::new(),
        }
    }

    fn raw(&self, name: &str) -> Option<String> {
        // An empty value is treated as unset: CloudFormation renders an empty optional
        // parameter as "", and "" is never a useful table name or URL.
        (self.source)(name).filter(|v| !v.trim().is_empty())
    }

    /// A required string. Returns an empty string (never used) when missing, after recording the problem.
    pub fn required(&mut self, name: &str, expected: &str) -> String {
        match self.raw(name) {
            Some(v) => v,
            None => {
                self.problems.push(VariableProblem {
                    variable: name.to_string(),
                    expected: expected.to_string(),
                    found: None,
                    detail: None,
                });
                String::new()
            }
        }
    }

    pub fn optional(&mut self, name: &str) -> Option<String> {
        self.raw(name)
    }

    /// A value parsed with `FromStr`, or `default` when unset.
    pub fn parsed_or<T>(&mut self, name: &str, expected: &str, default: T) -> T
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.raw(name) {
            None => default,
            Some(raw) => match raw.trim().parse::<T>() {
                Ok(v) => v,
                Err(e) => {
                    self.invalid(name, expected, &raw, Some(e.to_string()));
                    default
                }
            },
        }
    }

    /// A required value parsed with `FromStr`.
    pub fn parsed_required<T>(&mut self, name: &str, expected: &str) -> Option<T>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let raw = self.required(name, expected);
        if raw.is_empty() {
            return None;
        }
        match raw.trim().parse::<T>() {
            Ok(v) => Some(v),
            Err(e) => {
                self.invalid(name, expected, &raw, Some(e.to_string()));
                None
            }
        }
    }

    /// A duration given in whole seconds, or `default` when unset.
    pub fn seconds_or(&mut self, name: &str, default: Duration) -> Duration {
        Duration::from_secs(self.parsed_or(name, "a whole number of seconds", default.as_secs()))
    }

    /// `true`/`false` (also `1`/`0`, `yes`/`no`), or `default` when unset.
    pub fn flag_or(&mut self, name: &str, default: bool) -> bool {
        match self.raw(name) {
            None => default,
            Some(raw) => match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => {
                    self.invalid(name, "true or false", &raw, None);
                    default
                }
            },
        }
    }

    /// A JSON document (for structured settings such as maps), or `None` when unset.
    pub fn json_optional<T: serde::de::DeserializeOwned>(
        &mut self,
        name: &str,
        expected: &str,
    ) -> Option<T> {
        let raw = self.raw(name)?;
        match serde_json::from_str::<T>(&raw) {
            Ok(v) => Some(v),
            Err(e) => {
                self.invalid(name, expected, &raw, Some(e.to_string()));
                None
            }
        }
    }

    /// Records a problem found by the caller's own validation of a value.
    pub fn invalid(&mut self, name: &str, expected: &str, raw: &str, detail: Option<String>) {
        self.problems.push(VariableProblem {
            variable: name.to_string(),
            expected: expected.to_string(),
            found: Some(raw.to_string()),
            detail,
        });
    }

    /// `Ok(value)` when no problem was recorded, otherwise every problem at once.
    pub fn finish<T>(self, value: T) -> Result<T, ConfigError> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError {
                problems: self.problems,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(pairs: &[(&str, &str)]) -> EnvReader {
        EnvReader::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn lists_every_problem_with_variable_name_and_expectation() {
        let mut r = reader(&[("WINDOW_SECONDS", "soon"), ("EMPTY", "  ")]);
        let _ = r.required("TABLE_NAME", "the DynamoDB table name");
        let _ = r.seconds_or("WINDOW_SECONDS", Duration::from_secs(60));
        let _ = r.required("EMPTY", "a topic ARN");
        let err = r.finish(()).unwrap_err();
        assert_eq!(err.problems.len(), 3);
        let text = err.to_string();
        assert!(
            text.contains("TABLE_NAME is not set; expected the DynamoDB table name"),
            "{text}"
        );
        assert!(
            text.contains(
                "WINDOW_SECONDS has invalid value \"soon\"; expected a whole number of seconds"
            ),
            "{text}"
        );
        assert!(text.contains("EMPTY is not set"), "{text}");
    }

    #[test]
    fn typed_values_and_defaults() {
        let mut r = reader(&[("A", "42"), ("F", "yes"), ("J", r#"{"k":"v"}"#)]);
        let a: u32 = r.parsed_or("A", "a number", 1);
        let b: u32 = r.parsed_or("B", "a number", 7);
        let f = r.flag_or("F", false);
        let j: Option<HashMap<String, String>> = r.json_optional("J", "a JSON object");
        let (a, b, f, j) = r.finish((a, b, f, j)).unwrap();
        assert_eq!((a, b, f), (42, 7, true));
        assert_eq!(j.unwrap()["k"], "v");
    }

    #[test]
    fn bad_flag_and_json_are_reported() {
        let mut r = reader(&[("F", "maybe"), ("J", "{not json")]);
        r.flag_or("F", false);
        let _: Option<serde_json::Value> = r.json_optional("J", "a JSON object");
        let err = r.finish(()).unwrap_err();
        assert_eq!(err.problems[0].variable, "F");
        assert_eq!(err.problems[1].variable, "J");
        assert!(err.problems[1].detail.is_some());
    }
}
