//! The key layout of the checkpoints book (one DynamoDB table, `pk`/`sk` strings), owned here
//! because two functions write it: checkpoints (points, pointers, `register-job`) and the scaler
//! (lineage, through [`crate::lineage`], when a rescale resubmits a job from a savepoint).
//!
//! | pk | sk | what |
//! |---|---|---|
//! | `JOB#<job>` | `POINT#C#<id, 20 digits>` / `POINT#S#<savepoint dir>` | one checkpoint or savepoint |
//! | `JOB#<job>` | `LATEST` | the job's latest restorable point (monotonic) |
//! | `JOB#<job>` | `PIPELINE` | which pipeline the job belongs to |
//! | `PIPELINE#<name>` | `LATEST` | the pipeline's latest restorable point (monotonic) |
//! | `PIPELINE#<name>` | `JOB#<job>` | lineage: the pipeline's jobs, restore source and mode |
//! | `JOBPREFIX#<6 hex>` | `JOB#<job>` | resolves savepoint directories (which carry 6 hex digits of the job id) |
//!
//! The items under `PIPELINE#<name>` (the pipeline's latest pointer, its lineage) also carry
//! [`REGISTRY`] = [`PIPELINE_REGISTRY`]: the sparse index [`PIPELINES_INDEX`] (hash `registry`,
//! range `pk`, keys only) lists the book's pipelines without scanning every point.

use std::collections::HashMap;

use crate::dynamo::{Item, s};

/// The partition key attribute.
pub const PK: &str = "pk";
/// The sort key attribute.
pub const SK: &str = "sk";
/// Sort key of a job's or pipeline's latest pointer.
pub const LATEST: &str = "LATEST";
/// Sort key of the item naming a job's pipeline.
pub const PIPELINE: &str = "PIPELINE";
/// Sort key prefix of every point of a job.
pub const POINT_PREFIX: &str = "POINT#";
/// Sort key prefix of a job under a pipeline or a job prefix.
pub const JOB_PREFIX: &str = "JOB#";
/// The attribute the pipelines index is keyed by, on the items under `PIPELINE#<name>` only.
pub const REGISTRY: &str = "registry";
/// Its one value.
pub const PIPELINE_REGISTRY: &str = "PIPELINE";
/// The sparse global secondary index of the pipelines' items (hash [`REGISTRY`], range [`PK`]).
pub const PIPELINES_INDEX: &str = "pipelines";
/// How many hex digits of a job id a savepoint directory carries.
pub const JOB_ID_PREFIX_LEN: usize = 6;

/// Attributes of the lineage item (`PIPELINE#<p>` / `JOB#<job>`) and the owner item
/// (`JOB#<job>` / `PIPELINE`).
pub mod lineage_attr {
    pub const JOB_ID: &str = "job_id";
    pub const PIPELINE: &str = "pipeline";
    pub const REGISTERED_AT: &str = "registered_at";
    pub const RESTORED_FROM: &str = "restored_from";
    pub const RESTORE_MODE: &str = "restore_mode";
}

/// Attributes of a latest pointer (`JOB#<job>` or `PIPELINE#<p>` / `LATEST`), which the
/// checkpoints function writes and the alerts function reads to name a pipeline's latest
/// restorable point.
pub mod pointer_attr {
    pub const LOCATION: &str = "location";
    pub const KIND: &str = "kind";
    pub const JOB_ID: &str = "job_id";
    pub const POINT_SK: &str = "point_sk";
    pub const COMPLETED_AT: &str = "completed_at";
    pub const CHECKPOINT_ID: &str = "checkpoint_id";
}

/// The attribute of a point saying whether it still restores (`restorable`, `pruned`, ...).
pub const POINT_STATUS: &str = "status";

pub fn job_pk(job: &str) -> String {
    format!("JOB#{job}")
}

pub fn pipeline_pk(pipeline: &str) -> String {
    format!("PIPELINE#{pipeline}")
}

/// `JOBPREFIX#<first 6 characters>`: of a full job id, or the 6 hex digits of a savepoint directory.
pub fn job_prefix_pk(job_or_prefix: &str) -> String {
    let prefix: String = job_or_prefix.chars().take(JOB_ID_PREFIX_LEN).collect();
    format!("JOBPREFIX#{prefix}")
}

/// `JOB#<job>`: a job under its pipeline or its prefix.
pub fn job_sk(job: &str) -> String {
    format!("{JOB_PREFIX}{job}")
}

/// The job id of a `JOB#<job>` sort key.
pub fn job_of_sk(sk: &str) -> Option<&str> {
    sk.strip_prefix(JOB_PREFIX)
}

/// The pipeline a `PIPELINE#<name>` partition key names.
pub fn pipeline_of_pk(pk: &str) -> Option<&str> {
    pk.strip_prefix("PIPELINE#")
}

/// A checkpoint's sort key: its id, zero-padded so they sort numerically.
pub fn checkpoint_sk(checkpoint_id: u64) -> String {
    format!("POINT#C#{checkpoint_id:020}")
}

/// A savepoint's sort key: the name of its directory (`.../savepoint-a1b2c3-0123456789ab/`).
pub fn savepoint_sk(dir: &str) -> String {
    let name = dir.trim_end_matches('/').rsplit('/').next().unwrap_or(dir);
    format!("POINT#S#{name}")
}

/// The item key `{pk, sk}`.
pub fn key(pk: String, sk: String) -> Item {
    HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_as_the_book_stores_them() {
        assert_eq!(job_pk("j"), "JOB#j");
        assert_eq!(pipeline_pk("p"), "PIPELINE#p");
        assert_eq!(pipeline_of_pk(&pipeline_pk("p")), Some("p"));
        assert_eq!(pipeline_of_pk("JOB#p"), None);
        assert_eq!(
            job_prefix_pk("a1b2c3d4e5f60718293a4b5c6d7e8f90"),
            "JOBPREFIX#a1b2c3"
        );
        assert_eq!(job_prefix_pk("a1b2c3"), "JOBPREFIX#a1b2c3");
        assert_eq!(job_of_sk(&job_sk("j")), Some("j"));
        assert_eq!(checkpoint_sk(42), "POINT#C#00000000000000000042");
        assert_eq!(
            savepoint_sk("flink/savepoints/savepoint-a1b2c3-0123456789ab/"),
            "POINT#S#savepoint-a1b2c3-0123456789ab"
        );
        assert!(checkpoint_sk(1).starts_with(POINT_PREFIX));
        assert_eq!(key("a".into(), "b".into()).len(), 2);
    }
}
