//! Fed by the table's stream (filtered to new messages) — a thin adapter over
//! `cruddur_core::realtime::Delivery`: posts each message to both members'
//! open WebSocket connections within the invocation's deadline, and reports
//! the first record it could not deliver.

// The delivery future nests deeply (stream batch, members, connections).
#![recursion_limit = "256"]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

use cruddur_core::realtime::Delivery;
use lambda_http::lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    cruddur_core::telemetry::init();
    // Built once per process: the DynamoDB and management API clients.
    let delivery = Delivery::from_env().await?;
    let delivery = &delivery;
    run(service_fn(|event: LambdaEvent<_>| async move {
        let deadline = Some(event.context.deadline);
        Ok::<_, Error>(delivery.handle(event.payload, deadline).await)
    }))
    .await
}
