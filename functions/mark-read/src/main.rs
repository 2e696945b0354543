//! POST /api/message_groups/{message_group_uuid}/read — a thin adapter over `cruddur_core::api::mark_read`.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

use cruddur_core::api::{self, App};
use cruddur_core::realtime::Delivery;
use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    cruddur_core::telemetry::init();
    // Built once per process: the SDK clients, configuration, caller cache;
    // a read that moves the caller's read marker is pushed to the other member.
    let app = App::from_env().await?.with_push(Delivery::push_only_from_env().await?);
    run(service_fn(|request: Request| api::mark_read(&app, request))).await
}
