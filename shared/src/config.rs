//! Configuration from the environment, read once per process; a value that is
//! set but unusable is refused at start, never replaced by a default.
//!
//! The endpoint, region and credentials come from the AWS SDK's standard
//! chain: `AWS_ENDPOINT_URL_DYNAMODB` (or `AWS_ENDPOINT_URL` for every
//! service) points the client at a local engine such as DynamoDB Local, and
//! nothing here special-cases it.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};

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
    /// How long the sending function's push of a new message to the
    /// members' connections may add to the POST (`PUSH_BUDGET_MS`, default
    /// 250; `realtime::Delivery::push`).
    pub push_budget: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            table: DEFAULT_TABLE_NAME.to_owned(),
            operation_timeout: Duration::from_millis(4000),
            attempt_timeout: Duration::from_millis(1500),
            max_attempts: 3,
            push_budget: Duration::from_millis(250),
        }
    }
}

/// A setting the environment gives that this code cannot use: the function
/// refuses to start (an init error in its log) instead of running with a
/// default the operator did not ask for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}={value:?} is not usable: {why}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub why: &'static str,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`. Unset or blank: the default. Set to
    /// something unusable: an error naming the variable and why.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let d = Config::default();
        let non_empty = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let invalid = |name: &'static str, value: String, why: &'static str| ConfigError { name, value, why };
        let millis = |name: &'static str, default: Duration| match non_empty(name) {
            None => Ok(default),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if (1..=900_000).contains(&n) => Ok(Duration::from_millis(n)),
                _ => Err(invalid(name, v, "expected whole milliseconds from 1 to 900000")),
            },
        };
        let table = match non_empty("DDB_MESSAGE_TABLE") {
            None => d.table,
            Some(t) if valid_table_name(&t) => t,
            Some(t) => {
                return Err(invalid("DDB_MESSAGE_TABLE", t, "a DynamoDB table name has 3-255 of a-z A-Z 0-9 _ - ."))
            }
        };
        let operation_timeout = millis("DDB_OPERATION_TIMEOUT_MS", d.operation_timeout)?;
        let attempt_timeout = millis("DDB_ATTEMPT_TIMEOUT_MS", d.attempt_timeout)?;
        if attempt_timeout > operation_timeout {
            return Err(invalid(
                "DDB_ATTEMPT_TIMEOUT_MS",
                attempt_timeout.as_millis().to_string(),
                "an attempt cannot take longer than the whole operation (DDB_OPERATION_TIMEOUT_MS)",
            ));
        }
        let max_attempts = match non_empty("DDB_MAX_ATTEMPTS") {
            None => d.max_attempts,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=10).contains(&n) => n,
                _ => return Err(invalid("DDB_MAX_ATTEMPTS", v, "expected a whole number from 1 to 10")),
            },
        };
        let push_budget = millis("PUSH_BUDGET_MS", d.push_budget)?;
        Ok(Config { table, operation_timeout, attempt_timeout, max_attempts, push_budget })
    }

    /// The AWS SDK configuration: the standard chain (env, profile, container
    /// and instance credentials; `AWS_ENDPOINT_URL[_<SERVICE>]`) with this
    /// config's timeouts and retries.
    pub async fn sdk_config(&self) -> SdkConfig {
        self.sdk_loader().load().await
    }

    /// The loader behind [`Config::sdk_config`], for tools that add to it
    /// (an endpoint, credentials) before loading.
    pub fn sdk_loader(&self) -> ConfigLoader {
        aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(1))
                    .operation_attempt_timeout(self.attempt_timeout)
                    .operation_timeout(self.operation_timeout)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(self.max_attempts))
    }
}

/// DynamoDB's rule for table names.
fn valid_table_name(name: &str) -> bool {
    (3..=255).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_unset_or_blank() {
        let c = Config::from_lookup(|_| None).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.table, "cruddur-messages");
        let c = Config::from_lookup(|name| name.starts_with("DDB_").then(|| "  ".to_owned())).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn unusable_values_are_refused_with_the_variable_named() {
        for (name, value) in [
            ("DDB_MESSAGE_TABLE", "xy"),
            ("DDB_MESSAGE_TABLE", "my table"),
            ("DDB_OPERATION_TIMEOUT_MS", "soon"),
            ("DDB_OPERATION_TIMEOUT_MS", "0"),
            ("DDB_ATTEMPT_TIMEOUT_MS", "-5"),
            ("DDB_ATTEMPT_TIMEOUT_MS", "5000"), // longer than the 4000 ms operation
            ("DDB_MAX_ATTEMPTS", "0"),
            ("DDB_MAX_ATTEMPTS", "many"),
        ] {
            let err = Config::from_lookup(|n| (n == name).then(|| value.to_owned())).unwrap_err();
            assert_eq!(err.name, name, "{value}");
            assert!(err.to_string().starts_with(&format!("{name}=")), "{err}");
        }
    }

    #[test]
    fn environment_overrides_defaults() {
        let c = Config::from_lookup(|name| match name {
            "DDB_MESSAGE_TABLE" => Some("other-table".into()),
            "DDB_OPERATION_TIMEOUT_MS" => Some("9000".into()),
            "DDB_ATTEMPT_TIMEOUT_MS" => Some("2500".into()),
            "DDB_MAX_ATTEMPTS" => Some("5".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.table, "other-table");
        assert_eq!(c.operation_timeout, Duration::from_millis(9000));
        assert_eq!(c.attempt_timeout, Duration::from_millis(2500));
        assert_eq!(c.max_attempts, 5);
    }
}
