//! The messaging API on localhost, as API Gateway would run it: every request
//! is checked by the same rules as the HTTP API's Cognito JWT authorizer,
//! turned into the same HTTP API (v2) event, and handed to the same handler
//! code the Lambda functions run (`cruddur_core::api::dispatch`). CORS as the
//! template configures it.

pub mod auth;
pub mod gateway;
pub mod server;
