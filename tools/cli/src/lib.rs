//! Library parts of the operator CLI, shared with the local API's tests.

pub mod dev;
