//! The retention plan over generated books: whatever the points, lineage, pins, claims and
//! policy, it never lets go of the latest restorable point, a pinned one, a restore source
//! (however its path was written), a claimed one, a corrupt one, or a retained checkpoint.

use checkpoints::{
    CheckpointRecord, JobLineage, PointKind, PointStatus, RestoreMode, RetentionPolicy,
    claimed_points, plan_retention,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use std::collections::HashSet;

const JOBS: [&str; 3] = [
    "a1b2c3d4e5f60718293a4b5c6d7e8f90",
    "ffeedd00112233445566778899aabbcc",
    "0123456789abcdef0123456789abcdef",
];

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap()
}

fn status() -> impl Strategy<Value = PointStatus> {
    prop::sample::select(vec![
        PointStatus::Restorable,
        PointStatus::Restorable,
        PointStatus::Corrupt,
        PointStatus::Subsumed,
        PointStatus::Pruning,
        PointStatus::Pruned,
    ])
}

fn point() -> impl Strategy<Value = CheckpointRecord> {
    (
        0..3usize,
        any::<bool>(),
        1u64..50,
        0i64..200,
        status(),
        any::<bool>(),
    )
        .prop_map(|(job, savepoint, id, age_h, status, pinned)| {
            let job_id = JOBS[job].to_string();
            let (kind, dir) = if savepoint {
                (
                    PointKind::Savepoint,
                    format!("flink/savepoints/savepoint-{}-{id:012x}/", &job_id[..6]),
                )
            } else {
                (
                    PointKind::Checkpoint,
                    format!("flink/checkpoints/{job_id}/chk-{id}/"),
                )
            };
            CheckpointRecord {
                pipeline: "clicks".into(),
                job_id,
                kind,
                checkpoint_id: Some(id),
                location: format!("s3://b/{dir}"),
                dir,
                size: 1024,
                completed_at: now() - Duration::hours(age_h),
                etag: None,
                status,
                pinned,
                detail: None,
                trigger: None,
            }
        })
}

proptest! {
    #[test]
    fn a_prune_never_lets_go_of_what_the_book_needs(
        mut points in prop::collection::vec(point(), 0..24),
        sources in prop::collection::vec((any::<prop::sample::Index>(), 0..3usize, prop::sample::select(vec!["", "/", "/_metadata"])), 0..4),
        keep_savepoints in 0usize..4,
        min_age_hours in 0i64..48,
        latest_pick in prop::option::of(any::<prop::sample::Index>()),
    ) {
        // One record per location, as the book holds them.
        let mut seen = HashSet::new();
        points.retain(|p| seen.insert(p.location.clone()));
        let modes = [RestoreMode::Claim, RestoreMode::NoClaim, RestoreMode::Legacy];
        let lineage: Vec<JobLineage> = if points.is_empty() { Vec::new() } else {
            sources.iter().enumerate().map(|(n, (i, m, tail))| {
                let from = i.get(&points).location.trim_end_matches('/').to_string() + tail;
                JobLineage {
                    pipeline: "clicks".into(),
                    job_id: format!("{n:032x}"),
                    restored_from: Some(from),
                    restore_mode: Some(modes[*m]),
                    registered_at: now(),
                }
            }).collect()
        };
        let latest: HashSet<String> = latest_pick
            .filter(|_| !points.is_empty())
            .map(|i| i.get(&points).location.clone())
            .into_iter()
            .collect();
        let claimed = claimed_points(&points, &lineage);
        let policy = RetentionPolicy { keep_savepoints, min_age_hours };
        let plan = plan_retention(&points, &lineage, &claimed, &latest, &policy, now());
        prop_assert_eq!(plan.len(), points.len());
        let sources: HashSet<String> = lineage
            .iter()
            .filter_map(|j| j.restored_from.as_deref().map(checkpoints::point_directory))
            .collect();
        for (p, d) in points.iter().zip(&plan) {
            prop_assert_eq!(&d.location, &p.location);
            if !d.prune {
                continue;
            }
            let why = format!("{p:?} pruned");
            // A point marked `pruning` is finished whatever else holds (a prune stopped half-way).
            if p.status == PointStatus::Pruning {
                continue;
            }
            prop_assert!(!latest.contains(&p.location), "latest: {}", why);
            prop_assert!(!p.pinned, "pinned: {}", why);
            prop_assert!(!sources.contains(&p.location), "restore source: {}", why);
            prop_assert!(!claimed.contains_key(&p.location), "claimed: {}", why);
            prop_assert!(p.status != PointStatus::Corrupt, "corrupt: {}", why);
            prop_assert!(
                !(p.kind == PointKind::Checkpoint && p.status == PointStatus::Restorable),
                "retained by Flink: {}", why
            );
            prop_assert!(now() - p.completed_at >= Duration::hours(min_age_hours), "too young: {}", why);
        }
    }
}
