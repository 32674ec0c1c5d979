//! Glue Data Catalog adapter: the table's storage descriptor, `BatchCreatePartition` (100 per
//! call, per-entry errors inspected), `BatchDeletePartition` (25 per call) and the registered
//! partitions of a table.

use std::collections::BTreeSet;
use std::time::Instant;
use streamops_shared::aws::LazyClient;

use aws_sdk_glue::Client;
use aws_sdk_glue::types::{PartitionError, PartitionInput, PartitionValueList, StorageDescriptor};
use streamops_shared::{AwsCallError, ErrorClass};

use crate::poll::{PollPolicy, retry_throttled};
use crate::ports::{EntryResult, PartitionCatalog};
use crate::table::PartitionSpec;

/// Glue's limit for `BatchCreatePartition`.
pub const BATCH_CREATE_MAX: usize = 100;
/// Glue's limit for `BatchDeletePartition`.
pub const BATCH_DELETE_MAX: usize = 25;

#[derive(Clone)]
pub struct GlueCatalog {
    client: LazyClient<Client>,
    policy: PollPolicy,
}

impl GlueCatalog {
    pub fn new(client: impl Into<LazyClient<Client>>, policy: PollPolicy) -> Self {
        Self {
            client: client.into(),
            policy,
        }
    }

    /// The table's storage descriptor: partitions inherit its format, SerDe and columns.
    async fn storage_descriptor(
        &self,
        database: &str,
        table: &str,
    ) -> Result<StorageDescriptor, AwsCallError> {
        let out = self
            .client
            .get_table()
            .database_name(database)
            .name(table)
            .send()
            .await
            .map_err(|e| {
                AwsCallError::from_sdk("GetTable", format!("table {database}.{table}"), &e)
            })?;
        Ok(out
            .table
            .and_then(|t| t.storage_descriptor)
            .unwrap_or_else(|| StorageDescriptor::builder().build()))
    }

    /// Creates `specs` (one table), at most 100 per call; one result per spec, in order.
    async fn batch_create(
        &self,
        specs: &[&PartitionSpec],
        template: &StorageDescriptor,
        deadline: Instant,
    ) -> Result<Vec<EntryResult>, AwsCallError> {
        let mut results = Vec::with_capacity(specs.len());
        for chunk in specs.chunks(BATCH_CREATE_MAX) {
            let (database, table) = (&chunk[0].database, &chunk[0].table);
            let inputs: Vec<PartitionInput> = chunk
                .iter()
                .map(|p| {
                    let mut sd = template.clone();
                    sd.location = Some(p.location.clone());
                    PartitionInput::builder()
                        .set_values(Some(p.value_list()))
                        .storage_descriptor(sd)
                        .build()
                })
                .collect();
            let (errors, _) = retry_throttled(self.policy, deadline, || async {
                self.client
                    .batch_create_partition()
                    .database_name(database)
                    .table_name(table)
                    .set_partition_input_list(Some(inputs.clone()))
                    .send()
                    .await
                    .map_err(|e| {
                        AwsCallError::from_sdk(
                            "BatchCreatePartition",
                            format!("table {database}.{table}"),
                            &e,
                        )
                    })
                    .map(|out| out.errors.unwrap_or_default())
            })
            .await?;
            for p in chunk {
                results.push(match entry_error(&errors, &p.value_list()) {
                    None => EntryResult::Created,
                    Some(("AlreadyExistsException", _)) => EntryResult::AlreadyExists,
                    Some((code, message)) => EntryResult::Failed {
                        code: code.into(),
                        message: message.into(),
                    },
                });
            }
        }
        Ok(results)
    }
}

impl PartitionCatalog for GlueCatalog {
    async fn create_partitions(
        &self,
        database: &str,
        table: &str,
        specs: &[&PartitionSpec],
        deadline: Instant,
    ) -> Result<Vec<EntryResult>, AwsCallError> {
        let sd = self.storage_descriptor(database, table).await?;
        self.batch_create(specs, &sd, deadline).await
    }

    async fn delete_partitions(
        &self,
        database: &str,
        table: &str,
        specs: &[&PartitionSpec],
        deadline: Instant,
    ) -> Result<Vec<Result<(), String>>, AwsCallError> {
        let mut results = Vec::with_capacity(specs.len());
        for chunk in specs.chunks(BATCH_DELETE_MAX) {
            let values: Vec<PartitionValueList> = chunk
                .iter()
                .map(|p| {
                    PartitionValueList::builder()
                        .set_values(Some(p.value_list()))
                        .build()
                        // Only a missing value list fails the build: our bug, never retried.
                        .map_err(|e| AwsCallError {
                            operation: "BatchDeletePartition",
                            resource: format!("table {database}.{table}"),
                            class: ErrorClass::Permanent,
                            code: None,
                            message: e.to_string(),
                        })
                })
                .collect::<Result<_, _>>()?;
            let (errors, _) = retry_throttled(self.policy, deadline, || async {
                self.client
                    .batch_delete_partition()
                    .database_name(database)
                    .table_name(table)
                    .set_partitions_to_delete(Some(values.clone()))
                    .send()
                    .await
                    .map_err(|e| {
                        let what = format!("table {database}.{table}");
                        AwsCallError::from_sdk("BatchDeletePartition", what, &e)
                    })
                    .map(|out| out.errors.unwrap_or_default())
            })
            .await?;
            for p in chunk {
                results.push(match entry_error(&errors, &p.value_list()) {
                    None => Ok(()),
                    // Already gone is what a drop wants.
                    Some(("EntityNotFoundException", _)) => Ok(()),
                    Some((code, message)) => Err(format!("{code}: {message}")),
                });
            }
        }
        Ok(results)
    }

    /// The value lists of every registered partition of a table.
    async fn partition_values(
        &self,
        database: &str,
        table: &str,
    ) -> Result<BTreeSet<Vec<String>>, AwsCallError> {
        let mut out = BTreeSet::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .get_partitions()
                .database_name(database)
                .table_name(table)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    AwsCallError::from_sdk("GetPartitions", format!("table {database}.{table}"), &e)
                })?;
            for p in page.partitions.unwrap_or_default() {
                if let Some(v) = p.values {
                    out.insert(v);
                }
            }
            match page.next_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok(out),
            }
        }
    }
}

/// The per-entry error a batch call answered for the partition of `values`, as (code, message)
/// (empty when Glue gave none); `None` when the entry succeeded.
fn entry_error<'e>(errors: &'e [PartitionError], values: &[String]) -> Option<(&'e str, &'e str)> {
    let error = errors
        .iter()
        .find(|e| e.partition_values.as_deref() == Some(values))?;
    let detail = error.error_detail.as_ref();
    Some((
        detail
            .and_then(|d| d.error_code.as_deref())
            .unwrap_or_default(),
        detail
            .and_then(|d| d.error_message.as_deref())
            .unwrap_or_default(),
    ))
}
