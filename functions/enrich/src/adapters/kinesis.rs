//! The enriched stream on Kinesis: one PutRecords call per [`OutputStream::put_records`].

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use streamops_shared::AwsCallError;

use crate::pipeline::EnrichedRecord;
use crate::ports::{EntryError, OutputStream};

pub struct EnrichedStream {
    client: Client,
    stream_name: String,
}

impl EnrichedStream {
    pub fn new(client: Client, stream_name: &str) -> Self {
        Self {
            client,
            stream_name: stream_name.to_string(),
        }
    }
}

impl OutputStream for EnrichedStream {
    fn name(&self) -> &str {
        &self.stream_name
    }

    async fn put_records(
        &self,
        records: &[&EnrichedRecord],
    ) -> Result<Vec<Result<(), EntryError>>, AwsCallError> {
        let entries = records
            .iter()
            .map(|r| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(r.data.clone()))
                    .partition_key(r.partition_key.clone())
                    .build()
                    .expect("data and partition key are set")
            })
            .collect();
        let out = self
            .client
            .put_records()
            .stream_name(&self.stream_name)
            .set_records(Some(entries))
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("PutRecords", &self.stream_name, &e))?;
        Ok(out
            .records()
            .iter()
            .map(|r| match r.error_code() {
                None => Ok(()),
                Some(code) => Err(EntryError {
                    code: code.to_string(),
                    message: r.error_message().unwrap_or_default().to_string(),
                }),
            })
            .collect())
    }
}
