//! `cruddur-devkit`: everything that does not ship to Lambda. The functions
//! depend on `cruddur-core` only; the tests, the CLI, the local API, the
//! benchmark and the fuzz target use this crate.
//!
//! - [`engines`]: where the local DynamoDB and Cognito are; clients for them.
//! - [`seed`]: the seed users and message group (the sample events name them).
//! - [`fixtures`]: a fresh table per test, the sample fixture, constructors.
//! - [`events`]: the one builder of API Gateway, Cognito and stream events.
//! - [`client`]: the one test client, a method per route.
//! - [`contract`]: the contract documents, and the one validator of answers and socket frames.
//! - [`net`]: the one accept loop and the one forwarding proxy.
//! - [`faults`]: the fault-injecting DynamoDB proxy of the reliability tests.
//! - [`cognito`]: the local user pool's set-up, and tokens.
//! - [`socket`]: the one WebSocket client.
//! - [`connections`]: a stand-in of API Gateway's `@connections` API that records posts.

pub mod client;
pub mod cognito;
pub mod connections;
pub mod contract;
pub mod engines;
pub mod events;
pub mod faults;
pub mod fixtures;
pub mod net;
pub mod seed;
pub mod socket;
