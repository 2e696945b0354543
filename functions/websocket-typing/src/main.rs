//! The WebSocket API's `typing` route — a thin adapter over
//! `cruddur_core::realtime::typing` (forwards a member's typing to the other
//! member, at most once every 2 seconds).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

use cruddur_core::realtime::{self, Delivery};
use lambda_http::lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    cruddur_core::telemetry::init();
    // Post-only, within PUSH_BUDGET_MS: it posts, never closes.
    let delivery = Delivery::push_only_from_env().await?;
    run(service_fn(|event: LambdaEvent<_>| async { Ok::<_, Error>(realtime::typing(&delivery, event.payload).await) }))
        .await
}
