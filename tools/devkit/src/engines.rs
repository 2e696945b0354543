//! Where the local engines are, and clients for them.
//!
//! `scripts/lib.sh` starts Amazon's DynamoDB Local and moto's Cognito and
//! exports `AWS_ENDPOINT_URL_DYNAMODB` and
//! `AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER`, the variables every AWS SDK
//! reads. The shipped code knows nothing of this: it uses the SDK's chain.
//! Tools aimed at a local engine by default (the CLI, tests, the bench) build
//! their clients here, with placeholder credentials when none are configured.

use aws_config::SdkConfig;
use cruddur_core::{Config, Store};

pub const DYNAMODB_ENV: &str = "AWS_ENDPOINT_URL_DYNAMODB";
pub const COGNITO_ENV: &str = "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER";

/// The first of these variables that is set and not blank.
pub fn env_url(names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| std::env::var(name).ok().filter(|u| !u.trim().is_empty()))
}

fn required(name: &str, what: &str) -> String {
    env_url(&[name]).unwrap_or_else(|| {
        panic!(
            "{what} is needed and {name} is not set.\n\
             fix: run `scripts/test` (it installs and starts DynamoDB Local and moto's Cognito), or start \
             them yourself (scripts/lib.sh: start_local_engines) and export {name}=http://127.0.0.1:<port>"
        )
    })
}

/// The local DynamoDB engine's URL, or a failure that says how to get one
/// (tests never skip and never fall back to AWS).
pub fn dynamodb_endpoint() -> String {
    required(DYNAMODB_ENV, "a local DynamoDB engine (DynamoDB Local)")
}

/// The local Cognito's URL (moto), or a failure that says how to get one.
pub fn cognito_endpoint() -> String {
    required(COGNITO_ENV, "a local Cognito (moto)")
}

/// The environment a spawned tool needs to find both local engines.
pub fn engine_env() -> [(&'static str, String); 2] {
    [(DYNAMODB_ENV, dynamodb_endpoint()), (COGNITO_ENV, cognito_endpoint())]
}

/// The SDK configuration for a local engine at `endpoint`: the config's time
/// budgets, and placeholder credentials and region when the environment has
/// none (a local engine accepts any; a fresh machine has none).
pub async fn local_sdk_config(config: &Config, endpoint: &str) -> SdkConfig {
    let mut loader = config.sdk_loader().endpoint_url(endpoint);
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() && std::env::var_os("AWS_PROFILE").is_none() {
        loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local",
            "local",
            None,
            None,
            "local-engine",
        ));
    }
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
        loader = loader.region(aws_config::Region::new("us-east-1"));
    }
    loader.load().await
}

/// A store on the DynamoDB engine at `endpoint`.
pub async fn local_store(config: &Config, endpoint: &str) -> Store {
    let sdk = local_sdk_config(config, endpoint).await;
    Store::new(aws_sdk_dynamodb::Client::new(&sdk), config.table.as_str())
}

/// A Cognito client for the local Cognito at `endpoint`.
pub async fn local_cognito(config: &Config, endpoint: &str) -> aws_sdk_cognitoidentityprovider::Client {
    aws_sdk_cognitoidentityprovider::Client::new(&local_sdk_config(config, endpoint).await)
}

/// A management-API client whose endpoint nothing answers (a refused
/// loopback port): for deliveries that must post nothing, or must fail to.
pub fn unreachable_connections() -> aws_sdk_apigatewaymanagement::Client {
    aws_sdk_apigatewaymanagement::Client::from_conf(
        aws_sdk_apigatewaymanagement::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_apigatewaymanagement::config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build(),
    )
}
