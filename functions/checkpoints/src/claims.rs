//! Ownership after a CLAIM restore: the restored job owns the snapshot it was started from, and
//! its Flink deletes that snapshot's files once its own checkpoints no longer need them. The
//! old job's points that share those files are then no longer the book's to offer.
//!
//! Derived from the lineage when the book is read (not stored), so it holds whoever
//! registered the restore (the `register-job` command or the scaler's savepoint rescale) and
//! in whichever order the registration and the points' events arrived.

use std::collections::BTreeMap;

use crate::book::{CheckpointRecord, JobLineage, PointStatus, RestoreMode, point_directory};
use crate::layout::PointKind;

/// The points taken over by CLAIM restores, each with the job that claimed it: the point a
/// job was restored from, and when that is a checkpoint, every other checkpoint of the same
/// job (incremental checkpoints share the files under `shared/`, which the claiming job's Flink
/// deletes when it subsumes the claimed one). Savepoints are self-contained: a CLAIM restore
/// from one takes only that savepoint.
pub fn claimed_points(
    points: &[CheckpointRecord],
    lineage: &[JobLineage],
) -> BTreeMap<String, String> {
    let mut claimed = BTreeMap::new();
    for job in lineage
        .iter()
        .filter(|j| j.restore_mode == Some(RestoreMode::Claim))
    {
        let Some(from) = job.restored_from.as_deref().map(point_directory) else {
            continue;
        };
        let Some(source) = points.iter().find(|p| point_directory(&p.location) == from) else {
            continue;
        };
        let sharing = |p: &&CheckpointRecord| {
            p.location == source.location
                || (source.kind == PointKind::Checkpoint
                    && p.kind == PointKind::Checkpoint
                    && p.job_id == source.job_id)
        };
        for p in points.iter().filter(sharing) {
            // The first claim registered keeps the point; a later one cannot own it more.
            claimed
                .entry(p.location.clone())
                .or_insert_with(|| job.job_id.clone());
        }
    }
    claimed
}

/// `points` as they stand once the claims are applied: a restorable point another job claimed
/// reads [`PointStatus::Claimed`], so it is never offered for restore. Returns the claims.
pub fn apply_claims(
    points: &mut [CheckpointRecord],
    lineage: &[JobLineage],
) -> BTreeMap<String, String> {
    let claimed = claimed_points(points, lineage);
    for p in points.iter_mut() {
        if p.status == PointStatus::Restorable && claimed.contains_key(&p.location) {
            p.status = PointStatus::Claimed;
        }
    }
    claimed
}
