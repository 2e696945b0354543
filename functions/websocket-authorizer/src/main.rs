//! The WebSocket API's `$connect` REQUEST authorizer — a thin adapter over
//! `cruddur_core::realtime::authorize` (the token from `?token=`, checked by
//! the same verifier as the local API's).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

use cruddur_core::auth::{Verifier, VerifierSettings};
use cruddur_core::{realtime, Config, Store};
use lambda_http::lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    cruddur_core::telemetry::init();
    // Built once per process: the SDK client, the verifier and its key cache.
    let store = Store::from_config(&Config::from_env()?).await;
    let verifier = Verifier::new(VerifierSettings::from_env()?);
    run(service_fn(|event: LambdaEvent<_>| {
        realtime::authorize_within(event.context.deadline, &verifier, &store, event.payload)
    }))
    .await
}
