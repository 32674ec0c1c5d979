//! Text that came from outside (alarm names, reasons) made safe to show, and shortened for
//! people: shared by the alerts bodies and the scaler's decision records.

use std::borrow::Cow;

/// What marks a shortened text.
pub const ELLIPSIS: char = '…';

/// Whether `c` must not reach a one-line field of a message: control characters (C0, DEL, C1:
/// CR, LF, tab, NEL...), the line and paragraph separators, and the bidirectional formatting
/// characters that reorder what a reader sees (U+202A..U+202E embeddings and overrides,
/// U+2066..U+2069 isolates, U+200E/U+200F/U+061C marks).
pub fn is_unsafe_inline(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{061C}'
        )
}

/// `s` on one line with nothing that reorders or hides text: white-space controls (CR, LF,
/// tab...) become a space, every other unsafe character (see [`is_unsafe_inline`]) the visible
/// replacement character U+FFFD. Borrowed when there is nothing to clean (the common case).
pub fn clean_inline(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe_inline) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if !is_unsafe_inline(c) {
                    c
                } else if c.is_whitespace() {
                    ' '
                } else {
                    '\u{FFFD}'
                }
            })
            .collect(),
    )
}

/// At most `max_chars` characters: a longer text is cut at the last word boundary that fits
/// (inside a word only when there is none in the second half of the budget) and ends with
/// [`ELLIPSIS`], which counts towards the budget.
pub fn shorten_at_word(s: &str, max_chars: usize) -> Cow<'_, str> {
    if s.chars().count() <= max_chars {
        return Cow::Borrowed(s);
    }
    if max_chars == 0 {
        return Cow::Borrowed("");
    }
    let budget = max_chars - 1; // the ellipsis
    let end = s
        .char_indices()
        .nth(budget)
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    let head = &s[..end];
    // A cut exactly before white space is already at a word boundary.
    let at_boundary = s[end..].starts_with(char::is_whitespace);
    let cut = if at_boundary {
        head
    } else {
        match head.rfind(char::is_whitespace) {
            Some(space) if head[..space].chars().count() >= budget / 2 => &head[..space],
            _ => head,
        }
    };
    let cut = cut.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':'));
    Cow::Owned(format!("{cut}{ELLIPSIS}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_inline_flattens_lines_and_neutralises_bidi_overrides() {
        assert!(matches!(clean_inline("plain-name"), Cow::Borrowed(_)));
        assert_eq!(clean_inline("a\r\nb\tc"), "a  b c");
        // U+202E would show "gpj.exe" as "exe.jpg"; U+2066 opens an isolate.
        assert_eq!(
            clean_inline("x\u{202E}gpj.exe\u{2066}y\u{0085}z\u{7f}"),
            "x\u{FFFD}gpj.exe\u{FFFD}y z\u{FFFD}"
        );
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{2067}', '\u{2069}',
        ] {
            assert!(!clean_inline(&format!("a{c}b")).contains(c));
        }
        assert_eq!(clean_inline("naïve 🚨 name"), "naïve 🚨 name");
    }

    #[test]
    fn shorten_cuts_at_a_word_boundary_with_an_ellipsis() {
        assert_eq!(shorten_at_word("short", 10), "short");
        let reason =
            "Threshold Crossed: 3 out of the last 3 datapoints were greater than the threshold";
        let cut = shorten_at_word(reason, 30);
        assert_eq!(cut, "Threshold Crossed: 3 out of…");
        assert!(cut.chars().count() <= 30);
        // No boundary in reach: cut inside the word, still bounded.
        let word = "x".repeat(50);
        let cut = shorten_at_word(&word, 10);
        assert_eq!(cut.chars().count(), 10);
        assert!(cut.ends_with(ELLIPSIS));
        // A cut that falls just before a space keeps the whole last word.
        assert_eq!(shorten_at_word("aaaa bbbb cccc", 10), "aaaa bbbb…");
        assert_eq!(shorten_at_word("ééééé ééééé", 8), "ééééé…");
    }
}
