//! The book's records and the retention plan. Pure: what to keep and why is decided here, the
//! store and the pruner only carry it out.

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use streamops_shared::book_keys;

use crate::layout::PointKind;
use crate::savepoint::SavepointTrigger;

/// A job, or a pipeline (all its registered jobs; an unregistered job is its own pipeline).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    Pipeline(String),
    Job(String),
}

/// Which point of which job: the job id and the point's sort key in the book
/// ([`book_keys::checkpoint_sk`] / [`book_keys::savepoint_sk`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PointId {
    pub job_id: String,
    pub sk: String,
}

impl PointId {
    /// Checkpoints by id, savepoints by directory name.
    pub fn new(job_id: &str, kind: PointKind, checkpoint_id: Option<u64>, dir: &str) -> Self {
        let sk = match kind {
            PointKind::Checkpoint => book_keys::checkpoint_sk(checkpoint_id.unwrap_or_default()),
            PointKind::Savepoint => book_keys::savepoint_sk(dir),
        };
        Self {
            job_id: job_id.to_string(),
            sk,
        }
    }
}

impl std::fmt::Display for PointId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.job_id, self.sk)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointStatus {
    /// `_metadata` is there and looks like Flink's: Flink can restore from it.
    Restorable,
    /// Zero bytes or not Flink metadata: never offered as a restore point.
    Corrupt,
    /// Flink deleted the `_metadata` (a newer checkpoint subsumed it).
    Subsumed,
    /// Being deleted by a prune (marked before the first object goes; a later prune finishes it).
    Pruning,
    /// Deleted by our prune.
    Pruned,
    /// Another job was restored from it, or from a checkpoint sharing its state, in CLAIM mode:
    /// that job's Flink owns the files now. Derived from the lineage when read (`claims`),
    /// never stored; never offered for restore and never pruned by us.
    Claimed,
}

impl PointStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PointStatus::Restorable => "restorable",
            PointStatus::Corrupt => "corrupt",
            PointStatus::Subsumed => "subsumed",
            PointStatus::Pruning => "pruning",
            PointStatus::Pruned => "pruned",
            PointStatus::Claimed => "claimed",
        }
    }
}

impl FromStr for PointStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "restorable" => Ok(Self::Restorable),
            "corrupt" => Ok(Self::Corrupt),
            "subsumed" => Ok(Self::Subsumed),
            "pruning" => Ok(Self::Pruning),
            "pruned" => Ok(Self::Pruned),
            "claimed" => Ok(Self::Claimed),
            other => Err(format!("unknown status {other:?}")),
        }
    }
}

/// One checkpoint or savepoint in the book.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckpointRecord {
    pub pipeline: String,
    pub job_id: String,
    pub kind: PointKind,
    /// From the path (checkpoints) or the metadata header (savepoints, when readable).
    pub checkpoint_id: Option<u64>,
    /// `s3://bucket/dir/`: what Flink's `savepointPath` / `-s` takes.
    pub location: String,
    /// The directory's key prefix, ending in `/`.
    pub dir: String,
    pub size: i64,
    pub completed_at: DateTime<Utc>,
    pub etag: Option<String>,
    pub status: PointStatus,
    pub pinned: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Why a savepoint this function took exists (`savepoint` command); `None` for every
    /// point Flink took on its own or somebody else triggered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<SavepointTrigger>,
}

impl CheckpointRecord {
    pub fn id(&self) -> PointId {
        PointId::new(&self.job_id, self.kind, self.checkpoint_id, &self.dir)
    }

    /// Orders points for the latest pointers: completion time (the S3 event time of `_metadata`),
    /// which a reordered or redelivered event cannot change.
    pub fn order(&self) -> i64 {
        self.completed_at.timestamp_millis()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RestoreMode {
    /// The new job owns the restored snapshot (Flink deletes it when subsumed).
    Claim,
    /// The new job takes a full snapshot first and never references the old files after it.
    NoClaim,
    /// The new job may reference the old snapshot's files (incremental state) indefinitely.
    Legacy,
}

impl RestoreMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreMode::Claim => "CLAIM",
            RestoreMode::NoClaim => "NO_CLAIM",
            RestoreMode::Legacy => "LEGACY",
        }
    }
}

impl FromStr for RestoreMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "CLAIM" => Ok(Self::Claim),
            "NO_CLAIM" => Ok(Self::NoClaim),
            "LEGACY" => Ok(Self::Legacy),
            other => Err(format!(
                "unknown restore mode {other:?} (CLAIM, NO_CLAIM or LEGACY)"
            )),
        }
    }
}

/// A job of a pipeline, and where it was restored from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobLineage {
    pub pipeline: String,
    pub job_id: String,
    pub restored_from: Option<String>,
    pub restore_mode: Option<RestoreMode>,
    pub registered_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Savepoints kept per pipeline, newest first.
    #[serde(default = "default_keep")]
    pub keep_savepoints: usize,
    /// Nothing younger than this is pruned.
    #[serde(default = "default_min_age")]
    pub min_age_hours: i64,
}

fn default_keep() -> usize {
    5
}

fn default_min_age() -> i64 {
    24
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            keep_savepoints: default_keep(),
            min_age_hours: default_min_age(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepReason {
    LatestRestorable,
    Pinned,
    YoungerThanMinimumAge,
    AmongNewestSavepoints,
    /// Flink still retains it (it has not subsumed it).
    RetainedByFlink,
    /// A registered job was restored from it.
    RestoreSource,
    /// A job restored in LEGACY mode may still reference this job's files.
    LegacyRestoreDependency,
    /// A job restored in CLAIM mode owns its files (from this point or one sharing its state):
    /// that job's Flink deletes them when it no longer needs them.
    ClaimedByAnotherJob,
    AlreadyPruned,
    /// Corrupt points are kept for investigation; they are never offered for restore.
    Corrupt,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetentionDecision {
    pub location: String,
    pub kind: PointKind,
    pub prune: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_because: Option<KeepReason>,
}

/// What a prune may remove among `points` (all of one pipeline), and why everything else stays.
/// `latest` holds the locations the latest pointers name; `claimed` the points other jobs
/// took over by CLAIM restores (`claims::claimed_points`).
pub fn plan_retention(
    points: &[CheckpointRecord],
    lineage: &[JobLineage],
    claimed: &BTreeMap<String, String>,
    latest: &HashSet<String>,
    policy: &RetentionPolicy,
    now: DateTime<Utc>,
) -> Vec<RetentionDecision> {
    let restore_sources: BTreeMap<String, RestoreMode> = lineage
        .iter()
        .filter_map(|j| {
            Some((
                point_directory(j.restored_from.as_deref()?),
                j.restore_mode.unwrap_or(RestoreMode::Legacy),
            ))
        })
        .collect();
    let source_mode = |p: &CheckpointRecord| restore_sources.get(&point_directory(&p.location));
    // Jobs whose files a LEGACY restore may still reference: the job that wrote the source.
    let legacy_jobs: HashSet<&str> = points
        .iter()
        .filter(|p| source_mode(p) == Some(&RestoreMode::Legacy))
        .map(|p| p.job_id.as_str())
        .collect();
    let mut savepoints: Vec<&CheckpointRecord> = points
        .iter()
        .filter(|p| p.kind == PointKind::Savepoint && p.status == PointStatus::Restorable)
        .collect();
    savepoints.sort_by_key(|p| std::cmp::Reverse(p.order()));
    let newest: HashSet<&str> = savepoints
        .iter()
        .take(policy.keep_savepoints)
        .map(|p| p.location.as_str())
        .collect();
    // `Duration::hours` panics past about 2.5e12 hours; the configuration refuses such ages,
    // and one that got through anyway keeps everything (the safe reading of "very old").
    let min_age = Duration::try_hours(policy.min_age_hours).unwrap_or(Duration::MAX);
    points
        .iter()
        .map(|p| {
            // A prune that stopped half-way is finished first, whatever else holds.
            let keep = if p.status == PointStatus::Pruning {
                None
            } else if p.status == PointStatus::Pruned {
                Some(KeepReason::AlreadyPruned)
            } else if p.status == PointStatus::Corrupt {
                Some(KeepReason::Corrupt)
            } else if latest.contains(&p.location) {
                Some(KeepReason::LatestRestorable)
            } else if p.pinned {
                Some(KeepReason::Pinned)
            } else if source_mode(p).is_some() {
                Some(KeepReason::RestoreSource)
            } else if claimed.contains_key(&p.location) {
                Some(KeepReason::ClaimedByAnotherJob)
            } else if legacy_jobs.contains(p.job_id.as_str()) && p.kind == PointKind::Checkpoint {
                Some(KeepReason::LegacyRestoreDependency)
            } else if now - p.completed_at < min_age {
                Some(KeepReason::YoungerThanMinimumAge)
            } else if p.kind == PointKind::Checkpoint && p.status == PointStatus::Restorable {
                Some(KeepReason::RetainedByFlink)
            } else if p.kind == PointKind::Savepoint && newest.contains(p.location.as_str()) {
                Some(KeepReason::AmongNewestSavepoints)
            } else {
                None
            };
            RetentionDecision {
                location: p.location.clone(),
                kind: p.kind,
                prune: keep.is_none(),
                kept_because: keep,
            }
        })
        .collect()
}

/// A point's location as the book writes it (`s3://bucket/dir/`), from any way Flink and its
/// users write a restore path: without the trailing `/` (Flink's REST, `flink run -s`), as the
/// `_metadata` file itself, or with Hadoop's `s3a://`/`s3n://` or EMR's `s3p://` scheme.
pub fn point_directory(location: &str) -> String {
    let trimmed = location.trim();
    let rest = ["s3a://", "s3n://", "s3p://"]
        .iter()
        .find_map(|scheme| trimmed.strip_prefix(scheme))
        .map_or_else(|| trimmed.to_string(), |rest| format!("s3://{rest}"));
    let dir = rest.strip_suffix("_metadata").unwrap_or(&rest);
    let dir = dir.trim_end_matches('/');
    format!("{dir}/")
}

/// `chk-<n>` directories that have files but no `_metadata` and are older than the newest
/// completed checkpoint: left behind by checkpoints that timed out or failed.
pub fn orphaned_checkpoints(
    dirs_with_files: &BTreeMap<u64, String>,
    completed: &HashSet<u64>,
) -> Vec<(u64, String)> {
    let Some(latest) = completed.iter().max() else {
        return Vec::new();
    };
    dirs_with_files
        .iter()
        .filter(|(id, _)| *id < latest && !completed.contains(id))
        .map(|(id, dir)| (*id, dir.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(
        job: &str,
        kind: PointKind,
        id: u64,
        hours_ago: i64,
        status: PointStatus,
    ) -> CheckpointRecord {
        let now = DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
            .unwrap()
            .to_utc();
        let dir = match kind {
            PointKind::Checkpoint => format!("cp/{job}/chk-{id}/"),
            PointKind::Savepoint => format!("sp/savepoint-{}-{id:012}/", &job[..6]),
        };
        CheckpointRecord {
            pipeline: "clicks".into(),
            job_id: job.into(),
            kind,
            checkpoint_id: Some(id),
            location: format!("s3://b/{dir}"),
            dir,
            size: 100,
            completed_at: now - Duration::hours(hours_ago),
            etag: None,
            status,
            pinned: false,
            detail: None,
            trigger: None,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    const A: &str = "aaaaaa00000000000000000000000001";
    const B: &str = "bbbbbb00000000000000000000000002";

    #[test]
    fn prune_keeps_latest_pinned_young_newest_and_retained() {
        use PointKind::*;
        use PointStatus::*;
        let mut pts = vec![
            point(A, Savepoint, 1, 100, Restorable),
            point(A, Savepoint, 2, 90, Restorable),
            point(A, Savepoint, 3, 80, Restorable),
            point(A, Savepoint, 4, 2, Restorable),
            point(A, Checkpoint, 10, 70, Subsumed),
            point(A, Checkpoint, 11, 60, Restorable),
            point(A, Checkpoint, 12, 50, Corrupt),
        ];
        pts[1].pinned = true;
        let latest = HashSet::from([pts[5].location.clone()]);
        let policy = RetentionPolicy {
            keep_savepoints: 1,
            min_age_hours: 24,
        };
        let d = plan_retention(&pts, &[], &BTreeMap::new(), &latest, &policy, now());
        let verdict = |i: usize| (d[i].prune, d[i].kept_because.clone());
        assert_eq!(
            verdict(0),
            (true, None),
            "old unpinned savepoint beyond the newest 1"
        );
        assert_eq!(verdict(1), (false, Some(KeepReason::Pinned)));
        assert_eq!(verdict(2), (true, None));
        assert_eq!(verdict(3), (false, Some(KeepReason::YoungerThanMinimumAge)));
        assert_eq!(
            verdict(4),
            (true, None),
            "a subsumed checkpoint's leftovers go"
        );
        assert_eq!(verdict(5), (false, Some(KeepReason::LatestRestorable)));
        assert_eq!(verdict(6), (false, Some(KeepReason::Corrupt)));
    }

    /// `Duration::hours(i64::MAX)` panics: a minimum age past what a duration holds keeps
    /// every point (too young to prune) instead.
    #[test]
    fn a_minimum_age_past_what_a_duration_holds_keeps_everything() {
        let pts = vec![point(
            A,
            PointKind::Savepoint,
            1,
            100,
            PointStatus::Restorable,
        )];
        let policy = RetentionPolicy {
            keep_savepoints: 0,
            min_age_hours: i64::MAX,
        };
        let d = plan_retention(&pts, &[], &BTreeMap::new(), &HashSet::new(), &policy, now());
        assert_eq!(
            (d[0].prune, d[0].kept_because.clone()),
            (false, Some(KeepReason::YoungerThanMinimumAge))
        );
    }

    /// Flink's REST and `flink run -s` name a point without the trailing `/`, or by its
    /// `_metadata` file, or with another S3 scheme: each still protects the point.
    #[test]
    fn a_restore_source_written_any_way_flink_writes_it_stays() {
        let pts = vec![point(
            B,
            PointKind::Savepoint,
            7,
            98,
            PointStatus::Restorable,
        )];
        let dir = pts[0].location.clone();
        assert!(dir.ends_with('/'));
        let bare = dir.trim_end_matches('/').to_string();
        for restored_from in [
            bare.clone(),
            format!("{bare}/_metadata"),
            bare.replacen("s3://", "s3a://", 1),
            format!("{}/", bare.replacen("s3://", "s3p://", 1)),
            format!(" {dir} "),
        ] {
            let lineage = vec![JobLineage {
                pipeline: "clicks".into(),
                job_id: "dddd".into(),
                restored_from: Some(restored_from.clone()),
                restore_mode: Some(RestoreMode::NoClaim),
                registered_at: now(),
            }];
            let policy = RetentionPolicy {
                keep_savepoints: 0,
                min_age_hours: 0,
            };
            let d = plan_retention(
                &pts,
                &lineage,
                &BTreeMap::new(),
                &HashSet::new(),
                &policy,
                now(),
            );
            assert_eq!(
                d[0].kept_because,
                Some(KeepReason::RestoreSource),
                "{restored_from}"
            );
        }
        assert_eq!(point_directory("s3://b/x/chk-1"), "s3://b/x/chk-1/");
        assert_eq!(
            point_directory("s3://b/x/chk-1/_metadata"),
            "s3://b/x/chk-1/"
        );
    }

    #[test]
    fn restore_sources_and_legacy_dependencies_stay() {
        use PointKind::*;
        use PointStatus::*;
        let pts = vec![
            point(A, Checkpoint, 5, 100, Subsumed),
            point(A, Checkpoint, 6, 99, Subsumed),
            point(B, Savepoint, 7, 98, Restorable),
        ];
        let lineage = vec![
            JobLineage {
                pipeline: "clicks".into(),
                job_id: "cccc".into(),
                restored_from: Some(pts[1].location.clone()),
                restore_mode: Some(RestoreMode::Legacy),
                registered_at: now(),
            },
            JobLineage {
                pipeline: "clicks".into(),
                job_id: "dddd".into(),
                restored_from: Some(pts[2].location.clone()),
                restore_mode: Some(RestoreMode::NoClaim),
                registered_at: now(),
            },
        ];
        let d = plan_retention(
            &pts,
            &lineage,
            &BTreeMap::new(),
            &HashSet::new(),
            &RetentionPolicy {
                keep_savepoints: 0,
                min_age_hours: 0,
            },
            now(),
        );
        assert_eq!(d[0].kept_because, Some(KeepReason::LegacyRestoreDependency));
        assert_eq!(d[1].kept_because, Some(KeepReason::RestoreSource));
        assert_eq!(d[2].kept_because, Some(KeepReason::RestoreSource));
        assert!(d.iter().all(|x| !x.prune));
    }

    #[test]
    fn a_prune_that_stopped_half_way_is_finished() {
        use PointKind::*;
        use PointStatus::*;
        let mut pts = vec![
            point(A, Savepoint, 1, 100, Pruning),
            point(A, Savepoint, 2, 1, Pruned),
        ];
        pts[0].pinned = true;
        let latest = HashSet::new();
        let d = plan_retention(
            &pts,
            &[],
            &BTreeMap::new(),
            &latest,
            &RetentionPolicy::default(),
            now(),
        );
        assert_eq!((d[0].prune, d[0].kept_because.clone()), (true, None));
        assert_eq!(d[1].kept_because, Some(KeepReason::AlreadyPruned));
        assert_eq!("pruning".parse::<PointStatus>(), Ok(Pruning));
        assert_eq!(
            pts[0].id(),
            PointId {
                job_id: A.into(),
                sk: format!("POINT#S#savepoint-{}-000000000001", &A[..6])
            }
        );
    }

    #[test]
    fn orphans_are_incomplete_directories_older_than_the_latest_completed() {
        let dirs = BTreeMap::from([
            (3, "c/3/".to_string()),
            (4, "c/4/".into()),
            (5, "c/5/".into()),
            (7, "c/7/".into()),
        ]);
        let completed = HashSet::from([4, 5]);
        assert_eq!(
            orphaned_checkpoints(&dirs, &completed),
            vec![(3, "c/3/".to_string())]
        );
        assert!(orphaned_checkpoints(&dirs, &HashSet::new()).is_empty());
    }
}
