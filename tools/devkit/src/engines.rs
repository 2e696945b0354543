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

/// The folder of DynamoDBLocal.jar, exported by `scripts/lib.sh` when it
/// starts the shared engine.
pub const DYNAMODB_LOCAL_DIR_ENV: &str = "DYNAMODB_LOCAL_DIR";

/// A DynamoDB Local of a test's own (in memory, on a free port), for a test
/// that must not share the engine; stopped when dropped.
pub struct PrivateDynamoDb {
    child: std::sync::Mutex<std::process::Child>,
    pub endpoint: String,
}

impl PrivateDynamoDb {
    /// Starts one and waits until it answers (60 s at most), or fails saying why.
    pub async fn start() -> PrivateDynamoDb {
        let dir = required(DYNAMODB_LOCAL_DIR_ENV, "DynamoDB Local's folder (for an engine of the test's own)");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free local port");
        let child = std::process::Command::new("java")
            .arg(format!("-Djava.library.path={dir}/DynamoDBLocal_lib"))
            .args(["-jar", &format!("{dir}/DynamoDBLocal.jar"), "-inMemory", "-sharedDb", "-disableTelemetry"])
            .args(["-port", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start DynamoDB Local from {dir}: {e}. fix: run scripts/bootstrap"));
        let engine =
            PrivateDynamoDb { child: std::sync::Mutex::new(child), endpoint: format!("http://127.0.0.1:{port}") };
        for _ in 0..600 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return engine;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("DynamoDB Local (from {dir}) did not answer on port {port} within 60 s");
    }
}

impl Drop for PrivateDynamoDb {
    fn drop(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
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
