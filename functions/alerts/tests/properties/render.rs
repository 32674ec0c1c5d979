//! Rendering any alert: the SNS subject is 1 to 99 printable ASCII characters starting with
//! a letter, digit or punctuation mark; message plus attributes fit in 256 KB in every format;
//! the JSON formats stay valid JSON; attribute values are never empty (SNS refuses them).

use alerts::model::Alert;
use alerts::render::{
    MAX_PUBLISH_BYTES, MAX_SUBJECT_CHARS, MessageFormat, SnsMessage, TRUNCATION_MARKER, ascii_only,
    fit_text, render,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::r#gen::{alert, long_text, text};

pub const FORMATS: [MessageFormat; 4] = [
    MessageFormat::Text,
    MessageFormat::Json,
    MessageFormat::Chatbot,
    MessageFormat::PagerDuty,
];

pub fn check_message(m: &SnsMessage, format: MessageFormat) -> Result<(), TestCaseError> {
    let s = &m.subject;
    prop_assert!(
        !s.is_empty() && s.chars().count() <= MAX_SUBJECT_CHARS,
        "subject {s:?}"
    );
    prop_assert!(
        s.bytes().all(|b| b.is_ascii_graphic() || b == b' '),
        "subject {s:?}"
    );
    prop_assert!(s.as_bytes()[0].is_ascii_graphic(), "subject {s:?}");
    prop_assert!(!m.body.is_empty());
    prop_assert!(
        m.size() <= MAX_PUBLISH_BYTES,
        "{format:?}: {} bytes",
        m.size()
    );
    for (name, value) in &m.attributes {
        prop_assert!(!value.is_empty(), "attribute {name} is empty");
    }
    if format != MessageFormat::Text {
        let parsed = serde_json::from_str::<serde_json::Value>(&m.body);
        prop_assert!(parsed.is_ok(), "{format:?} body is not JSON: {parsed:?}");
    }
    Ok(())
}

pub fn check_all_formats(a: &Alert) -> Result<(), TestCaseError> {
    for f in FORMATS {
        check_message(&render(a, f), f)?;
    }
    Ok(())
}

proptest! {
    #[test]
    fn any_alert_renders_within_sns_limits(a in alert()) {
        check_all_formats(&a)?;
    }

    #[test]
    fn ascii_only_is_bounded_printable_ascii(raw in long_text(), max in 4usize..300) {
        let s = ascii_only(&raw, max);
        prop_assert!(s.len() <= max, "{} > {max}", s.len());
        prop_assert!(s.bytes().all(|b| b.is_ascii_graphic() || b == b' '), "{s:?}");
        prop_assert!(!s.starts_with(' ') && !s.ends_with(' ') && !s.contains("  "), "{s:?}");
        // Nothing printable is lost unless it had to be cut.
        let printable: String = raw.chars().filter(|c| c.is_ascii_graphic()).collect();
        let kept: String = s.chars().filter(|c| c.is_ascii_graphic()).collect();
        if !s.ends_with("...") {
            prop_assert_eq!(kept.len(), printable.len() + raw.chars().filter(|c| !c.is_ascii() && !c.is_whitespace() && !c.is_control()).count());
        }
    }

    #[test]
    fn fit_text_keeps_what_fits_and_cuts_on_a_char_boundary(body in long_text(), limit in 64usize..300_000) {
        let cut = fit_text(body.clone(), limit);
        prop_assert!(cut.len() <= limit);
        if body.len() <= limit {
            prop_assert_eq!(cut, body);
        } else {
            let kept = cut.strip_suffix(TRUNCATION_MARKER).expect("the marker ends a cut body");
            prop_assert!(body.starts_with(kept));
        }
    }

    #[test]
    fn a_subject_keeps_the_severity_and_readable_title(a in alert(), title in text(30)) {
        let mut a = a;
        a.title = title;
        let s = alerts::render::subject(&a);
        prop_assert!(s.starts_with(&format!("{}:", a.severity.as_str().to_ascii_uppercase())), "{s:?}");
    }
}
