//! The integration suites, in one test binary (each binary links the whole
//! SDK): against DynamoDB Local through the real SDK client, events parsed by
//! lambda_http as in Lambda. The logs test has its own binary: its subscriber
//! is process-wide.

mod accounts;
mod blocks;
mod changes;
mod concurrency;
mod contract;
mod delivery;
mod export;
mod faults;
mod functions;
mod hostile;
mod idempotency;
mod malformed;
mod store;
mod template;
mod unread;
