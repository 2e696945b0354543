//! Helpers for the integration tests: every test gets its own freshly created
//! table on the DynamoDB engine that `AWS_ENDPOINT_URL_DYNAMODB` names
//! (scripts/test starts Amazon's DynamoDB Local and sets it; moto serves
//! Cognito at `AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER`).
//!
//! There is deliberately no fallback: without the endpoints the tests fail
//! with the fix, they never skip, and they never touch real AWS.

pub mod faults;

use std::sync::atomic::{AtomicU32, Ordering};

use cruddur_core::domain::{DisplayName, Email, Handle, NewProfile, Timestamp, UserSummary};
use cruddur_core::store::MESSAGES_TABLE;
use cruddur_core::{Config, Store};

fn required_url(name: &str, what: &str) -> String {
    match std::env::var(name) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "the integration tests need {what} and {name} is not set.\n\
             fix: run `scripts/test` (it installs and starts DynamoDB Local and moto's Cognito), or start \
             them yourself and export {name}=http://127.0.0.1:<port>"
        ),
    }
}

/// The endpoint of the local DynamoDB engine, or a failure that says how to get one.
pub fn endpoint() -> String {
    required_url("AWS_ENDPOINT_URL_DYNAMODB", "a local DynamoDB engine (DynamoDB Local)")
}

/// The endpoint of the local Cognito (moto), or a failure that says how to get one.
pub fn cognito_endpoint() -> String {
    required_url("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", "a local Cognito (moto)")
}

/// The environment a spawned tool needs to find both local engines.
pub fn engine_env() -> [(&'static str, String); 2] {
    [("AWS_ENDPOINT_URL_DYNAMODB", endpoint()), ("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", cognito_endpoint())]
}

/// A store on a new, empty table with the production table definition.
pub async fn fresh_store() -> Store {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let url = endpoint();
    let table = format!(
        "test-{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        uuid::Uuid::new_v4().simple()
    );
    // Generous budgets: concurrency tests queue dozens of requests on a
    // 2-core machine that also runs the engine.
    let config = Config {
        table: table.clone(),
        operation_timeout: std::time::Duration::from_secs(30),
        attempt_timeout: std::time::Duration::from_secs(10),
        ..Config::default()
    };
    let store = Store::from_config(&config).await;
    if let Err(e) = MESSAGES_TABLE.create(store.client(), &table).await {
        panic!("cannot create a test table on {url}: {e}\nfix: is the server at AWS_ENDPOINT_URL running? scripts/test starts one");
    }
    store
}

/// A time stamp `seconds` after 2026-01-01T00:00:00Z.
pub fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_micros((1_767_225_600 + seconds) * 1_000_000).expect("a valid time")
}

/// A time stamp from ISO text (`2019-05-01T10:00:00.000000Z`).
pub fn ts(iso: &str) -> Timestamp {
    Timestamp::parse(iso).expect("a valid time stamp")
}

/// Creates a profile with this handle (display name derived from it).
pub async fn user(store: &Store, handle: &str) -> UserSummary {
    let profile = store
        .create_profile(
            NewProfile {
                handle: Handle::parse(handle).expect("valid handle"),
                display_name: DisplayName::parse(&format!("{handle} Display")).expect("valid name"),
                email: Email::parse(&format!("{handle}@example.com")).expect("valid email"),
                cognito_sub: None,
            },
            at(0),
        )
        .await
        .expect("create profile");
    profile.summary()
}

/// How many items the whole table holds (a Scan: tests only).
pub async fn item_count(store: &Store) -> usize {
    let mut count = 0usize;
    let mut start = None;
    loop {
        let out = store
            .client()
            .scan()
            .table_name(store.table())
            .set_exclusive_start_key(start)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await
            .expect("scan");
        count += usize::try_from(out.count).unwrap_or(0);
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return count,
        }
    }
}

pub fn handle(s: &str) -> Handle {
    Handle::parse(s).expect("valid handle")
}

pub fn text(s: &str) -> cruddur_core::domain::MessageText {
    cruddur_core::domain::MessageText::parse(s).expect("valid message")
}

/// The people and the conversation that the sample events in `events/` name
/// (the seed data, with the events' Cognito subs).
pub mod sample {
    pub use cruddur_core::seed::CONVERSATION_UUID as GROUP;
    pub const ANDREW_SUB: &str = cruddur_core::seed::ANDREW.sample_sub;
    pub const BAYKO_SUB: &str = cruddur_core::seed::BAYKO.sample_sub;
}

/// The repository's `events/` folder.
pub fn events_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("events")
}

/// A PostConfirmation event for this account, as Cognito sends it.
pub fn post_confirmation_event(
    sub: &str,
    handle: &str,
    name: &str,
    email: &str,
) -> lambda_http::aws_lambda_events::cognito::CognitoEventUserPoolsPostConfirmation {
    let event = serde_json::json!({
        "version": "1", "triggerSource": "PostConfirmation_ConfirmSignUp", "region": "us-east-1",
        "userPoolId": "us-east-1_CRUDDUR01", "userName": sub,
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "5o2cruddurlocalclient0000"},
        "request": {"userAttributes": {
            "sub": sub, "email_verified": "true", "cognito:user_status": "CONFIRMED",
            "preferred_username": handle, "name": name, "email": email},
            "clientMetadata": {}},
        "response": {}
    });
    serde_json::from_value(event).expect("a valid PostConfirmation event")
}

/// The state the sample events expect: the seed data (andrewbrown, bayko,
/// londo and the andrewbrown-bayko conversation), linked to the events' subs.
pub async fn sample_fixture(store: &Store) {
    let options = cruddur_core::seed::SeedOptions { extra_conversations: 0, link_sample_subs: true };
    cruddur_core::seed::seed(store, Timestamp::now(), options, &|_| {}).await.expect("seed");
}

/// An API Gateway HTTP API (v2) request as Lambda hands it to a function:
/// the event's JSON parsed by lambda_http. `sub`: the authorizer's claim
/// (None: no authorizer context at all).
pub fn http_request(
    route: &str,
    path: &str,
    sub: Option<&str>,
    path_params: serde_json::Value,
    raw_query: &str,
    body: Option<&str>,
) -> lambda_http::Request {
    let method = route.split(' ').next().unwrap_or("GET");
    let mut event = serde_json::json!({
        "version": "2.0", "routeKey": route, "rawPath": path, "rawQueryString": raw_query,
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "test", "requestId": "test-request", "routeKey": route,
            "stage": "$default", "time": "", "timeEpoch": 0,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"}
        },
        "isBase64Encoded": false
    });
    if let Some(sub) = sub {
        event["requestContext"]["authorizer"] = serde_json::json!({"jwt": {"claims": {"sub": sub}, "scopes": null}});
    }
    if !path_params.is_null() {
        event["pathParameters"] = path_params;
    }
    if let Some(body) = body {
        event["body"] = serde_json::Value::String(body.to_owned());
    }
    lambda_http::request::from_str(&event.to_string()).expect("an API Gateway HTTP API event")
}

/// POST /api/messages from `sub` with this JSON body.
pub fn post_message(sub: &str, body: serde_json::Value) -> lambda_http::Request {
    http_request("POST /api/messages", "/api/messages", Some(sub), serde_json::Value::Null, "", Some(&body.to_string()))
}

/// Every message of a conversation, oldest first, page by page (no membership check).
pub async fn whole_conversation(
    store: &Store,
    group: cruddur_core::domain::GroupUuid,
) -> Vec<cruddur_core::domain::Message> {
    use cruddur_core::domain::{PageLimit, PageRequest};
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .conversation(group, PageRequest { limit: PageLimit::new(100).expect("a valid limit"), cursor })
            .await
            .expect("read the conversation");
        pages.push(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    pages.into_iter().rev().flatten().collect()
}

/// A fresh table with the sample fixture, plus a bayko-londo conversation
/// that andrewbrown is not part of (and that gives bayko a second page of
/// conversations).
pub async fn seeded_store() -> Store {
    let store = fresh_store().await;
    sample_fixture(&store).await;
    let bayko = store.user_by_handle(&handle("bayko")).await.expect("read").expect("bayko is seeded");
    store.start_conversation(&bayko, &handle("londo"), text("Londo, a word?"), at(120)).await.expect("conversation");
    store
}
