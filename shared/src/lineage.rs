//! The pipeline registry of the checkpoints book, written by the checkpoints function
//! (`register-job`) and by the scaler when a rescale resubmits a job from a savepoint.
//! Items (key layout in [`crate::book_keys`]): `PIPELINE#<p>`/`JOB#<job>` (lineage: restore
//! source and mode), `JOB#<job>`/`PIPELINE` (the job's pipeline) and `JOBPREFIX#<6 hex>`/`JOB#<job>`
//! (resolves savepoint directories, which carry only six hex digits of the job id).

use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};

use crate::AwsCallError;
use crate::book_keys::{self, lineage_attr as attr};
use crate::dynamo::s;

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
    let mut lineage = book_keys::key(book_keys::pipeline_pk(pipeline), book_keys::job_sk(job_id));
    lineage.insert(attr::JOB_ID.into(), s(job_id));
    lineage.insert(attr::PIPELINE.into(), s(pipeline));
    lineage.insert(attr::REGISTERED_AT.into(), s(at.to_rfc3339()));
    // Listed by the pipelines index: a pipeline is known from its first registration.
    lineage.insert(book_keys::REGISTRY.into(), s(book_keys::PIPELINE_REGISTRY));
    if let Some(from) = restored_from {
        lineage.insert(attr::RESTORED_FROM.into(), s(from));
    }
    if let Some(mode) = restore_mode {
        lineage.insert(attr::RESTORE_MODE.into(), s(mode));
    }
    let mut owner = book_keys::key(book_keys::job_pk(job_id), book_keys::PIPELINE.into());
    owner.insert(attr::PIPELINE.into(), s(pipeline));
    let index = book_keys::key(book_keys::job_prefix_pk(job_id), book_keys::job_sk(job_id));
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
