//! Partition columns: their types, and the check every rendered value passes before it reaches
//! SQL or the Glue catalog.

use serde::Serialize;

use crate::layout::Template;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    String,
    Int,
    Date,
}

impl ColumnType {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "string" | "varchar" => Some(ColumnType::String),
            "int" | "integer" | "bigint" | "smallint" | "tinyint" => Some(ColumnType::Int),
            "date" => Some(ColumnType::Date),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub kind: ColumnType,
    pub value: Template,
}

/// Checks a rendered value against its column type. Strings allow a conservative character set
/// (no quotes, backslashes, semicolons or control characters) even though they are also escaped.
pub fn validate_value(kind: ColumnType, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("empty value".into());
    }
    match kind {
        ColumnType::Int => {
            if value.len() > 18 || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{value:?} is not an integer"));
            }
        }
        ColumnType::Date => {
            let ok = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .is_ok_and(|d| d.format("%Y-%m-%d").to_string() == value);
            if !ok {
                return Err(format!("{value:?} is not a date (yyyy-MM-dd)"));
            }
        }
        ColumnType::String => {
            if value.len() > 256 || !value.chars().all(value_char) {
                return Err(format!(
                    "{value:?} has characters outside [A-Za-z0-9 _.:=-] or is longer than 256 bytes"
                ));
            }
        }
    }
    Ok(())
}

pub(crate) fn value_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " _.:=-".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_validated_against_their_type() {
        assert!(validate_value(ColumnType::Int, "10").is_ok());
        assert!(validate_value(ColumnType::Int, "1 0").is_err());
        assert!(validate_value(ColumnType::Date, "2026-11-23").is_ok());
        assert!(validate_value(ColumnType::Date, "2026-13-01").is_err());
        assert!(validate_value(ColumnType::Date, "2026-1-01").is_err());
        assert!(validate_value(ColumnType::String, "2026-11-23").is_ok());
        assert!(validate_value(ColumnType::String, "x'y").is_err());
        assert!(validate_value(ColumnType::String, "x;y").is_err());
        assert!(validate_value(ColumnType::String, "").is_err());
    }
}
