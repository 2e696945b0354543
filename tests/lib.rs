//! The integration tests are the test targets of this package (`integration.rs`,
//! `logs.rs`); their helpers live in `cruddur-devkit`. Cargo needs a library
//! or binary target in every package: this is it, and it is empty.
