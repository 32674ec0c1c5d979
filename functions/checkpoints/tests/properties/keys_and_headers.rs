//! Object keys and `_metadata` headers: whatever the bucket holds, classifying never panics,
//! and what Flink writes classifies back to where it came from.

use checkpoints::{
    FlinkObject, Locations, METADATA_MAGIC, MetadataVerdict, check_header, point_directory,
};
use proptest::prelude::*;

fn locations() -> Locations {
    Locations::new("flink/checkpoints/", "flink/savepoints/", None).unwrap()
}

fn job_id() -> impl Strategy<Value = String> {
    "[0-9a-f]{32}"
}

/// Keys near the real ones and far from them: unicode, doubled and trailing slashes, `..`,
/// percent signs, control characters.
fn any_key() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,200}",
        "(flink/(checkpoints|savepoints)/)?[a-z0-9/._%-]{0,80}(_metadata)?",
        (job_id(), any::<u64>(), "[a-zA-Z0-9_./-]{0,30}")
            .prop_map(|(j, n, f)| format!("flink/checkpoints/{j}/chk-{n}/{f}")),
    ]
}

proptest! {
    #[test]
    fn any_key_classifies_without_a_panic(key in any_key()) {
        let _ = locations().classify(&key);
    }

    #[test]
    fn a_checkpoint_key_classifies_back_to_its_job_id_and_directory(job in job_id(), id in any::<u64>()) {
        let dir = format!("flink/checkpoints/{job}/chk-{id}/");
        prop_assert_eq!(
            locations().classify(&format!("{dir}_metadata")),
            FlinkObject::Checkpoint { job_id: job.clone(), checkpoint_id: id, dir: dir.clone() }
        );
    }

    #[test]
    fn a_savepoint_key_classifies_back_to_its_job_prefix(prefix in "[0-9a-f]{6}", suffix in "[0-9a-f]{12}") {
        let dir = format!("flink/savepoints/savepoint-{prefix}-{suffix}/");
        match locations().classify(&format!("{dir}_metadata")) {
            FlinkObject::Savepoint { job_prefix, dir: got, .. } => {
                prop_assert_eq!(job_prefix, prefix);
                prop_assert_eq!(got, dir);
            }
            other => prop_assert!(false, "{other:?}"),
        }
    }

    /// Any bytes: a verdict, never a panic; Flink's magic and a version read back.
    #[test]
    fn any_header_gets_a_verdict(size in any::<i64>(), head in prop::collection::vec(any::<u8>(), 0..40)) {
        let _ = check_header(size, &head);
    }

    #[test]
    fn a_flink_header_reads_back_its_version_and_id(version in 2u32..100, id in any::<u64>(), rest in prop::collection::vec(any::<u8>(), 0..16)) {
        let mut head = METADATA_MAGIC.to_be_bytes().to_vec();
        head.extend(version.to_be_bytes());
        head.extend(id.to_be_bytes());
        head.extend(rest);
        prop_assert_eq!(
            check_header(head.len() as i64, &head),
            MetadataVerdict::Valid { version, checkpoint_id: Some(id) }
        );
    }

    /// Every way a restore path is written reads as the directory the book writes.
    #[test]
    fn a_restore_path_reads_as_the_books_directory(
        bucket in "[a-z0-9][a-z0-9.-]{2,20}",
        dir in "[a-zA-Z0-9_-]{1,12}(/[a-zA-Z0-9_-]{1,12}){0,4}",
        scheme in prop::sample::select(vec!["s3://", "s3a://", "s3n://", "s3p://"]),
        tail in prop::sample::select(vec!["", "/", "/_metadata", "//"]),
    ) {
        let book = format!("s3://{bucket}/{dir}/");
        let written = format!("{scheme}{bucket}/{dir}{tail}");
        prop_assert_eq!(point_directory(&written), book.clone());
        prop_assert_eq!(point_directory(&book), book);
    }

    #[test]
    fn any_restore_path_reads_without_a_panic_and_ends_in_a_slash(path in ".{0,120}") {
        let d = point_directory(&path);
        prop_assert!(d.ends_with('/'));
        prop_assert_eq!(point_directory(&d), d.clone(), "idempotent");
    }
}
