//! Unread counts: each message group row's `unread` and the caller's totals
//! (`GET /api/messages/counter`) move in the message's own transaction, and
//! reading marks a conversation read; exact under concurrent sends and reads.

use std::sync::Arc;

use cruddur_core::domain::Timestamp;
use cruddur_devkit::client::{Answer, TestApp};
use cruddur_devkit::faults::FaultStack;
use cruddur_devkit::fixtures::sample::LONDO_SUB;
use cruddur_devkit::fixtures::{
    fresh_store, item_count, item_sizes, sample, sample_app, text, user, whole_message_group,
};
use serde_json::json;

/// The fixture with nothing unread: andrewbrown has read the seed's last
/// message (from bayko).
async fn read_app() -> TestApp {
    let app = sample_app().await;
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

#[tokio::test]
async fn messages_from_the_other_member_are_unread_until_read() {
    let app = sample_app().await;
    // The seed ends with a message from bayko, unread by andrewbrown.
    assert_eq!(counts(&app.message_counter(sample::ANDREW_SUB).await), (1, 1));
    assert_eq!(app.mark_read(sample::ANDREW_SUB, sample::GROUP).await.status, 200);
    assert_eq!(counts(&app.message_counter(sample::ANDREW_SUB).await), (0, 0));
    for i in 0..3 {
        assert_eq!(app.reply(sample::BAYKO_SUB, &format!("ping {i}")).await.status, 200);
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
    app.reply(sample::BAYKO_SUB, "one more").await.ok();
    let first = app.list_messages(sample::ANDREW_SUB, sample::GROUP, "limit=2").await;
    let cursor = first.next_cursor.clone().expect("older messages");
    assert_eq!(counts(&app.message_counter(sample::ANDREW_SUB).await), (0, 0), "the newest page was read");
    app.reply(sample::BAYKO_SUB, "and another").await.ok();
    app.list_messages(sample::ANDREW_SUB, sample::GROUP, &format!("limit=2&cursor={cursor}")).await.ok();
    assert_eq!(counts(&app.message_counter(sample::ANDREW_SUB).await), (1, 1));

    // The explicit mark: read, then nothing left to mark.
    let marked = app.mark_read(sample::ANDREW_SUB, sample::GROUP).await;
    assert_eq!(marked.pair(), (200, json!({"message_group_uuid": sample::GROUP, "unread": 0})));
    assert_eq!(counts(&app.message_counter(sample::ANDREW_SUB).await), (0, 0));
    // Replying marks read too.
    app.reply(sample::BAYKO_SUB, "last").await.ok();
    app.reply(sample::ANDREW_SUB, "got it").await.ok();
    assert_eq!(counts(&app.message_counter(sample::ANDREW_SUB).await), (0, 0));
    assert_eq!(counts(&app.message_counter(sample::BAYKO_SUB).await), (1, 1));
}

#[tokio::test]
async fn the_total_spans_conversations_and_a_new_conversation_counts() {
    let app = read_app().await;
    app.reply(sample::BAYKO_SUB, "from bayko").await.ok();
    let started = app.create_message(LONDO_SUB, &json!({"message": "hi andrew", "handle": "andrewbrown"})).await;
    assert_eq!(started.status, 200, "{started:?}");
    app.create_message(LONDO_SUB, &json!({"message": "are you there?", "handle": "andrewbrown"})).await.ok();
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
    app.reply(sample::BAYKO_SUB, "for andrew").await.ok();
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

/// Two phases against the same two items (a member's group row and
/// totals), with every answer checked.
///
/// Exact: 30 concurrent sends from bayko while bayko marks his own side read
/// (nothing to mark) and andrew only reads the counter; andrew's unread must
/// then be exactly 30 more, bayko's exactly 0: no increment is lost or
/// doubled under concurrent transactions.
///
/// Interleaved: 50 sends from both members and reads by both, started 20 ms
/// apart (not all at once, so the bounds below are tight). Each call's start
/// and end are recorded; a send also marks its sender's side read. Each
/// member's `unread` counts at least every message of the other that started
/// after all of the member's reads and sends had ended, and at most those not
/// surely read (a read that started after the message ended); each total is
/// the sum of the rows; reading then brings both to 0; one more counts 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counts_stay_exact_under_concurrent_sends_and_reads() {
    use std::time::{Duration, Instant};
    let app = Arc::new(read_app().await);

    // Exact phase.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..30 {
        let sender = app.clone();
        tasks.spawn(async move { sender.reply(sample::BAYKO_SUB, &format!("exact {i}")).await.ok() });
        if i % 3 == 0 {
            let marker = app.clone();
            tasks.spawn(async move { marker.mark_read(sample::BAYKO_SUB, sample::GROUP).await.ok() });
            let reader = app.clone();
            tasks.spawn(async move { reader.message_counter(sample::ANDREW_SUB).await.ok() });
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    assert_eq!(unread_on_sample_group(&app, sample::ANDREW_SUB).await, 30, "every concurrent send counted once");
    assert_eq!(counts(&app.message_counter(sample::ANDREW_SUB).await), (30, 1));
    assert_eq!(counts(&app.message_counter(sample::BAYKO_SUB).await), (0, 0));
    app.mark_read(sample::ANDREW_SUB, sample::GROUP).await.ok();
    assert_eq!(counts(&app.message_counter(sample::ANDREW_SUB).await), (0, 0));

    // Interleaved phase.
    #[derive(Debug, Clone, Copy)]
    struct Call {
        andrew: bool,
        send: bool,
        start: Instant,
        end: Instant,
    }
    let begin = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..50u64 {
        let at = begin + Duration::from_millis(20 * i);
        let sender = app.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            let andrew = i % 2 == 0;
            let sub = if andrew { sample::ANDREW_SUB } else { sample::BAYKO_SUB };
            let start = Instant::now();
            sender.reply(sub, &format!("race {i}")).await.ok();
            Call { andrew, send: true, start, end: Instant::now() }
        }));
        if i % 5 == 0 {
            let reader = app.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep_until((at + Duration::from_millis(10)).into()).await;
                let andrew = i % 10 == 0;
                let sub = if andrew { sample::ANDREW_SUB } else { sample::BAYKO_SUB };
                let start = Instant::now();
                if i % 20 == 0 {
                    reader.mark_read(sub, sample::GROUP).await.ok();
                } else {
                    reader.list_messages(sub, sample::GROUP, "").await.ok();
                }
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
        println!("{me}: unread {unread}, bounds {surely_unread}..={possible} of {}", theirs.len());
        assert!(
            (surely_unread..=possible).contains(&unread),
            "{me}: unread {unread}, expected between {surely_unread} and {possible}"
        );
        let total = counts(&app.message_counter(me).await);
        assert_eq!(total, (unread, u64::from(unread > 0)), "{me}: the total is the sum of the rows");
        // Reading now brings both to zero, never below.
        app.list_messages(me, sample::GROUP, "").await.ok();
        assert_eq!(counts(&app.message_counter(me).await), (0, 0));
        assert_eq!(unread_on_sample_group(&app, me).await, 0);
    }
    let group = cruddur_core::domain::GroupUuid::parse(sample::GROUP).unwrap();
    let stored = whole_message_group(&app.store, group).await;
    let count = |prefix: &str| stored.iter().filter(|m| m.content.as_str().starts_with(prefix)).count();
    assert_eq!((count("exact "), count("race ")), (30, 50), "every message stored");
    // Now exact: one more message counts 1.
    app.reply(sample::ANDREW_SUB, "after").await.ok();
    assert_eq!(counts(&app.message_counter(sample::BAYKO_SUB).await), (1, 1));
}

/// GET /api/messages/counter is two DynamoDB requests (one Query of each
/// unread index, at once), whatever the number of conversations (counted at
/// a proxy in front of DynamoDB Local).
#[tokio::test(flavor = "multi_thread")]
async fn the_counter_is_two_reads() {
    let s = FaultStack::start().await;
    let (app, proxy) = (&s.app, &s.proxy);
    app.mark_read(sample::ANDREW_SUB, sample::GROUP).await.ok();
    app.reply(sample::BAYKO_SUB, "one").await.ok();
    app.create_message(LONDO_SUB, &json!({"message": "two", "handle": "andrewbrown"})).await.ok();
    // Warm: the caller's profile is cached, as in a warm function.
    app.message_counter(sample::ANDREW_SUB).await.ok();
    proxy.take_requests();
    assert_eq!(counts(&app.message_counter(sample::ANDREW_SUB).await), (2, 2));
    assert_eq!(proxy.take_requests(), ["Query", "Query"]);
    // Marking read when nothing is unread costs nothing but the
    // conversation's read.
    app.mark_read(sample::BAYKO_SUB, sample::GROUP).await.ok();
    proxy.take_requests();
    app.mark_read(sample::BAYKO_SUB, sample::GROUP).await.ok();
    assert_eq!(proxy.take_requests(), ["GetItem"], "nothing to mark: no write");
}

/// Reading the newest page needs no write: when marking it read fails (every
/// UpdateItem answers 500 here), the page is still the answer, and what it
/// showed stays unread for the next read to mark.
#[tokio::test(flavor = "multi_thread")]
async fn the_newest_page_is_answered_when_marking_it_read_fails() {
    let s = FaultStack::start().await;
    let sent = s.app.reply(sample::ANDREW_SUB, "read me even if the mark fails").await.ok();
    let before = counts(&s.app.message_counter(sample::BAYKO_SUB).await);
    assert!(before.0 >= 1, "{before:?}");
    s.proxy.inject(cruddur_devkit::faults::Fault::ServerError, None, Some("UpdateItem"));
    let page = s.app.list_messages(sample::BAYKO_SUB, sample::GROUP, "").await;
    s.proxy.heal();
    assert_eq!(page.status, 200, "{page:?}");
    let last = page.body.as_array().and_then(|p| p.last()).cloned().unwrap_or_default();
    assert_eq!(last["uuid"], sent.body["uuid"], "the page has the newest message");
    assert!(s.proxy.injected() > 0, "the mark was tried");
    assert_eq!(counts(&s.app.message_counter(sample::BAYKO_SUB).await), before, "nothing was marked");
    // The next read marks it.
    s.app.list_messages(sample::BAYKO_SUB, sample::GROUP, "").await.ok();
    assert_eq!(counts(&s.app.message_counter(sample::BAYKO_SUB).await), (0, 0));
}

/// A read marks read only what it showed: a message that arrives after the
/// page was read, while its mark is on its way (held 3 s by the proxy), is
/// not on the page and stays unread.
#[tokio::test(flavor = "multi_thread")]
async fn a_message_arriving_during_a_read_stays_unread() {
    let s = FaultStack::start().await;
    s.app.reply(sample::ANDREW_SUB, "seen by the read").await.ok();
    // The next update (the read's mark) is held before the engine.
    s.proxy.inject(cruddur_devkit::faults::Fault::Slow(std::time::Duration::from_secs(3)), Some(1), Some("UpdateItem"));
    let app = TestApp::new(s.app.store.clone());
    let reading = tokio::spawn(async move { app.list_messages(sample::BAYKO_SUB, sample::GROUP, "").await });
    for _ in 0..100 {
        if s.proxy.injected() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(s.proxy.injected(), 1, "the read's mark is held");
    // Straight to the engine, while the mark is held.
    let late = TestApp::new(s.direct.clone()).reply(sample::ANDREW_SUB, "arrived during the read").await.ok();
    let page = reading.await.unwrap();
    assert_eq!(page.status, 200, "{page:?}");
    let uuids: Vec<&str> = page.body.as_array().unwrap().iter().filter_map(|m| m["uuid"].as_str()).collect();
    assert!(!uuids.contains(&late.body["uuid"].as_str().unwrap()), "the late message was not shown");
    let (count, conversations) = counts(&s.app.message_counter(sample::BAYKO_SUB).await);
    assert!(count >= 1 && conversations == 1, "the late message stays unread: {count}, {conversations}");
    assert!(unread_on_sample_group(&s.app, sample::BAYKO_SUB).await >= 1);
}

/// A recipient with 1,000 unread conversations (each started through the
/// real send path by its own sender): the next message writes only small
/// items, none of which grew with those conversations (the items it
/// changed, found by comparing the whole table before and after it).
#[tokio::test(flavor = "multi_thread")]
async fn a_message_to_a_recipient_with_a_thousand_unread_conversations_writes_only_small_items() {
    const CONVERSATIONS: usize = 1000;
    let store = fresh_store().await;
    let recipient = user(&store, "popular").await;
    let mut last = None;
    for batch in (0..CONVERSATIONS).collect::<Vec<_>>().chunks(25) {
        let starts = batch.iter().map(|i| {
            let (store, to) = (store.clone(), recipient.handle.clone());
            async move {
                let sender = user(&store, &format!("fan{i}")).await;
                let sent = store.start_message_group(&sender, &to, text("hi"), Timestamp::now()).await.unwrap();
                (sender, sent.group)
            }
        });
        last = futures_util::future::join_all(starts).await.pop();
    }
    let counts = store.unread_counts(recipient.uuid).await.unwrap();
    assert_eq!((counts.count, counts.conversations), (CONVERSATIONS as u64, CONVERSATIONS as u64));

    let (sender, group) = last.unwrap();
    let before = item_sizes(&store).await;
    store.send_reply(&sender, group, text("one more"), Timestamp::now()).await.unwrap();
    let after = item_sizes(&store).await;
    let written: Vec<(&String, u64)> = after
        .iter()
        .filter(|(key, item)| before.get(*key) != Some(item))
        .map(|(key, (bytes, _))| (key, (*bytes).max(before.get(key).map_or(0, |b| b.0))))
        .collect();
    assert!(written.len() >= 2, "the message and its conversation: {written:?}");
    let largest = written.iter().max_by_key(|(_, bytes)| *bytes).unwrap();
    assert!(largest.1 < 1024, "the largest item the message wrote: {largest:?} (all: {written:?})");
}
