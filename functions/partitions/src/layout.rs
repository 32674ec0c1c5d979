//! Key layouts: a template of literal text, the time tokens `{yyyy}`, `{MM}`, `{dd}` and `{HH}`
//! (UTC) and named keys (`{source}`, see [`crate::named_keys`]), used both ways: to parse the
//! partition directory at the start of a key, and to render the directory (or a partition value)
//! of a given hour or day and key values.
//!
//! Parsing is strict: every time token takes exactly its number of ASCII digits (values are zero
//! padded), the date must exist, and the matched text must render back identically. A named key
//! takes the rest of its directory segment, unchecked here: the table checks it against the
//! key's rule before anything else sees it. Anything else is not this layout.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

use crate::named_keys::{KeyRules, KeyValues};

/// The three layouts the suite's writers use, by name.
pub const HIVE: &str = "dt={yyyy}-{MM}-{dd}/hour={HH}/";
pub const FIREHOSE: &str = "{yyyy}/{MM}/{dd}/{HH}/";
pub const FLINK: &str = "{yyyy}-{MM}-{dd}--{HH}/";

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Hour,
    Day,
}

impl Granularity {
    pub fn step(self) -> chrono::Duration {
        match self {
            Granularity::Hour => chrono::Duration::hours(1),
            Granularity::Day => chrono::Duration::days(1),
        }
    }

    /// The start of the hour or day containing `t`.
    pub fn truncate(self, t: NaiveDateTime) -> NaiveDateTime {
        let hour = match self {
            Granularity::Hour => t.hour(),
            Granularity::Day => 0,
        };
        // `hour` is the hour of an existing time (0-23), or 0.
        t.date().and_hms_opt(hour, 0, 0).expect("valid hour")
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Hour => "hour",
            Granularity::Day => "day",
        }
    }
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Year,
    Month,
    Day,
    Hour,
}

impl Field {
    fn width(self) -> usize {
        match self {
            Field::Year => 4,
            _ => 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    Field(Field),
    /// A named key, by name.
    Key(String),
}

/// What [`Template::match_start`] found: the period, the named keys' values exactly as the key
/// holds them (not yet checked against their rules), and how many bytes it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub period: NaiveDateTime,
    pub raw_keys: BTreeMap<String, String>,
    pub used: usize,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    tokens: Vec<Token>,
}

impl Template {
    /// Parses `{yyyy}`, `{MM}`, `{dd}`, `{HH}` and literal text; `literal_ok` says which literal
    /// characters are allowed (the caller's context decides: key segments or partition values).
    pub fn parse(source: &str, literal_ok: impl Fn(char) -> bool) -> Result<Self, String> {
        Self::parse_with_keys(source, literal_ok, &KeyRules::default())
    }

    /// As [`Template::parse`], and `{name}` for every key `keys` has a rule for.
    pub fn parse_with_keys(
        source: &str,
        literal_ok: impl Fn(char) -> bool,
        keys: &KeyRules,
    ) -> Result<Self, String> {
        let mut tokens = Vec::new();
        let mut literal = String::new();
        let mut rest = source;
        while let Some(c) = rest.chars().next() {
            if c == '{' {
                let end = rest
                    .find('}')
                    .ok_or_else(|| format!("unclosed `{{` in {source:?}"))?;
                let token = match &rest[1..end] {
                    "yyyy" => Token::Field(Field::Year),
                    "MM" => Token::Field(Field::Month),
                    "dd" => Token::Field(Field::Day),
                    "HH" => Token::Field(Field::Hour),
                    name if keys.has(name) => Token::Key(name.to_string()),
                    other => return Err(unknown_token(source, other, keys)),
                };
                if !literal.is_empty() {
                    tokens.push(Token::Literal(std::mem::take(&mut literal)));
                }
                tokens.push(token);
                rest = &rest[end + 1..];
            } else {
                if c == '}' || !literal_ok(c) {
                    return Err(format!("character {c:?} is not allowed in {source:?}"));
                }
                literal.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(literal));
        }
        if tokens.is_empty() {
            return Err("empty template".into());
        }
        Ok(Self {
            source: source.to_string(),
            tokens,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The named keys, in the order they first appear.
    pub fn key_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for token in &self.tokens {
            if let Token::Key(k) = token {
                if !names.contains(&k.as_str()) {
                    names.push(k);
                }
            }
        }
        names
    }

    pub fn has_keys(&self) -> bool {
        self.tokens.iter().any(|t| matches!(t, Token::Key(_)))
    }

    /// True when the template is `{name}` and nothing else.
    pub fn is_exactly_key(&self, name: &str) -> bool {
        matches!(self.tokens.as_slice(), [Token::Key(k)] if k == name)
    }

    /// Named keys not followed by `/`: in a layout each must end its directory segment, so that
    /// its value is the rest of the segment.
    pub fn keys_not_ending_a_segment(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for (i, token) in self.tokens.iter().enumerate() {
            if let Token::Key(k) = token {
                let next_is_slash =
                    matches!(self.tokens.get(i + 1), Some(Token::Literal(l)) if l.starts_with('/'));
                if !next_is_slash {
                    out.push(k.as_str());
                }
            }
        }
        out
    }

    /// True when a time token comes before the first `{name}` (or `name` is not here): then the
    /// key's directory differs from period to period, and no one listing names its values.
    pub fn time_before_key(&self, name: &str) -> bool {
        for token in &self.tokens {
            match token {
                Token::Key(k) if k == name => return false,
                Token::Field(_) => return true,
                _ => {}
            }
        }
        true
    }

    /// The text before the first `{name}`, rendered from `known` values, when only literals and
    /// keys `known` holds come before it: the prefix whose delimited listing names its values.
    /// `None` when a time token or a key without a value comes first, or `name` is not here.
    pub fn prefix_before_key(
        &self,
        name: &str,
        known: &BTreeMap<String, String>,
    ) -> Option<String> {
        let mut out = String::new();
        for token in &self.tokens {
            match token {
                Token::Key(k) if k == name => return Some(out),
                Token::Key(k) => out.push_str(known.get(k)?),
                Token::Literal(s) => out.push_str(s),
                Token::Field(_) => return None,
            }
        }
        None
    }

    fn has(&self, f: Field) -> bool {
        self.tokens.contains(&Token::Field(f))
    }

    pub fn has_hour(&self) -> bool {
        self.has(Field::Hour)
    }

    /// True when the template pins a calendar day (year, month and day).
    pub fn has_full_date(&self) -> bool {
        self.has(Field::Year) && self.has(Field::Month) && self.has(Field::Day)
    }

    /// The text of period `t` and key values `keys` (a key `keys` lacks renders empty, which no
    /// column type and no match accepts; tables check key names before rendering).
    pub fn render(&self, t: NaiveDateTime, keys: &KeyValues) -> String {
        self.render_with(t, |k| keys.get(k))
    }

    fn render_with<'k>(&self, t: NaiveDateTime, key: impl Fn(&str) -> Option<&'k str>) -> String {
        let mut out = String::with_capacity(self.source.len());
        for token in &self.tokens {
            match token {
                Token::Literal(s) => out.push_str(s),
                Token::Key(k) => out.push_str(key(k).unwrap_or("")),
                Token::Field(Field::Year) => out.push_str(&format!("{:04}", t.year())),
                Token::Field(Field::Month) => out.push_str(&format!("{:02}", t.month())),
                Token::Field(Field::Day) => out.push_str(&format!("{:02}", t.day())),
                Token::Field(Field::Hour) => out.push_str(&format!("{:02}", t.hour())),
            }
        }
        out
    }

    /// Matches the template at the start of `text`: the hour (or day, hour 0) it names, the raw
    /// values of its named keys, and how many bytes it took. `None` when `text` does not start
    /// with a valid instance.
    pub fn match_start(&self, text: &str) -> Option<Matched> {
        let (mut year, mut month, mut day, mut hour) = (None, None, None, None);
        let mut raw_keys: BTreeMap<String, String> = BTreeMap::new();
        let mut pos = 0;
        for token in &self.tokens {
            match token {
                Token::Key(k) => {
                    // The rest of the directory segment; a repeated key must repeat its value.
                    let len = text[pos..].find('/')?;
                    let value = &text[pos..pos + len];
                    if raw_keys.get(k).is_some_and(|v| v != value) {
                        return None;
                    }
                    raw_keys.insert(k.clone(), value.to_string());
                    pos += len;
                }
                Token::Literal(s) => {
                    if !text[pos..].starts_with(s.as_str()) {
                        return None;
                    }
                    pos += s.len();
                }
                Token::Field(f) => {
                    let digits = text.get(pos..pos + f.width())?;
                    if !digits.bytes().all(|b| b.is_ascii_digit()) {
                        return None;
                    }
                    let value: u32 = digits.parse().ok()?;
                    let slot = match f {
                        Field::Year => &mut year,
                        Field::Month => &mut month,
                        Field::Day => &mut day,
                        Field::Hour => &mut hour,
                    };
                    if slot.is_some_and(|v| v != value) {
                        return None;
                    }
                    *slot = Some(value);
                    pos += f.width();
                }
            }
        }
        let date = NaiveDate::from_ymd_opt(year? as i32, month?, day?)?;
        let t = date.and_hms_opt(hour.unwrap_or(0), 0, 0)?;
        // Canonical form only: what we register must be exactly what we parsed.
        let rendered = self.render_with(t, |k| raw_keys.get(k).map(String::as_str));
        (rendered == text[..pos]).then_some(Matched {
            period: t,
            raw_keys,
            used: pos,
        })
    }
}

fn unknown_token(source: &str, token: &str, keys: &KeyRules) -> String {
    let named: Vec<String> = keys.names().map(|k| format!("{{{k}}}")).collect();
    let named = if named.is_empty() {
        "none configured".to_string()
    } else {
        named.join(", ")
    };
    format!(
        "unknown token `{{{token}}}` in {source:?} (known: {{yyyy}}, {{MM}}, {{dd}}, {{HH}}; named keys: {named})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_chars(c: char) -> bool {
        c.is_ascii_alphanumeric() || "-_=./".contains(c)
    }

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").unwrap()
    }

    #[test]
    fn the_three_layouts_render_zero_padded() {
        let at = t("2026-01-02T03:00");
        assert_eq!(
            Template::parse(HIVE, key_chars)
                .unwrap()
                .render(at, &KeyValues::none()),
            "dt=2026-01-02/hour=03/"
        );
        assert_eq!(
            Template::parse(FIREHOSE, key_chars)
                .unwrap()
                .render(at, &KeyValues::none()),
            "2026/01/02/03/"
        );
        assert_eq!(
            Template::parse(FLINK, key_chars)
                .unwrap()
                .render(at, &KeyValues::none()),
            "2026-01-02--03/"
        );
    }

    #[test]
    fn the_three_layouts_parse_keys_back() {
        for (layout, key) in [
            (HIVE, "dt=2026-11-23/hour=10/part-0001.gz"),
            (
                FIREHOSE,
                "2026/11/23/10/stream-1-2026-11-23-10-00-00-abc.gz",
            ),
            (FLINK, "2026-11-23--10/part-5c1e-0"),
        ] {
            let tpl = Template::parse(layout, key_chars).unwrap();
            let m = tpl.match_start(key).unwrap_or_else(|| panic!("{key}"));
            assert_eq!(m.period, t("2026-11-23T10:00"), "{key}");
            assert_eq!(&key[..m.used], tpl.render(m.period, &KeyValues::none()));
        }
    }

    #[test]
    fn strict_matching_rejects_unpadded_impossible_and_foreign_keys() {
        let hive = Template::parse(HIVE, key_chars).unwrap();
        for bad in [
            "dt=2026-11-23/hour=7/x",    // not zero padded
            "dt=2026-02-30/hour=10/x",   // no such day
            "dt=2026-11-23/hour=24/x",   // no such hour
            "dt=2026-11-23'/hour=10/x",  // quote
            "dt=2026-1a-23/hour=10/x",   // not digits
            "date=2026-11-23/hour=10/x", // other column name
            "dt=2026-11-23/hour=1",      // cut short
            "dt=+2026-11-23/hour=10/x",
        ] {
            assert!(hive.match_start(bad).is_none(), "{bad}");
        }
        // Non-ASCII digits are not digits here.
        let fh = Template::parse(FIREHOSE, key_chars).unwrap();
        assert!(fh.match_start("２０２６/11/23/10/x").is_none());
    }

    #[test]
    fn repeated_tokens_must_agree_and_day_layouts_have_hour_zero() {
        let tpl = Template::parse("{yyyy}/{yyyy}{MM}{dd}/", key_chars).unwrap();
        assert!(tpl.match_start("2026/20261123/x").is_some());
        assert!(tpl.match_start("2025/20261123/x").is_none());
        assert!(!tpl.has_hour());
        assert_eq!(
            tpl.match_start("2026/20261123/x").unwrap().period,
            t("2026-11-23T00:00")
        );
    }

    #[test]
    fn template_errors_are_clear() {
        assert!(
            Template::parse("{yyyy}/{mm}/", key_chars)
                .unwrap_err()
                .contains("unknown token `{mm}`")
        );
        assert!(
            Template::parse("{yyyy", key_chars)
                .unwrap_err()
                .contains("unclosed")
        );
        assert!(
            Template::parse("x'{yyyy}", key_chars)
                .unwrap_err()
                .contains("'\\''")
        );
        assert!(Template::parse("", key_chars).is_err());
    }

    #[test]
    fn granularity_truncates_and_steps() {
        assert_eq!(
            Granularity::Hour.truncate(t("2026-11-23T10:59")),
            t("2026-11-23T10:00")
        );
        assert_eq!(
            Granularity::Day.truncate(t("2026-11-23T10:59")),
            t("2026-11-23T00:00")
        );
        assert_eq!(Granularity::Day.step(), chrono::Duration::days(1));
    }

    fn source_keys() -> KeyRules {
        let rule = |json: &str| {
            crate::named_keys::KeyRule::from_input(serde_json::from_str(json).unwrap()).unwrap()
        };
        KeyRules::new(BTreeMap::from([
            ("source".to_string(), rule(r#"{"values": ["web", "app"]}"#)),
            (
                "tenant".to_string(),
                rule(r#"{"pattern": "a-z0-9", "max_len": 8}"#),
            ),
        ]))
    }

    #[test]
    fn named_keys_take_the_rest_of_their_segment_unchecked() {
        let keys = source_keys();
        let tpl = Template::parse_with_keys(
            "source={source}/dt={yyyy}-{MM}-{dd}/hour={HH}/",
            key_chars,
            &keys,
        )
        .unwrap();
        assert_eq!(tpl.key_names(), vec!["source"]);
        assert!(tpl.keys_not_ending_a_segment().is_empty());
        let m = tpl
            .match_start("source=web/dt=2026-11-23/hour=10/part-0.gz")
            .unwrap();
        assert_eq!(m.period, t("2026-11-23T10:00"));
        assert_eq!(m.raw_keys["source"], "web");
        assert_eq!(m.used, "source=web/dt=2026-11-23/hour=10/".len());
        // Not checked here: the table checks values against their rules.
        let m = tpl
            .match_start("source=we'b/dt=2026-11-23/hour=10/x")
            .unwrap();
        assert_eq!(m.raw_keys["source"], "we'b");
        for bad in [
            "source=web",                        // no segment end
            "source=web/dt=2026-11-23/hour=1/x", // time still strict
            "src=web/dt=2026-11-23/hour=10/x",   // other literal
        ] {
            assert!(tpl.match_start(bad).is_none(), "{bad}");
        }
        let rendered = keys
            .check(BTreeMap::from([
                ("source".to_string(), "app".to_string()),
                ("tenant".to_string(), "t1".to_string()),
            ]))
            .unwrap();
        assert_eq!(
            tpl.render(t("2026-11-23T10:00"), &rendered),
            "source=app/dt=2026-11-23/hour=10/"
        );
    }

    #[test]
    fn a_repeated_key_must_repeat_its_value() {
        let keys = source_keys();
        let tpl = Template::parse_with_keys("{tenant}/{yyyy}{MM}{dd}/{tenant}/", key_chars, &keys)
            .unwrap();
        assert!(tpl.match_start("t1/20261123/t1/x").is_some());
        assert!(tpl.match_start("t1/20261123/t2/x").is_none());
    }

    #[test]
    fn keys_must_be_configured_and_listing_needs_them_before_the_time() {
        let keys = source_keys();
        let e = Template::parse_with_keys("region={region}/{yyyy}/{MM}/{dd}/", key_chars, &keys)
            .unwrap_err();
        assert!(
            e.contains("unknown token `{region}`") && e.contains("named keys: {source}, {tenant}"),
            "{e}"
        );
        let e = Template::parse("source={source}/{yyyy}/", key_chars).unwrap_err();
        assert!(e.contains("named keys: none configured"), "{e}");
        let tpl = Template::parse_with_keys(
            "tenant={tenant}/source={source}-x/{yyyy}/{MM}/{dd}/{source}/",
            key_chars,
            &keys,
        )
        .unwrap();
        assert_eq!(tpl.keys_not_ending_a_segment(), vec!["source"]);
        assert!(!tpl.time_before_key("tenant") && !tpl.time_before_key("source"));
        assert_eq!(
            tpl.prefix_before_key("tenant", &BTreeMap::new()).as_deref(),
            Some("tenant=")
        );
        assert_eq!(tpl.prefix_before_key("source", &BTreeMap::new()), None);
        let known = BTreeMap::from([("tenant".to_string(), "t1".to_string())]);
        assert_eq!(
            tpl.prefix_before_key("source", &known).as_deref(),
            Some("tenant=t1/source=")
        );
        let late = Template::parse_with_keys("{yyyy}/{MM}/{dd}/tenant={tenant}/", key_chars, &keys)
            .unwrap();
        assert!(late.time_before_key("tenant"));
        assert_eq!(late.prefix_before_key("tenant", &known), None);
    }
}
