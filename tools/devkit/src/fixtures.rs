//! Test fixtures: a fresh table per test on the local DynamoDB engine, the
//! sample events' people and message group, small constructors.

use std::sync::atomic::{AtomicU32, Ordering};

use cruddur_core::domain::{
    DisplayName, Email, GroupUuid, Handle, Message, MessageText, NewProfile, PageLimit, PageRequest, Timestamp,
    UserSummary,
};
use cruddur_core::store::MESSAGES_TABLE;
use cruddur_core::{Config, Store};

use crate::engines::{dynamodb_endpoint, local_store};
use crate::seed;

/// A fresh table's configuration: a unique name and generous time budgets
/// (concurrency tests queue dozens of requests on a 2-core machine that also
/// runs the engine).
pub fn test_config() -> Config {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    Config {
        table: format!(
            "test-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            uuid::Uuid::new_v4().simple()
        ),
        operation_timeout: std::time::Duration::from_secs(30),
        attempt_timeout: std::time::Duration::from_secs(10),
        // A push that must arrive is not cut short by a loaded machine.
        push_budget: std::time::Duration::from_secs(10),
        ..Config::default()
    }
}

/// The environment that gives a spawned tool (the CLI, the local API) the
/// tests' time budgets of [`test_config`].
pub fn test_budget_env() -> [(&'static str, String); 3] {
    let config = test_config();
    [
        ("DDB_OPERATION_TIMEOUT_MS", config.operation_timeout.as_millis().to_string()),
        ("DDB_ATTEMPT_TIMEOUT_MS", config.attempt_timeout.as_millis().to_string()),
        ("PUSH_BUDGET_MS", config.push_budget.as_millis().to_string()),
    ]
}

/// A store on a new, empty table with the production table definition (but
/// its stream, which these tests never read and which makes DynamoDB Local's
/// writes about five times slower), on the local DynamoDB engine (or a
/// failure that says how to start one).
pub async fn fresh_store() -> Store {
    let url = dynamodb_endpoint();
    let store = local_store(&test_config(), &url).await;
    if let Err(e) = MESSAGES_TABLE.create_without_stream(store.client(), store.table()).await {
        panic!("cannot create a test table on {url}: {e}\nfix: is the engine at AWS_ENDPOINT_URL_DYNAMODB running? scripts/test starts one");
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

pub fn handle(s: &str) -> Handle {
    Handle::parse(s).expect("valid handle")
}

pub fn text(s: &str) -> MessageText {
    MessageText::parse(s).expect("valid message")
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

/// Every item of the table by key (`pk` + " " + `sk`): its size by
/// DynamoDB's rules ("Item sizes and formats": each attribute's name plus
/// its value; numbers about a byte per two digits), and its content (to
/// compare). A Scan: tests only.
pub async fn item_sizes(store: &Store) -> std::collections::BTreeMap<String, (u64, String)> {
    use aws_sdk_dynamodb::types::AttributeValue as V;
    fn size(v: &V) -> u64 {
        let number = |n: &str| {
            (n.trim_start_matches('-').replace('.', "").trim_matches('0').len().max(1) as u64).div_ceil(2) + 1
        };
        match v {
            V::S(s) => s.len() as u64,
            V::N(n) => number(n),
            V::B(b) => b.as_ref().len() as u64,
            V::Ss(set) => set.iter().map(|s| s.len() as u64).sum(),
            V::Ns(set) => set.iter().map(|n| number(n)).sum(),
            V::L(list) => 3 + list.iter().map(|e| 1 + size(e)).sum::<u64>(),
            V::M(map) => 3 + map.iter().map(|(k, e)| 1 + k.len() as u64 + size(e)).sum::<u64>(),
            _ => 1,
        }
    }
    let mut sizes = std::collections::BTreeMap::new();
    let mut start = None;
    loop {
        let out =
            store.client().scan().table_name(store.table()).set_exclusive_start_key(start).send().await.expect("scan");
        for item in out.items.unwrap_or_default() {
            let key = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let bytes = item.iter().map(|(name, v)| name.len() as u64 + size(v)).sum();
            let content = format!("{:?}", item.iter().collect::<std::collections::BTreeMap<_, _>>());
            sizes.insert(format!("{} {}", key("pk"), key("sk")), (bytes, content));
        }
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return sizes,
        }
    }
}

/// The people and the message group that the sample events in `events/` name
/// (the seed data, with the events' Cognito subs).
pub mod sample {
    pub use crate::seed::MESSAGE_GROUP_UUID as GROUP;
    pub const ANDREW_SUB: &str = crate::seed::ANDREW.sample_sub;
    pub const BAYKO_SUB: &str = crate::seed::BAYKO.sample_sub;
    pub const LONDO_SUB: &str = crate::seed::LONDO.sample_sub;
}

/// The state the sample events expect: the seed data (andrewbrown, bayko,
/// londo and the andrewbrown-bayko message group), linked to the events' subs.
pub async fn sample_fixture(store: &Store) {
    let options = seed::SeedOptions { extra_message_groups: 0, link_sample_subs: true };
    seed::seed(store, Timestamp::now(), options, &|_| {}).await.expect("seed");
}

/// The functions' app over a fresh table with the sample fixture (the one
/// app builder of the suites).
pub async fn sample_app() -> crate::client::TestApp {
    let store = fresh_store().await;
    sample_fixture(&store).await;
    crate::client::TestApp::new(store).with_directory(crate::cognito::local_directory(TEST_POOL).await)
}

/// The local user pool the suites delete accounts from.
pub const TEST_POOL: &str = "cruddur-tests";

/// How many messages of message group `group` (a uuid) have exactly `text`
/// (read page by page, no membership check).
pub async fn messages_with_text(store: &Store, group: &str, text: &str) -> usize {
    let group = GroupUuid::parse(group).expect("a message group's uuid");
    whole_message_group(store, group).await.iter().filter(|m| m.content.as_str() == text).count()
}

/// A fresh table with the sample fixture, plus a bayko-londo message group
/// that andrewbrown is not part of (and that gives bayko a second page of
/// message groups).
pub async fn seeded_store() -> Store {
    let store = fresh_store().await;
    sample_fixture(&store).await;
    let bayko = store.user_by_handle(&handle("bayko")).await.expect("read").expect("bayko is seeded");
    store.start_message_group(&bayko, &handle("londo"), text("Londo, a word?"), at(120)).await.expect("message group");
    store
}

/// Every message of a message group, oldest first, page by page (no membership check).
pub async fn whole_message_group(store: &Store, group: GroupUuid) -> Vec<Message> {
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .group_messages(group, PageRequest { limit: PageLimit::new(100).expect("a valid limit"), cursor })
            .await
            .expect("read the message group");
        pages.push(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    pages.into_iter().rev().flatten().collect()
}
