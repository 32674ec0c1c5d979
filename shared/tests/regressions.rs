//! The minimal inputs of the bugs the generated-input tests (`tests/properties/`) found, each a
//! plain test named for what it checks, so the bug stays fixed whatever the property's seeds.

use serde_json::json;
use streamops_shared::alarm::region_code;
use streamops_shared::http::{parse_endpoint, parse_response};
use streamops_shared::object_event::{self, Item, ParseError, Skip};

/// Found by `misc::any_response_reads_or_fails_without_panicking`: a chunk size of
/// `ffffffffffffffff` overflowed `size + 2` (a panic in debug builds, a slice out of range in
/// release ones).
#[test]
fn a_chunk_size_near_usize_max_is_a_truncated_chunk_not_a_panic() {
    for size in ["ffffffffffffffff", "fffffffffffffffe", "fffffffffffffffd"] {
        let raw = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\nabc\r\n0\r\n\r\n"
        );
        assert_eq!(
            parse_response(raw.as_bytes()),
            Err("truncated chunk".to_string()),
            "{size}"
        );
    }
}

/// Found by `misc::endpoints_are_plain_hosts_or_errors_that_quote_them`: `http://':0/` read as
/// host `'`; any text up to the last colon was a host, CR/LF included, and went into the `Host:`
/// header of the request (`verify` takes its endpoint from an ops command).
#[test]
fn endpoint_hosts_with_quotes_spaces_line_breaks_or_user_info_are_errors() {
    for url in [
        "http://':0/",
        "http://job manager:8081",
        "http://jm\r\nX-Injected: 1:8081",
        "http://user@jm:8081",
        "http://jm:8081:8082",
        "http://[::1:8081",
    ] {
        let e = parse_endpoint(url).unwrap_err();
        assert!(e.contains(&format!("{url:?}")), "{url}: {e}");
    }
    assert_eq!(
        parse_endpoint("http://[::1]:8081"),
        Ok(("[::1]".into(), 8081))
    );
    assert_eq!(
        parse_endpoint("http://ip-10-0-3-7.ec2.internal:8081/"),
        Ok(("ip-10-0-3-7.ec2.internal".into(), 8081))
    );
}

/// Found by `alarm::region_names_and_arns`: display names matched in any case except the newer
/// "Europe (...)" spelling, whose prefix was rewritten only when spelled exactly so.
#[test]
fn europe_display_names_match_in_any_case_like_the_others() {
    for name in [
        "Europe (Frankfurt)",
        "EUROPE (FRANKFURT)",
        "europe (frankfurt)",
        "EU (FRANKFURT)",
    ] {
        assert_eq!(region_code(name), Some("eu-central-1"), "{name}");
    }
    assert_eq!(region_code("US EAST (N. VIRGINIA)"), Some("us-east-1"));
    assert_eq!(region_code("Europe (Atlantis)"), None);
}

/// Found by `object_event::edited_fixtures_read_as_objects_and_skips_or_fail_clearly`: serde reads
/// a struct from a JSON array field by field, so an SQS record `["m-1"]` read as a message with
/// id `m-1` (and `[]` as one without), and an S3 record array likewise.
#[test]
fn event_records_that_are_arrays_are_malformed_not_read_by_position() {
    let sqs = json!({"Records": [
        {"messageId": "m-0", "eventSource": "aws:sqs", "body": "{}"},
        ["m-1", "rh", "{}"]
    ]});
    match object_event::parse(sqs) {
        Err(ParseError::Malformed { what, error }) => {
            assert_eq!(
                (what, error.as_str()),
                ("SQS event", "record #2 is not a JSON object")
            )
        }
        other => panic!("{other:?}"),
    }
    let s3 = json!({"Records": [{"eventSource": "aws:s3"}, ["2.1", "aws:s3"]]});
    assert!(matches!(
        object_event::parse(s3),
        Err(ParseError::Malformed {
            what: "S3 event",
            ..
        })
    ));
    // Inside a queue message the same notification is a skip, the other messages still read.
    let batch = object_event::parse(json!({"Records": [
        {"messageId": "m-0", "eventSource": "aws:sqs", "body": "{\"Records\": [[]]}"}
    ]}))
    .unwrap();
    assert_eq!(
        batch.messages[0].items,
        vec![Item::Skipped(Skip::UnrecognizedMessage)]
    );
}
