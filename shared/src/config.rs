//! Configuration from the environment, read once per process.
//!
//! The endpoint, region and credentials come from the AWS SDK's standard
//! chain: `AWS_ENDPOINT_URL_DYNAMODB` (or `AWS_ENDPOINT_URL` for every
//! service) points the client at a local engine such as DynamoDB Local, and
//! nothing here special-cases it.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

use crate::store::DEFAULT_TABLE_NAME;

/// Settings of the core that come from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `DDB_MESSAGE_TABLE`, default `cruddur-messages`.
    pub table: String,
    /// Time budget of one DynamoDB call including its retries
    /// (`DDB_OPERATION_TIMEOUT_MS`, default 4000).
    pub operation_timeout: Duration,
    /// Time budget of one attempt (`DDB_ATTEMPT_TIMEOUT_MS`, default 1500).
    /// Without it a hung connection holds a call until Lambda kills the
    /// invocation (the SDK sets no read timeout by default).
    pub attempt_timeout: Duration,
    /// Attempts per call, first included (`DDB_MAX_ATTEMPTS`, default 3).
    pub max_attempts: u32,
    /// Send DynamoDB requests to this endpoint instead of the one the SDK's
    /// chain finds, with placeholder credentials and region if none are
    /// configured: for tools aimed at a local engine by default (`None`: the
    /// standard chain only). Other services' clients built from
    /// [`Config::sdk_config`] are not redirected.
    pub local_endpoint: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            table: DEFAULT_TABLE_NAME.to_owned(),
            operation_timeout: Duration::from_millis(4000),
            attempt_timeout: Duration::from_millis(1500),
            max_attempts: 3,
            local_endpoint: None,
        }
    }
}

impl Config {
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`; unset, empty or unparsable values
    /// fall back to the defaults.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let d = Config::default();
        let non_empty = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let number = |name: &str| non_empty(name).and_then(|v| v.parse::<u64>().ok()).filter(|n| *n > 0);
        Config {
            table: non_empty("DDB_MESSAGE_TABLE").unwrap_or(d.table),
            operation_timeout: number("DDB_OPERATION_TIMEOUT_MS")
                .map(Duration::from_millis)
                .unwrap_or(d.operation_timeout),
            attempt_timeout: number("DDB_ATTEMPT_TIMEOUT_MS").map(Duration::from_millis).unwrap_or(d.attempt_timeout),
            max_attempts: number("DDB_MAX_ATTEMPTS").and_then(|n| u32::try_from(n).ok()).unwrap_or(d.max_attempts),
            local_endpoint: None,
        }
    }

    /// The AWS SDK configuration: the standard chain (env, profile, container
    /// and instance credentials; `AWS_ENDPOINT_URL[_<SERVICE>]`) with this
    /// config's timeouts and retries.
    pub async fn sdk_config(&self) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if self.local_endpoint.is_some() {
            // A local engine accepts any credentials; a fresh machine has none.
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() && std::env::var_os("AWS_PROFILE").is_none() {
                loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                    "local",
                    "local",
                    None,
                    None,
                    "local-emulator",
                ));
            }
            if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
                loader = loader.region(aws_config::Region::new("us-east-1"));
            }
        }
        loader
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(1))
                    .operation_attempt_timeout(self.attempt_timeout)
                    .operation_timeout(self.operation_timeout)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(self.max_attempts))
            .load()
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_unset_or_unusable() {
        let c = Config::from_lookup(|_| None);
        assert_eq!(c, Config::default());
        assert_eq!(c.table, "cruddur-messages");
        let c = Config::from_lookup(|name| match name {
            "DDB_MESSAGE_TABLE" => Some("  ".into()),
            "DDB_OPERATION_TIMEOUT_MS" => Some("soon".into()),
            "DDB_ATTEMPT_TIMEOUT_MS" => Some("0".into()),
            _ => None,
        });
        assert_eq!(c, Config::default());
    }

    #[test]
    fn environment_overrides_defaults() {
        let c = Config::from_lookup(|name| match name {
            "DDB_MESSAGE_TABLE" => Some("other-table".into()),
            "DDB_OPERATION_TIMEOUT_MS" => Some("9000".into()),
            "DDB_ATTEMPT_TIMEOUT_MS" => Some("2500".into()),
            "DDB_MAX_ATTEMPTS" => Some("5".into()),
            _ => None,
        });
        assert_eq!(c.table, "other-table");
        assert_eq!(c.operation_timeout, Duration::from_millis(9000));
        assert_eq!(c.attempt_timeout, Duration::from_millis(2500));
        assert_eq!(c.max_attempts, 5);
    }
}
