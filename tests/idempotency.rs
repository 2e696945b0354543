//! POST /api/messages with an `Idempotency-Key`: a retried send never stores
//! the message twice, whether the first answer was lost, is still on its way,
//! or arrived. The key is claimed (its record names the message's uuid and
//! time) before the message's transaction; a request that finds it claimed
//! sends that very message, which the transaction stores at most once.

use std::sync::Arc;

use cruddur_core::domain::{GroupUuid, IdempotencyKey, NewMessage, Recipient, Timestamp};
use cruddur_devkit::client::{reply, TestApp};
use cruddur_devkit::faults::{Fault, FaultStack};
use cruddur_devkit::fixtures::sample::LONDO_SUB;
use cruddur_devkit::fixtures::{
    fresh_store, handle, item_count, messages_with_text, sample, sample_app, sample_fixture, text, whole_message_group,
};
use serde_json::{json, Value};

#[tokio::test]
async fn the_same_key_twice_stores_one_message_and_answers_the_same_body() {
    let app = sample_app().await;
    let first = app.create_message_with_key(sample::ANDREW_SUB, "retry-1", &reply("only once")).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert!(!first.replayed);
    let items = item_count(&app.store).await;
    let again = app.create_message_with_key(sample::ANDREW_SUB, "retry-1", &reply("only once")).await;
    assert_eq!((again.status, &again.body), (200, &first.body), "the first answer, again");
    assert!(again.replayed, "marked Idempotent-Replayed");
    assert_eq!(messages_with_text(&app.store, sample::GROUP, "only once").await, 1);
    assert_eq!(item_count(&app.store).await, items, "the repeat wrote nothing");
}

#[tokio::test]
async fn a_repeated_start_of_a_message_group_creates_one_group_and_one_message() {
    let app = sample_app().await;
    let body = json!({"message": "Hello Londo", "handle": "londo"});
    let first = app.create_message_with_key(sample::ANDREW_SUB, "start-1", &body).await;
    assert_eq!(first.status, 200, "{first:?}");
    let group = first.body["message_group_uuid"].as_str().expect("a new group's uuid").to_owned();
    let items = item_count(&app.store).await;
    let again = app.create_message_with_key(sample::ANDREW_SUB, "start-1", &body).await;
    assert_eq!((again.status, &again.body), (200, &first.body));
    assert_eq!(item_count(&app.store).await, items, "no second group, message or record");
    let messages = whole_message_group(&app.store, GroupUuid::parse(&group).unwrap()).await;
    assert_eq!(messages.len(), 1);
    let groups = app.list_message_groups(LONDO_SUB, "").await;
    assert_eq!(groups.body.as_array().unwrap().len(), 1, "{groups:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_requests_with_one_key_store_one_message() {
    let app = Arc::new(sample_app().await);
    for (round, body) in
        [reply("all at once"), json!({"message": "all at once, new", "handle": "londo"})].into_iter().enumerate()
    {
        let key = format!("burst-{round}");
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (app, key, body) = (app.clone(), key.clone(), body.clone());
                tokio::spawn(async move { app.create_message_with_key(sample::ANDREW_SUB, &key, &body).await })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.unwrap());
        }
        let first = &answers[0];
        for a in &answers {
            assert_eq!((a.status, &a.body), (200, &first.body), "every answer is the same 200: {a:?}");
        }
        assert_eq!(answers.iter().filter(|a| !a.replayed).count(), 1, "exactly one request stored it");
        let text = body["message"].as_str().unwrap();
        let group = first.body["message_group_uuid"].as_str().unwrap_or(sample::GROUP);
        assert_eq!(messages_with_text(&app.store, group, text).await, 1, "round {round}");
    }
    let groups = app.list_message_groups(LONDO_SUB, "").await;
    assert_eq!(groups.body.as_array().unwrap().len(), 1, "one message group with londo: {groups:?}");
}

#[tokio::test]
async fn the_same_key_for_another_request_is_refused_and_writes_nothing() {
    let app = sample_app().await;
    assert_eq!(app.create_message_with_key(sample::ANDREW_SUB, "k", &reply("first")).await.status, 200);
    let items = item_count(&app.store).await;
    for other in [reply("second"), json!({"message": "first", "handle": "londo"})] {
        let a = app.create_message_with_key(sample::ANDREW_SUB, "k", &other).await;
        assert_eq!(a.pair(), (422, json!(["idempotency_key_reused"])), "{other}");
    }
    assert_eq!(item_count(&app.store).await, items);
    assert_eq!(messages_with_text(&app.store, sample::GROUP, "second").await, 0);
    // Whitespace the body parser trims is the same request.
    let same = app.create_message_with_key(sample::ANDREW_SUB, "k", &reply("  first ")).await;
    assert_eq!(same.status, 200, "{same:?}");
}

#[tokio::test]
async fn keys_belong_to_their_caller() {
    let app = sample_app().await;
    let a = app.create_message_with_key(sample::ANDREW_SUB, "shared-key", &reply("from andrew")).await;
    let b = app.create_message_with_key(sample::BAYKO_SUB, "shared-key", &reply("from andrew")).await;
    assert_eq!((a.status, b.status), (200, 200));
    assert!(!b.replayed, "bayko's key is not andrew's");
    assert_ne!(a.body["uuid"], b.body["uuid"]);
    assert_eq!(b.body["handle"], "bayko");
    assert_eq!(messages_with_text(&app.store, sample::GROUP, "from andrew").await, 2);
}

#[tokio::test]
async fn malformed_keys_are_refused_before_anything_is_written() {
    let app = sample_app().await;
    let items = item_count(&app.store).await;
    let long = "k".repeat(256);
    for key in ["", long.as_str(), "tab\there", "caf\u{e9}"] {
        let a = app.create_message_with_key(sample::ANDREW_SUB, key, &reply("never")).await;
        assert_eq!(a.pair(), (400, json!(["invalid_idempotency_key"])), "{key:?}");
    }
    assert_eq!(item_count(&app.store).await, items);
    // 255 characters is the longest key.
    assert_eq!(
        app.create_message_with_key(sample::ANDREW_SUB, &"k".repeat(255), &reply("longest key")).await.status,
        200
    );
}

#[tokio::test]
async fn without_a_key_every_request_is_a_new_message_as_before() {
    let app = sample_app().await;
    for _ in 0..2 {
        let a = app.create_message(sample::ANDREW_SUB, &reply("no key")).await;
        assert_eq!(a.status, 200);
        assert!(!a.replayed);
    }
    assert_eq!(messages_with_text(&app.store, sample::GROUP, "no key").await, 2);
}

#[tokio::test]
async fn a_key_is_remembered_for_a_day() {
    let store = fresh_store().await;
    sample_fixture(&store).await;
    let andrew = store.user_by_handle(&handle("andrewbrown")).await.unwrap().unwrap();
    let key = IdempotencyKey::parse(b"daily").unwrap();
    let new = || NewMessage { text: text("same key, a day apart"), recipient: Recipient::Handle(handle("bayko")) };
    let hour = 3600 * 1_000_000;
    let day_ago = Timestamp::from_unix_micros(Timestamp::now().unix_micros() - 24 * hour - 5_000_000).unwrap();
    let old = store.send(&andrew, new(), day_ago, Some(&key)).await.unwrap();
    let hour_later = Timestamp::from_unix_micros(day_ago.unix_micros() + hour).unwrap();
    let within = store.send(&andrew, new(), hour_later, Some(&key)).await.unwrap();
    assert!(within.replayed);
    assert_eq!(within.message, old.message);
    // Past its lifetime the record no longer counts, even before TTL removes it.
    let now = store.send(&andrew, new(), Timestamp::now(), Some(&key)).await.unwrap();
    assert!(!now.replayed);
    assert_ne!(now.message.uuid, old.message.uuid);
}

/// The send's answer is lost on every attempt (the transaction committed at
/// the first): the client gets 503, retries with its key, and gets the
/// message that was stored, which is stored once.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_answer_then_a_retry_with_the_key_stores_one_message() {
    let FaultStack { proxy, app, direct, .. } = FaultStack::start().await;
    for (key, body) in
        [("lost-reply", reply("answer lost")), ("lost-start", json!({"message": "answer lost", "handle": "londo"}))]
    {
        proxy.inject(Fault::DropAfter, None, Some("TransactWriteItems"));
        let lost = app.create_message_with_key(sample::ANDREW_SUB, key, &body).await;
        proxy.heal();
        assert_eq!(lost.pair(), (503, json!(["generic_503"])), "{key}");
        let retry = app.create_message_with_key(sample::ANDREW_SUB, key, &body).await;
        assert_eq!(retry.status, 200, "{key}: {retry:?}");
        assert!(retry.replayed, "{key}: the stored message, not a new one");
        let group = retry.body["message_group_uuid"].as_str().unwrap_or(sample::GROUP);
        let stored = whole_message_group(&direct, GroupUuid::parse(group).unwrap()).await;
        let mine: Vec<_> = stored.iter().filter(|m| m.content.as_str() == "answer lost").collect();
        assert_eq!(mine.len(), 1, "{key}: stored once");
        assert_eq!(json!(mine[0].uuid.to_string()), retry.body["uuid"], "{key}");
    }
}

/// The key is claimed, then the message's transaction fails on every
/// attempt (as if the function died between the two): nothing but the
/// claim is stored, and the retry with the key sends the claimed message,
/// once, and counts it once; a third request replays it.
#[tokio::test(flavor = "multi_thread")]
async fn a_claimed_key_whose_send_failed_is_completed_by_the_retry() {
    let FaultStack { proxy, app, direct, .. } = FaultStack::start().await;
    let body = reply("claimed, then failed");
    let count = |v: &Value| v["count"].as_u64().unwrap_or(u64::MAX);
    let unread_before = count(&app.message_counter(sample::BAYKO_SUB).await.body);
    proxy.inject(Fault::ServerError, None, Some("TransactWriteItems"));
    let failed = app.create_message_with_key(sample::ANDREW_SUB, "claimed-then-failed", &body).await;
    proxy.heal();
    assert_eq!(failed.pair(), (503, json!(["generic_503"])));
    assert_eq!(messages_with_text(&direct, sample::GROUP, "claimed, then failed").await, 0, "no message yet");
    let retry = app.create_message_with_key(sample::ANDREW_SUB, "claimed-then-failed", &body).await;
    assert_eq!(retry.status, 200, "{retry:?}");
    assert!(!retry.replayed, "stored by this request");
    let again = app.create_message_with_key(sample::ANDREW_SUB, "claimed-then-failed", &body).await;
    assert!(again.replayed && again.body == retry.body, "{again:?}");
    assert_eq!(messages_with_text(&direct, sample::GROUP, "claimed, then failed").await, 1, "stored once");
    assert_eq!(count(&app.message_counter(sample::BAYKO_SUB).await.body), unread_before + 1, "counted once");
}

/// The recipient's unread counts move with the message, once: a repeat of a
/// keyed send (answered from the key's record) and a retry after a lost
/// answer never count the message twice, in the group row or the totals.
#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_key_is_never_counted_twice() {
    let s = FaultStack::start().await;
    async fn counter(app: &TestApp) -> Value {
        app.message_counter(sample::BAYKO_SUB).await.ok().body
    }
    async fn unread_row(app: &TestApp) -> Value {
        let groups = app.list_message_groups(sample::BAYKO_SUB, "").await.ok().body;
        groups.as_array().unwrap().iter().find(|g| g["uuid"] == sample::GROUP).unwrap()["unread"].clone()
    }
    // bayko has read everything in the fixture.
    s.app.mark_read(sample::BAYKO_SUB, sample::GROUP).await.ok();
    assert_eq!(counter(&s.app).await, json!({"count": 0, "conversations": 0}));
    let first = s.app.create_message_with_key(sample::ANDREW_SUB, "count-once", &reply("counted once")).await.ok();
    for _ in 0..3 {
        let again = s.app.create_message_with_key(sample::ANDREW_SUB, "count-once", &reply("counted once")).await;
        assert_eq!((again.status, again.replayed, &again.body), (200, true, &first.body));
    }
    assert_eq!(counter(&s.app).await, json!({"count": 1, "conversations": 1}));
    assert_eq!(unread_row(&s.app).await, json!(1));
    // The answer lost after the commit, then the retry with the key.
    s.proxy.inject(Fault::DropAfter, None, Some("TransactWriteItems"));
    let lost = s.app.create_message_with_key(sample::ANDREW_SUB, "lost-once", &reply("lost, counted once")).await;
    s.proxy.heal();
    assert_eq!(lost.pair(), (503, json!(["generic_503"])));
    let retry = s.app.create_message_with_key(sample::ANDREW_SUB, "lost-once", &reply("lost, counted once")).await;
    assert_eq!((retry.status, retry.replayed), (200, true), "{retry:?}");
    assert_eq!(counter(&s.app).await, json!({"count": 2, "conversations": 1}));
    assert_eq!(unread_row(&s.app).await, json!(2));
    assert_eq!(messages_with_text(&s.direct, sample::GROUP, "lost, counted once").await, 1);
}
