//! S3 object keys as event notifications carry them (direct, through SQS or SNS, and EventBridge
//! "Object Created"): form-URL-encoded, a space as `+` and everything else outside the unreserved
//! set as `%XX` (UTF-8 bytes). Decoding turns `+` into a space *before* decoding `%XX`, so a
//! literal plus (sent as `%2B`) survives.

use percent_encoding::percent_decode_str;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyDecodeError {
    #[error("key is not valid UTF-8 after %-decoding")]
    NotUtf8,
    #[error("key contains a control character after decoding")]
    ControlCharacter,
}

/// Decodes a form-URL-encoded S3 notification key: `+` to space first, then `%XX`.
/// A malformed escape (`%G1`, a trailing `%`) is kept literally, as S3 itself never sends one.
pub fn decode_key(raw: &str) -> Result<String, KeyDecodeError> {
    let spaced = raw.replace('+', " ");
    let decoded = percent_decode_str(&spaced)
        .decode_utf8()
        .map_err(|_| KeyDecodeError::NotUtf8)?
        .into_owned();
    if decoded.chars().any(char::is_control) {
        return Err(KeyDecodeError::ControlCharacter);
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_is_a_space_and_percent_two_b_a_plus() {
        assert_eq!(
            decode_key("dt%3D2026-11-23/a+b%2Bc.json").unwrap(),
            "dt=2026-11-23/a b+c.json"
        );
        assert_eq!(decode_key("caf%C3%A9").unwrap(), "café");
        assert_eq!(decode_key("%FF"), Err(KeyDecodeError::NotUtf8));
        assert_eq!(decode_key("a%0Ab"), Err(KeyDecodeError::ControlCharacter));
    }
}
