//! Unread counts: each message group row's `unread` and the caller's totals
//! (`GET /api/messages/counter`) move in the message's own transaction, and
//! reading marks a conversation read; exact under concurrent sends and reads.

use std::sync::Arc;

use cruddur_core::{Config, Store};
use cruddur_devkit::client::{Answer, TestApp};
use cruddur_devkit::engines::{dynamodb_endpoint, local_store};
use cruddur_devkit::faults::FaultProxy;
use cruddur_devkit::fixtures::{fresh_store, item_count, sample, sample_fixture, whole_message_group};
use serde_json::{json, Value};

const LONDO_SUB: &str = cruddur_devkit::seed::LONDO.sample_sub;

async fn app() -> TestApp {
    let store = fresh_store().await;
    sample_fixture(&store).await;
    TestApp::new(store)
}

/// The fixture with nothing unread: andrewbrown has read the seed's last
/// message (from bayko).
async fn read_app() -> TestApp {
    let app = app().await;
    assert_eq!(app.mark_read(sample::ANDREW_SUB, sample::GROUP).await.status, 200);
    assert_eq!(counts(&app.message_counter(sample::ANDREW_SUB).await), (0, 0));
    app
}

fn counts(a: &Answer) -> (u64, u64) {
    assert_eq!(a.status, 200, "{a:?}");
    (a.body["count"].as_u64().expect("count"), a.body["conversations"].as_u64().expect("conversations"))
}

/// `sub`'s unread count on the sample message group, from their list.
async fn unread_on_sample_group(app: &TestApp, sub: &str) -> u64 {
    let list = app.list_message_groups(sub, "").await;
    let groups = list.body.as_array().expect("a list");
    let g = groups.iter().find(|g| g["uuid"] == sample::GROUP).expect("the sample group");
    g["unread"].as_u64().expect("unread")
}

fn reply(text: &str) -> Value {
    json!({"message": text, "message_group_uuid": sample::GROUP})
}

#[tokio::test]
async fn messages_from_the_other_member_are_unread_until_read() {
    let app = app().await;
    // The seed ends with a message from bayko, unread by andrewbrown.
    assert_eq!(counts(&app.message_counter(sample::ANDREW_SUB).await), (1, 1));
    assert_eq!(app.mark_read(sample::ANDREW_SUB, sample::GROUP).await.status, 200);
    assert_eq!(counts(&app.message_counter(sample::ANDREW_SUB).await), (0, 0));
    for i in 0..3 {
        assert_eq!(app.create_message(sample::BAYKO_SUB, &reply(&format!("ping {i}"))).await.status, 200);
    }
    assert_eq!(unread_on_sample_group(&app, sample::ANDREW_SUB).await, 3);
    assert_eq!(counts(&app.message_counter(sample::ANDREW_SUB).await), (3, 1));
    assert_eq!(unread_on_sample_group(&app, sample::BAYKO_SUB).await, 0, "sending marked bayko's side read");
    assert_eq!(counts(&app.message_counter(sample::BAYKO_SUB).await), (0, 0));

    // Reading the newest page marks it read.
    assert_eq!(app.list_messages(sample::ANDREW_SUB, sample::GROUP, "").await.status, 200);
    assert_eq!(unread_on_sample_group(&app, sample::ANDREW_SUB).await, 0);
    assert_eq!(counts(&app.message_counter(sample::ANDREW_SUB).await), (0, 0));

    // An older page does not (the newest messages were not shown).
    app.create_message(sample::BAYKO_SUB, &reply("one more")).await;
    let first = app.list_messages(sample::ANDREW_SUB, sample::GROUP, "limit=2").await;
    let cursor = first.next_cursor.clone().expect("older messages");
    assert_eq!(counts(&app.message_counter(sample::ANDREW_SUB).await), (0, 0), "the newest page was read");
    app.create_message(sample::BAYKO_SUB, &reply("and another")).await;
    app.list_messages(sample::ANDREW_SUB, sample::GROUP, &format!("limit=2&cursor={cursor}")).await;
    assert_eq!(counts(&app.message_counter(sample::ANDREW_SUB).await), (1, 1));

    // The explicit mark: read, then nothing left to mark.
    let marked = app.mark_read(sample::ANDREW_SUB, sample::GROUP).await;
    assert_eq!(marked.pair(), (200, json!({"message_group_uuid": sample::GROUP, "unread": 0})));
    assert_eq!(counts(&app.message_counter(sample::ANDREW_SUB).await), (0, 0));
    // Replying marks read too.
    app.create_message(sample::BAYKO_SUB, &reply("last")).await;
    app.create_message(sample::ANDREW_SUB, &reply("got it")).await;
    assert_eq!(counts(&app.message_counter(sample::ANDREW_SUB).await), (0, 0));
    assert_eq!(counts(&app.message_counter(sample::BAYKO_SUB).await), (1, 1));
}

#[tokio::test]
async fn the_total_spans_conversations_and_a_new_conversation_counts() {
    let app = read_app().await;
    app.create_message(sample::BAYKO_SUB, &reply("from bayko")).await;
    let started = app.create_message(LONDO_SUB, &json!({"message": "hi andrew", "handle": "andrewbrown"})).await;
    assert_eq!(started.status, 200, "{started:?}");
    app.create_message(LONDO_SUB, &json!({"message": "are you there?", "handle": "andrewbrown"})).await;
    assert_eq!(counts(&app.message_counter(sample::ANDREW_SUB).await), (3, 2));
    let list = app.list_message_groups(sample::ANDREW_SUB, "").await;
    let unread: Vec<(String, u64)> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["handle"].as_str().unwrap().to_owned(), g["unread"].as_u64().unwrap()))
        .collect();
    assert_eq!(unread, [("londo".to_owned(), 2), ("bayko".to_owned(), 1)]);
    assert_eq!(counts(&app.message_counter(LONDO_SUB).await), (0, 0), "the starter has read their own");
}

#[tokio::test]
async fn a_non_member_marks_nothing() {
    let app = read_app().await;
    app.create_message(sample::BAYKO_SUB, &reply("for andrew")).await;
    let items = item_count(&app.store).await;
    let a = app.mark_read(LONDO_SUB, sample::GROUP).await;
    assert_eq!(a.pair(), (403, json!(["generic_403"])));
    let a = app.mark_read(LONDO_SUB, "00000000-0000-4000-8000-000000000000").await;
    assert_eq!(a.pair(), (404, json!(["message_group_not_found"])));
    let a = app.mark_read(LONDO_SUB, "not-a-uuid").await;
    assert_eq!(a.pair(), (400, json!(["invalid_message_group_uuid"])));
    assert_eq!(app.list_messages(LONDO_SUB, sample::GROUP, "").await.status, 403);
    assert_eq!(item_count(&app.store).await, items);
    assert_eq!(counts(&app.message_counter(sample::ANDREW_SUB).await), (1, 1));
}

/// 50 sends from both members, interleaved with reads by both. Each call's
/// start and end are recorded; a send also marks its sender's side read. At
/// the end, each member's `unread` counts every message of the other that
/// started after all of the member's reads (and sends) had finished, and
/// none that ended before one of them started; each total is the sum of
/// the rows; reading then brings both to 0, and one more message counts 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counts_stay_exact_under_concurrent_sends_and_reads() {
    use std::time::Instant;
    #[derive(Debug, Clone, Copy)]
    struct Call {
        andrew: bool,
        send: bool,
        start: Instant,
        end: Instant,
    }
    let app = Arc::new(read_app().await);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let sender = app.clone();
        tasks.push(tokio::spawn(async move {
            let andrew = i % 2 == 0;
            let sub = if andrew { sample::ANDREW_SUB } else { sample::BAYKO_SUB };
            let start = Instant::now();
            let a = sender.create_message(sub, &reply(&format!("race {i}"))).await;
            assert_eq!(a.status, 200, "{a:?}");
            Call { andrew, send: true, start, end: Instant::now() }
        }));
        if i % 5 == 0 {
            let reader = app.clone();
            tasks.push(tokio::spawn(async move {
                let andrew = i % 10 == 0;
                let sub = if andrew { sample::ANDREW_SUB } else { sample::BAYKO_SUB };
                let start = Instant::now();
                let a = if i % 20 == 0 {
                    reader.mark_read(sub, sample::GROUP).await
                } else {
                    reader.list_messages(sub, sample::GROUP, "").await
                };
                assert_eq!(a.status, 200, "{a:?}");
                Call { andrew, send: false, start, end: Instant::now() }
            }));
        }
    }
    let mut calls = Vec::new();
    for t in tasks {
        calls.push(t.await.unwrap());
    }
    for (me, andrew) in [(sample::ANDREW_SUB, true), (sample::BAYKO_SUB, false)] {
        // My reads, and my sends (each marks my side read).
        let reads: Vec<&Call> = calls.iter().filter(|c| c.andrew == andrew).collect();
        let theirs: Vec<&Call> = calls.iter().filter(|c| c.send && c.andrew != andrew).collect();
        let surely_unread = theirs.iter().filter(|m| reads.iter().all(|r| r.end < m.start)).count() as u64;
        let surely_read = theirs.iter().filter(|m| reads.iter().any(|r| r.start > m.end)).count() as u64;
        let unread = unread_on_sample_group(&app, me).await;
        let possible = theirs.len() as u64 - surely_read;
        assert!(
            (surely_unread..=possible).contains(&unread),
            "{me}: unread {unread}, expected between {surely_unread} and {possible}"
        );
        let total = counts(&app.message_counter(me).await);
        assert_eq!(total, (unread, u64::from(unread > 0)), "{me}: the total is the sum of the rows");
        // Reading now brings both to zero, never below.
        assert_eq!(app.list_messages(me, sample::GROUP, "").await.status, 200);
        assert_eq!(counts(&app.message_counter(me).await), (0, 0));
        assert_eq!(unread_on_sample_group(&app, me).await, 0);
    }
    let group = cruddur_core::domain::GroupUuid::parse(sample::GROUP).unwrap();
    let race =
        whole_message_group(&app.store, group).await.iter().filter(|m| m.text.as_str().starts_with("race ")).count();
    assert_eq!(race, 50, "every message stored");
    // Now exact: one more message counts 1.
    app.create_message(sample::ANDREW_SUB, &reply("after")).await;
    assert_eq!(counts(&app.message_counter(sample::BAYKO_SUB).await), (1, 1));
}

/// GET /api/messages/counter is one DynamoDB request, whatever the number of
/// conversations (counted at a proxy in front of DynamoDB Local).
#[tokio::test(flavor = "multi_thread")]
async fn the_counter_is_one_read() {
    let proxy = FaultProxy::start(&dynamodb_endpoint()).await;
    let config = Config { table: format!("unread-{}", uuid::Uuid::new_v4().simple()), ..Config::default() };
    let through: Store = local_store(&config, &proxy.url).await;
    cruddur_core::store::MESSAGES_TABLE.create_without_stream(through.client(), through.table()).await.unwrap();
    sample_fixture(&through).await;
    let app = TestApp::new(through);
    app.mark_read(sample::ANDREW_SUB, sample::GROUP).await;
    app.create_message(sample::BAYKO_SUB, &reply("one")).await;
    app.create_message(LONDO_SUB, &json!({"message": "two", "handle": "andrewbrown"})).await;
    // Warm: the caller's profile is cached, as in a warm function.
    app.message_counter(sample::ANDREW_SUB).await;
    proxy.take_requests();
    assert_eq!(counts(&app.message_counter(sample::ANDREW_SUB).await), (2, 2));
    assert_eq!(proxy.take_requests(), ["GetItem"]);
    // Marking read when nothing is unread costs nothing but the row's read.
    app.mark_read(sample::BAYKO_SUB, sample::GROUP).await;
    proxy.take_requests();
    app.mark_read(sample::BAYKO_SUB, sample::GROUP).await;
    assert_eq!(proxy.take_requests(), ["GetItem"], "nothing to mark: no write");
}
