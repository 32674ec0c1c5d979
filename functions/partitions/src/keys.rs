//! Object keys as S3 notifications carry them, and the rules that skip objects which are not data.
//!
//! S3 event notifications (direct, through SQS or SNS, and EventBridge "Object Created") carry the
//! key form-URL-encoded: a space arrives as `+` and everything else outside the unreserved set as
//! `%XX` (UTF-8 bytes). Decoding turns `+` into a space *before* decoding `%XX`, so a literal plus
//! (sent as `%2B`) survives.

use std::fmt;

use serde::Serialize;

/// Why an object (or a whole message) was not turned into a partition. Every skip is counted in
/// the `ObjectsSkipped` metric under `reason` and logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The `s3:TestEvent` S3 sends when a notification configuration is saved.
    TestEvent,
    /// An S3 event that is neither an object creation nor a removal (restore, tagging, ACL, ...).
    NotObjectCreated,
    /// A queue message whose body is not JSON.
    UnparseableMessage,
    /// A queue message that is JSON but not an S3, SNS-wrapped S3 or EventBridge S3 event.
    UnrecognizedMessage,
    /// The bucket and key match no configured table.
    NoMatchingTable,
    /// Under a table's Firehose error output prefix (records Firehose failed to deliver).
    FirehoseErrorOutput,
    /// A key ending in `/`: a console "folder" or directory marker.
    DirectoryMarker,
    /// `*_$folder$`: the directory marker Hadoop S3 clients (EMR) write.
    FolderMarker,
    /// `_SUCCESS`: the marker Spark and Hadoop jobs write on commit.
    SuccessMarker,
    /// A Flink temporary object: in-progress (`.inprogress`, `.in-progress`), pending or `_tmp_` part files.
    FlinkTemporary,
    /// Any other basename starting with `_` or `.` (hidden files Athena ignores anyway).
    HiddenFile,
    /// An object of zero bytes.
    ZeroBytes,
    /// The key could not be decoded (bad `%XX` escape or not UTF-8).
    UndecodableKey,
    /// The key does not match the table's layout, or a value fails validation: poison, never SQL.
    InvalidKey,
    /// Under an Iceberg table's prefix: Iceberg's own metadata lists its files, so there is no
    /// partition to register (acknowledged and counted, not an error).
    IcebergTable,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::TestEvent => "test_event",
            SkipReason::NotObjectCreated => "not_object_created",
            SkipReason::UnparseableMessage => "unparseable_message",
            SkipReason::UnrecognizedMessage => "unrecognized_message",
            SkipReason::NoMatchingTable => "no_matching_table",
            SkipReason::FirehoseErrorOutput => "firehose_error_output",
            SkipReason::DirectoryMarker => "directory_marker",
            SkipReason::FolderMarker => "folder_marker",
            SkipReason::SuccessMarker => "success_marker",
            SkipReason::FlinkTemporary => "flink_temporary",
            SkipReason::HiddenFile => "hidden_file",
            SkipReason::ZeroBytes => "zero_bytes",
            SkipReason::UndecodableKey => "undecodable_key",
            SkipReason::InvalidKey => "invalid_key",
            SkipReason::IcebergTable => "iceberg_table",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub use streamops_shared::s3key::decode_key;

/// The rules that do not depend on the table: returns the reason to skip a decoded key, if any.
/// `size` is the object size from the event (`None` when the event does not say).
pub fn skip_reason(key: &str, size: Option<i64>) -> Option<SkipReason> {
    if key.is_empty() || key.ends_with('/') {
        return Some(SkipReason::DirectoryMarker);
    }
    let basename = key.rsplit('/').next().unwrap_or(key);
    if basename.ends_with("_$folder$") {
        return Some(SkipReason::FolderMarker);
    }
    if basename == "_SUCCESS" {
        return Some(SkipReason::SuccessMarker);
    }
    if is_flink_temporary(basename) {
        return Some(SkipReason::FlinkTemporary);
    }
    if basename.starts_with('_') || basename.starts_with('.') {
        return Some(SkipReason::HiddenFile);
    }
    if size == Some(0) {
        return Some(SkipReason::ZeroBytes);
    }
    None
}

/// Flink's file sinks write part files under temporary names and rename them on checkpoint:
/// `FileSink` uses `.part-<uid>-<n>.inprogress.<uuid>`, the older `BucketingSink` and
/// `StreamingFileSink` `_part-<n>-<m>.in-progress` / `.pending`, and S3 multipart staging `_tmp_`.
fn is_flink_temporary(basename: &str) -> bool {
    basename.contains(".inprogress")
        || basename.contains(".in-progress")
        || basename.ends_with(".pending")
        || (basename.starts_with('_') && basename.contains("_tmp_"))
        || (basename.starts_with('.') && basename.contains("_tmp_"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use streamops_shared::s3key::KeyDecodeError;

    #[test]
    fn plus_is_a_space_and_percent_escapes_decode_after_it() {
        assert_eq!(
            decode_key("dt%3D2026-11-23/hour%3D10/a+b.gz").unwrap(),
            "dt=2026-11-23/hour=10/a b.gz"
        );
        assert_eq!(
            decode_key("x/10%3A15%3A00.json").unwrap(),
            "x/10:15:00.json"
        );
        // A literal plus is sent as %2B and must not become a space.
        assert_eq!(decode_key("a%2Bb+c").unwrap(), "a+b c");
        // Non-ASCII: UTF-8 bytes, each %-escaped.
        assert_eq!(
            decode_key("r%C3%A9gion/%E6%97%A5%E6%9C%AC.json").unwrap(),
            "région/日本.json"
        );
        assert_eq!(decode_key("plain/key.json").unwrap(), "plain/key.json");
    }

    #[test]
    fn undecodable_keys_are_errors() {
        assert_eq!(decode_key("bad%FF%FE"), Err(KeyDecodeError::NotUtf8));
        assert_eq!(decode_key("a%0Ab"), Err(KeyDecodeError::ControlCharacter));
        assert_eq!(decode_key("nul%00"), Err(KeyDecodeError::ControlCharacter));
    }

    #[test]
    fn every_skip_rule_has_its_reason() {
        let cases = [
            (
                "enriched/2026/11/23/10/",
                Some(0),
                Some(SkipReason::DirectoryMarker),
            ),
            (
                "enriched/2026_$folder$",
                Some(0),
                Some(SkipReason::FolderMarker),
            ),
            (
                "enriched/2026/11/23/10/_SUCCESS",
                Some(0),
                Some(SkipReason::SuccessMarker),
            ),
            (
                "out/2026-11-23--10/.part-0a1b-0.inprogress.5c1e",
                Some(10),
                Some(SkipReason::FlinkTemporary),
            ),
            (
                "out/2026-11-23--10/_part-0-3.in-progress",
                Some(10),
                Some(SkipReason::FlinkTemporary),
            ),
            (
                "out/2026-11-23--10/_part-0-3.pending",
                Some(10),
                Some(SkipReason::FlinkTemporary),
            ),
            (
                "out/2026-11-23--10/_part-0-3_tmp_abc",
                Some(10),
                Some(SkipReason::FlinkTemporary),
            ),
            (
                "enriched/2026/11/23/10/_metadata",
                Some(10),
                Some(SkipReason::HiddenFile),
            ),
            (
                "enriched/2026/11/23/10/.hidden",
                Some(10),
                Some(SkipReason::HiddenFile),
            ),
            (
                "enriched/2026/11/23/10/empty.gz",
                Some(0),
                Some(SkipReason::ZeroBytes),
            ),
            ("enriched/2026/11/23/10/data.gz", Some(10), None),
            ("enriched/2026/11/23/10/data.gz", None, None),
            ("out/2026-11-23--10/part-0a1b-0", Some(10), None),
        ];
        for (key, size, want) in cases {
            assert_eq!(skip_reason(key, size), want, "{key}");
        }
    }

    #[test]
    fn reasons_have_stable_metric_names() {
        assert_eq!(SkipReason::TestEvent.as_str(), "test_event");
        assert_eq!(SkipReason::InvalidKey.to_string(), "invalid_key");
        use SkipReason::*;
        for r in [
            TestEvent,
            NotObjectCreated,
            UnparseableMessage,
            UnrecognizedMessage,
            NoMatchingTable,
            FirehoseErrorOutput,
            DirectoryMarker,
            FolderMarker,
            SuccessMarker,
            FlinkTemporary,
            HiddenFile,
            ZeroBytes,
            UndecodableKey,
            InvalidKey,
        ] {
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                r.as_str(),
                "responses name skips as metrics do"
            );
        }
    }
}
