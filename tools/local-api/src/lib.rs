//! The messaging API on localhost, as API Gateway would run it: every request
//! is checked by the same rules as the HTTP API's Cognito JWT authorizer (the
//! core's `auth::Verifier`, which the WebSocket authorizer runs too),
//! turned into the same HTTP API (v2) event, and handed to the same handler
//! code the Lambda functions run (`cruddur_core::api::dispatch`). CORS as the
//! template configures it.

//!
//! The WebSocket API too ([`websocket`]): the same authorizer and route code
//! as its Lambda functions, and the management API's `@connections`
//! endpoint, which the delivery code, fed from DynamoDB Local's stream
//! ([`stream`]), posts to through its AWS SDK client.

pub mod gateway;
pub mod server;
pub mod stream;
pub mod websocket;
