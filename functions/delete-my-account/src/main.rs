//! DELETE /api/me — a thin adapter over `cruddur_core::api::delete_my_account`,
//! with the user pool (the Cognito admin API) and the connections to close.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

use std::sync::Arc;

use cruddur_core::api::{self, App};
use cruddur_core::config::Config;
use cruddur_core::realtime::Delivery;
use delete_my_account::{CognitoDirectory, USER_POOL_ID_ENV};
use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    cruddur_core::telemetry::init();
    let pool = std::env::var(USER_POOL_ID_ENV).map_err(|_| format!("{USER_POOL_ID_ENV} is not set"))?;
    // The SDK's timeouts and retries of every other client (Config).
    let sdk = Config::from_env()?.sdk_config().await;
    let directory = CognitoDirectory::new(aws_sdk_cognitoidentityprovider::Client::new(&sdk), pool);
    // Built once per process: the table, the user pool, the connections.
    let app =
        App::from_env().await?.with_push(Delivery::push_only_from_env().await?).with_directory(Arc::new(directory));
    run(service_fn(|request: Request| api::delete_my_account(&app, request))).await
}
