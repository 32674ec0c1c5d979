//! The minimal inputs of the bugs the generated-input tests (`tests/properties/`) found, each a
//! plain test named for what it checks, so the bug stays fixed whatever the property's seeds.

use streamops_shared::http::parse_response;

/// Found by `misc::any_response_reads_or_fails_without_panicking`: a chunk size of
/// `ffffffffffffffff` overflowed `size + 2` (a panic in debug builds, a slice out of range in
/// release ones).
#[test]
fn a_chunk_size_near_usize_max_is_a_truncated_chunk_not_a_panic() {
    for size in ["ffffffffffffffff", "fffffffffffffffe", "fffffffffffffffd"] {
        let raw = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\nabc\r\n0\r\n\r\n");
        assert_eq!(
            parse_response(raw.as_bytes()),
            Err("truncated chunk".to_string()),
            "{size}"
        );
    }
}
