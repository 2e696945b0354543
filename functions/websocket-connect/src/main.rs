//! The WebSocket API's `$connect` route — a thin adapter over
//! `cruddur_core::realtime::connect` (records the connection under its user).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

use cruddur_core::{realtime, Config, Store};
use lambda_http::lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    cruddur_core::telemetry::init();
    let store = Store::from_config(&Config::from_env()?).await;
    run(service_fn(|event: LambdaEvent<_>| async { Ok::<_, Error>(realtime::connect(&store, event.payload).await) }))
        .await
}
