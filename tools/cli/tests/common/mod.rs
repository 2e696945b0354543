//! What the `cruddur` binary's test suites share: a fresh table name, the
//! binary run as a user runs it, and a store on the same table.

#![allow(dead_code)]

use std::process::{Command, Output};
use std::sync::OnceLock;

use cruddur_core::{Config, Store};
use cruddur_devkit::engines::{dynamodb_endpoint, engine_env, local_store, PrivateDynamoDb, DYNAMODB_ENV};

/// The DynamoDB engine of this test binary's tests: one of their own once
/// [`use_private_engine`] was called, the shared one otherwise.
static PRIVATE: OnceLock<String> = OnceLock::new();

/// From now on this binary's tests (and the binaries they spawn) use a
/// DynamoDB Local of their own, stopped when the returned guard is dropped
/// (a static would never be: the engine would outlive the tests).
pub async fn use_private_engine() -> PrivateDynamoDb {
    let engine = PrivateDynamoDb::start().await;
    assert!(PRIVATE.set(engine.endpoint.clone()).is_ok(), "one private engine a test binary");
    engine
}

fn endpoint() -> String {
    PRIVATE.get().cloned().unwrap_or_else(dynamodb_endpoint)
}

pub fn table_name() -> String {
    format!("cli-{}", uuid::Uuid::new_v4().simple())
}

pub fn cruddur(table: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cruddur"))
        .args(["--table", table])
        .args(args)
        .envs(engine_env())
        .env(DYNAMODB_ENV, endpoint())
        .envs(cruddur_devkit::fixtures::test_budget_env())
        .output()
        .expect("the cruddur binary runs")
}

pub fn ok(table: &str, args: &[&str]) -> String {
    let out = cruddur(table, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "cruddur {args:?} failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    stdout
}

pub fn item_count(table: &str) -> usize {
    let json: serde_json::Value = serde_json::from_str(&ok(table, &["scan", "--json"])).expect("scan --json is JSON");
    json.as_array().expect("an array").len()
}

pub async fn store(table: &str) -> Store {
    let config = Config { table: table.to_owned(), ..cruddur_devkit::fixtures::test_config() };
    local_store(&config, &endpoint()).await
}
