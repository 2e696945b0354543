//! PATCH /api/messages/{message_group_uuid}/{message_uuid} — a thin adapter over `cruddur_core::api::edit_message`.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

use cruddur_core::api::{self, App};
use cruddur_core::realtime::Delivery;
use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    cruddur_core::telemetry::init();
    // Built once per process; each edit is pushed to both members at once.
    let app = App::from_env().await?.with_push(Delivery::push_only_from_env().await?);
    run(service_fn(|request: Request| api::edit_message(&app, request))).await
}
