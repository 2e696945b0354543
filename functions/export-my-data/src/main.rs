//! GET /api/me/export — a thin adapter over `cruddur_core::api::export_my_data`.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

use cruddur_core::api::{self, App};
use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    cruddur_core::telemetry::init();
    // Built once per process: the SDK client, configuration, caller cache.
    let app = App::from_env().await?;
    run(service_fn(|request: Request| api::export_my_data(&app, request))).await
}
