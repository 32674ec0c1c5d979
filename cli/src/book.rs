//! Which pipelines the checkpoints book knows, read from its DynamoDB table without invoking
//! the function (the table named by the function's `CHECKPOINTS_TABLE`). A pipeline is known
//! once a job was registered under it or a point booked for it: it has items under
//! `PIPELINE#<name>` (`streamops_shared::book_keys`, the one owner of the layout).

use std::collections::BTreeSet;
use std::future::Future;

use aws_sdk_dynamodb::types::AttributeValue;
use streamops_shared::book_keys::{PK, pipeline_pk};

use crate::error::service_said;

/// How many pipelines a refusal lists at most (the message names them; the book may hold more).
const LISTED: usize = 20;
/// How many Scan pages are read for that list at most: the book is small, but never unbounded.
const PAGES: usize = 5;

/// What the book says of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    Present,
    /// Nothing under it; the pipelines the book has (the first [`LISTED`]).
    Absent {
        known: Vec<String>,
    },
}

/// Reads the book's pipelines.
pub trait BookReader {
    /// Whether `table` has anything under `pipeline`, or why it cannot be read.
    fn pipeline(
        &self,
        table: &str,
        pipeline: &str,
    ) -> impl Future<Output = Result<Presence, String>>;
}

/// The book on DynamoDB; `None` where no endpoint is known (a local stack without its
/// `moto.json`), so the function checks the name itself.
pub struct DynamoBook(pub Option<aws_sdk_dynamodb::Client>);

impl BookReader for DynamoBook {
    async fn pipeline(&self, table: &str, pipeline: &str) -> Result<Presence, String> {
        let Some(client) = &self.0 else {
            return Err("the local stack records no DynamoDB endpoint (moto.json)".into());
        };
        let found = client
            .query()
            .table_name(table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", AttributeValue::S(pipeline_pk(pipeline)))
            .limit(1)
            .send()
            .await
            .map_err(|e| format!("Query on {table}: {}", service_said(&e)))?;
        if found.count() > 0 {
            return Ok(Presence::Present);
        }
        Ok(Presence::Absent {
            known: known_pipelines(client, table).await?,
        })
    }
}

/// The pipelines the book has, from a bounded Scan of the pipeline items' keys.
async fn known_pipelines(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<Vec<String>, String> {
    let prefix = pipeline_pk("");
    let mut names = BTreeSet::new();
    let mut start = None;
    for _ in 0..PAGES {
        let page = client
            .scan()
            .table_name(table)
            .filter_expression("begins_with(#pk, :p)")
            .projection_expression("#pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":p", AttributeValue::S(prefix.clone()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| format!("Scan on {table}: {}", service_said(&e)))?;
        names.extend(page.items().iter().filter_map(|item| {
            let pk = item.get(PK)?.as_s().ok()?;
            Some(pk.strip_prefix(&prefix)?.to_string())
        }));
        start = page.last_evaluated_key().cloned();
        if start.is_none() || names.len() >= LISTED {
            break;
        }
    }
    Ok(names.into_iter().take(LISTED).collect())
}
