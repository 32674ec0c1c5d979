//! The entry point: what a payload is, and where it goes (a stream batch to the service, a
//! command to the ops module).

use serde_json::Value;
use streamops_shared::Metrics;

use crate::input::{Invocation, parse_invocation};
use crate::ops::parse_command;
use crate::ports::{Ledger, OutputStream, Quarantine, ReferenceSource, SchemaRegistry};
use crate::service::{EnrichError, EnrichService, InvocationContext};

impl<W, L, R, Q, S> EnrichService<W, L, R, Q, S>
where
    W: OutputStream,
    L: Ledger,
    R: ReferenceSource,
    Q: Quarantine,
    S: SchemaRegistry,
{
    pub async fn handle(
        &self,
        payload: &str,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Result<Value, EnrichError> {
        self.begin_key_read();
        match parse_invocation(payload).map_err(|e| EnrichError::Input(e.to_string()))? {
            Invocation::Stream(batch) => self.handle_batch(batch, ctx, metrics).await,
            Invocation::Command(v) => {
                let command = parse_command(&v).map_err(EnrichError::BadCommand)?;
                self.run_command(command, ctx, metrics).await
            }
        }
    }
}
