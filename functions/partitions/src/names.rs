//! The names configuration gives (buckets, key prefixes, Glue databases, tables and columns),
//! checked at cold start before any reaches a statement.

pub fn layout_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_=./".contains(c)
}

/// Glue and Athena names: lowercase letters, digits, underscores (databases and tables may also
/// use hyphens, which are quoted). Anything else is rejected at cold start.
pub fn valid_name(name: &str, allow_hyphen: bool) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || (allow_hyphen && c == '-')
        })
}

pub fn valid_bucket(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !name.starts_with(['-', '.'])
        && !name.ends_with(['-', '.'])
}

/// Key prefixes from configuration: empty, or relative, ending in `/`, and free of characters
/// that would need escaping in a location literal.
pub fn valid_prefix(prefix: &str) -> bool {
    prefix.is_empty()
        || (prefix.ends_with('/')
            && !prefix.starts_with('/')
            && !prefix.contains("//")
            && prefix.chars().all(layout_char))
}
