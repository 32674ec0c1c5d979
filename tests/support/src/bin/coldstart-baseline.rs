//! The cold-start baseline `make coldstart` compares every function with: a `lambda_runtime`
//! binary that does nothing but echo, built with the workspace's release profile.

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move { Ok::<_, Error>(event.payload) },
    ))
    .await
}
