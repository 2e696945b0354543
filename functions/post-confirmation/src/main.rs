//! The Cognito PostConfirmation trigger — a thin adapter over `cruddur_core::triggers::post_confirmation`.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

use cruddur_core::{triggers, Config, Store};
use lambda_http::lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    cruddur_core::telemetry::init();
    // Built once per process: the SDK client and configuration.
    let store = Store::from_config(&Config::from_env()?).await;
    run(service_fn(|event: LambdaEvent<_>| {
        triggers::within_deadline(event.context.deadline, triggers::post_confirmation(&store, event.payload))
    }))
    .await
}
