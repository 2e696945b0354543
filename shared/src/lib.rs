//! The core of Cruddur messaging, shared by every Lambda function, the
//! operator CLI and the local API server.
//!
//! - [`domain`]: small types that parse their input (handles, ids, message
//!   text, cursors) and the records the store returns. No I/O.
//! - [`store`]: the one place that knows DynamoDB.
//! - [`config`]: settings from the environment.
//! - [`deadline`]: one deadline per invocation, from Lambda's.
//! - [`error`]: the core's one error type.
//! - [`api`]: one function per HTTP route (request in, response out).
//! - [`auth`]: Cognito access-token verification (the WebSocket authorizer,
//!   the local API).
//! - [`realtime`]: the WebSocket API's authorizer, connections, and the
//!   delivery of new messages from the table's stream.
//! - [`triggers`]: the Cognito PreSignUp and PostConfirmation logic.
//! - [`telemetry`]: tracing set up as Lambda's logging controls ask.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod api;
pub mod auth;
pub mod config;
pub mod deadline;
pub mod domain;
pub mod error;
pub mod realtime;
pub mod store;
pub mod telemetry;
pub mod triggers;

pub use config::{Config, ConfigError};
pub use error::{Error, Result};
pub use store::Store;
