//! The pipeline registry of the checkpoints book, written by the checkpoints function
//! (`register-job`) and by the scaler when a rescale resubmits a job from a savepoint.
//! Items (table with `pk`/`sk`): `PIPELINE#<p>`/`JOB#<job>` (lineage: restore source and mode),
//! `JOB#<job>`/`PIPELINE` (the job's pipeline) and `JOBPREFIX#<6 hex>`/`JOB#<job>` (resolves
//! savepoint directories, which carry only six hex digits of the job id).

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};

use crate::AwsCallError;
use crate::dynamo::{Item, s};

/// Registers `job_id` under `pipeline` (idempotent: the last registration wins).
pub async fn register_job(
    client: &Client,
    table: &str,
    pipeline: &str,
    job_id: &str,
    restored_from: Option<&str>,
    restore_mode: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), AwsCallError> {
    let key = |pk: String, sk: String| -> Item {
        HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
    };
    let mut lineage = key(format!("PIPELINE#{pipeline}"), format!("JOB#{job_id}"));
    lineage.insert("job_id".into(), s(job_id));
    lineage.insert("pipeline".into(), s(pipeline));
    lineage.insert("registered_at".into(), s(at.to_rfc3339()));
    if let Some(from) = restored_from {
        lineage.insert("restored_from".into(), s(from));
    }
    if let Some(mode) = restore_mode {
        lineage.insert("restore_mode".into(), s(mode));
    }
    let mut owner = key(format!("JOB#{job_id}"), "PIPELINE".into());
    owner.insert("pipeline".into(), s(pipeline));
    let prefix: String = job_id.chars().take(6).collect();
    let index = key(format!("JOBPREFIX#{prefix}"), format!("JOB#{job_id}"));
    for item in [lineage, owner, index] {
        client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("PutItem (lineage)", table, &e))?;
    }
    Ok(())
}
