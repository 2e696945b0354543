//! Database faults between the functions and DynamoDB (a fault-injecting
//! proxy in front of DynamoDB Local): retries succeed once faults stop;
//! when they do not, the caller gets 503 and the table holds the whole
//! message with both group rows updated, or nothing of it. Transaction
//! conflicts (which DynamoDB Local never reports) are injected the way
//! DynamoDB reports them.

use std::time::{Duration, Instant};

use cruddur_core::domain::{CognitoSub, GroupUuid};
use cruddur_core::triggers;
use cruddur_core::{Config, Store};
use cruddur_devkit::client::{
    create_message_event, lambda_context, message_groups_event, messages_event, reply, users_short_event, TestApp,
};
use cruddur_devkit::events;
use cruddur_devkit::faults::{Fault, FaultStack};
use cruddur_devkit::fixtures::{handle, messages_with_text, sample, whole_message_group};
use serde_json::{json, Value};

async fn snapshot(store: &Store) -> Vec<String> {
    let mut items: Vec<String> = store.scan_all().await.unwrap().iter().map(Value::to_string).collect();
    items.sort();
    items
}

/// How many stored messages of the sample group have `text`, and whether
/// both members' summaries show it.
async fn stored(store: &Store, text: &str) -> (usize, bool) {
    let group = GroupUuid::parse(sample::GROUP).unwrap();
    let count = messages_with_text(store, sample::GROUP, text).await;
    let mut both = true;
    for h in ["andrewbrown", "bayko"] {
        let user = store.user_by_handle(&handle(h)).await.unwrap().unwrap();
        let row = store.message_group(user.uuid, group).await.unwrap().unwrap();
        both &= row.last_message.as_str() == text;
    }
    (count, both)
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_faults_are_retried_and_the_message_is_stored_once() {
    let s = FaultStack::start().await;
    for (i, fault) in [Fault::Throttle, Fault::ServerError, Fault::DropBefore].into_iter().enumerate() {
        let text = format!("through {fault:?}");
        let before = s.proxy.injected();
        s.proxy.inject(fault, Some(2), None);
        let (status, body) = s.app.reply(sample::ANDREW_SUB, &text).await.pair();
        assert_eq!(status, 200, "{fault:?}: {body}");
        assert_eq!(s.proxy.injected() - before, 2, "{fault:?} was injected");
        assert_eq!(
            stored(&s.direct, &text).await,
            (1, true),
            "{fault:?}: stored once, both summaries updated (round {i})"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_answer_to_an_applied_transaction_does_not_store_the_message_twice() {
    let s = FaultStack::start().await;
    s.proxy.inject(Fault::DropAfter, Some(1), Some("TransactWriteItems"));
    let (status, body) = s.app.reply(sample::ANDREW_SUB, "answer lost once").await.pair();
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.proxy.injected(), 1);
    assert_eq!(stored(&s.direct, "answer lost once").await, (1, true));
}

#[tokio::test(flavor = "multi_thread")]
async fn persistent_faults_answer_503_and_write_nothing() {
    let s = FaultStack::start().await;
    for (fault, only) in [
        (Fault::Throttle, None),
        (Fault::ServerError, None),
        (Fault::DropBefore, None),
        (Fault::Throttle, Some("TransactWriteItems")),
        (Fault::ServerError, Some("TransactWriteItems")),
    ] {
        let before = snapshot(&s.direct).await;
        s.proxy.inject(fault, None, only);
        let (status, body) = s.app.reply(sample::ANDREW_SUB, "never stored").await.pair();
        s.proxy.heal();
        assert_eq!((status, body), (503, json!(["generic_503"])), "{fault:?} on {only:?}");
        assert_eq!(snapshot(&s.direct).await, before, "{fault:?} on {only:?}: nothing written");
    }
}

/// The functions' own budgets (1.5 s an attempt, 4 s a call, 3 attempts)
/// against a database that holds each transaction for 20 s: the answer comes
/// once the call's 4 s budget is spent, far from both the 20 s an unbounded
/// call would wait and the function's 10 s timeout. What the table holds is
/// then exact: a request held before the engine saw it was never applied;
/// one the engine applied whose answer was held is there, whole.
#[tokio::test(flavor = "multi_thread")]
async fn a_hung_database_cannot_eat_the_lambda_timeout_and_leaves_all_or_nothing() {
    let s = FaultStack::with_budgets(Config::default()).await;
    for (fault, text, expected) in [
        (Fault::Slow(Duration::from_secs(20)), "held before the engine", (0, false)),
        (Fault::LateAnswer(Duration::from_secs(20)), "applied, answer held", (1, true)),
    ] {
        s.proxy.inject(fault, None, Some("TransactWriteItems"));
        let started = Instant::now();
        let answer = s.app.reply(sample::ANDREW_SUB, text).await;
        let elapsed = started.elapsed();
        assert_eq!(answer.pair(), (503, json!(["generic_503"])), "{fault:?}");
        // template.yaml gives the function 10 s; the call's budget is 4 s.
        assert!(elapsed < Duration::from_secs(8), "{fault:?}: answered after {elapsed:?}");
        s.proxy.settle().await;
        s.proxy.heal();
        assert_eq!(stored(&s.direct, text).await, expected, "{fault:?}: whole or absent, as the engine saw it");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn transaction_conflicts_are_retried_with_backoff_and_the_message_is_stored_once() {
    let s = FaultStack::start().await;
    // A reply (message + both summaries), then a new message group (pair,
    // both rows, message): each cancelled three times for a conflict.
    s.proxy.inject(Fault::Conflict, Some(3), Some("TransactWriteItems"));
    let (status, body) = s.app.reply(sample::ANDREW_SUB, "after three conflicts").await.pair();
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.proxy.injected(), 3);
    assert_eq!(stored(&s.direct, "after three conflicts").await, (1, true));

    s.proxy.inject(Fault::Conflict, Some(3), Some("TransactWriteItems"));
    let (status, body) =
        s.app.create_message(sample::ANDREW_SUB, &json!({"message": "hello londo", "handle": "londo"})).await.pair();
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.proxy.injected(), 6);
    let group = GroupUuid::parse(body["message_group_uuid"].as_str().unwrap()).unwrap();
    let messages = whole_message_group(&s.direct, group).await;
    assert_eq!(messages.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["hello londo"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_that_keeps_conflicting_is_tried_a_bounded_number_of_times_then_503() {
    let s = FaultStack::start().await;
    let attempts = usize::try_from(cruddur_core::store::MAX_TRANSACTION_ATTEMPTS).unwrap();
    for (n, body) in [
        json!({"message": "never stored", "message_group_uuid": sample::GROUP}),
        json!({"message": "never stored", "handle": "londo"}),
    ]
    .into_iter()
    .enumerate()
    {
        let before = snapshot(&s.direct).await;
        s.proxy.inject(Fault::Conflict, None, Some("TransactWriteItems"));
        let started = Instant::now();
        let (status, answer) = s.app.create_message(sample::ANDREW_SUB, &body).await.pair();
        let elapsed = started.elapsed();
        s.proxy.heal();
        assert_eq!((status, answer), (503, json!(["generic_503"])), "{body}");
        assert_eq!(s.proxy.injected(), attempts * (n + 1), "{body}: tried exactly {attempts} times");
        assert_eq!(snapshot(&s.direct).await, before, "{body}: nothing written");
        // Well inside the function's 10 s timeout, backoff included.
        assert!(elapsed < Duration::from_secs(8), "{body}: answered after {elapsed:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_in_progress_is_retried_and_a_persistent_one_answers_503() {
    let s = FaultStack::start().await;
    // The SDK retries it with the same ClientRequestToken.
    s.proxy.inject(Fault::InProgress, Some(2), Some("TransactWriteItems"));
    let (status, body) = s.app.reply(sample::ANDREW_SUB, "after two in-progress answers").await.pair();
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.proxy.injected(), 2);
    assert_eq!(stored(&s.direct, "after two in-progress answers").await, (1, true));

    let before = snapshot(&s.direct).await;
    s.proxy.inject(Fault::InProgress, None, Some("TransactWriteItems"));
    let (status, body) = s.app.reply(sample::ANDREW_SUB, "never stored").await.pair();
    s.proxy.heal();
    assert_eq!((status, body), (503, json!(["generic_503"])));
    let sdk_attempts = usize::try_from(s.config.max_attempts).unwrap();
    assert_eq!(s.proxy.injected(), 2 + sdk_attempts, "the SDK's attempts, then 503");
    assert_eq!(snapshot(&s.direct).await, before, "nothing written");
}

/// A brownout: every DynamoDB call is applied at once but answered after
/// 8 s (the tests' budgets let each call wait that long). A request makes
/// its calls one after another; with 3 s left before Lambda's deadline,
/// every route and trigger must answer on the invocation's own deadline
/// (2.5 s: the time left less `deadline::MARGIN`, whose arithmetic the core's
/// unit test checks) with the contract's 503, far from the 8 s a single held
/// call would take. The threshold, 5 s, sits between the two with 2.5 s of
/// scheduling slack on either side. What was written is then exact: the
/// routes never reached their write; the confirmation's one transaction was
/// applied whole.
#[tokio::test(flavor = "multi_thread")]
async fn in_a_brownout_every_route_and_trigger_answers_on_the_lambda_deadline() {
    let s = FaultStack::start().await;
    let time_left = Duration::from_secs(3);
    let cut_off = Duration::from_secs(5);
    s.proxy.inject(Fault::LateAnswer(Duration::from_secs(8)), None, None);
    let routes = [
        message_groups_event(),
        messages_event(sample::GROUP),
        create_message_event().json_body(&reply("brownout reply")),
        create_message_event().json_body(&json!({"message": "brownout start", "handle": "londo"})),
        users_short_event("@bayko"),
    ];
    let mut routes: Vec<_> = routes
        .into_iter()
        .map(|event| {
            let route = event.json()["routeKey"].as_str().unwrap_or_default().to_owned();
            // A fresh function instance each (no cached caller), all at once.
            let app = TestApp::new(s.app.store.clone());
            let event = event.caller(Some(sample::ANDREW_SUB));
            tokio::spawn(async move {
                let started = Instant::now();
                let answer = app.call_with_deadline(event, time_left).await;
                (route, answer, started.elapsed())
            })
        })
        .collect();
    // The triggers, with the same time left, alongside.
    let sub = uuid::Uuid::new_v4().to_string();
    let store = s.app.store.clone();
    let confirm_sub = sub.clone();
    let confirmation = tokio::spawn(async move {
        let started = Instant::now();
        let event = events::post_confirmation(&confirm_sub, "brownie", "Brown Out", "brownie@example.com");
        let done =
            triggers::within_deadline(lambda_context(time_left).deadline, triggers::post_confirmation(&store, event))
                .await;
        (done.map(|_| ()).map_err(|e| e.to_string()), started.elapsed())
    });
    let store = s.app.store.clone();
    let check = tokio::spawn(async move {
        let started = Instant::now();
        let event = events::pre_sign_up("brownie2", "Brown Out", "b2@example.com");
        let done =
            triggers::within_deadline(lambda_context(time_left).deadline, triggers::pre_sign_up(&store, event)).await;
        (done.map(|_| ()).map_err(|e| e.to_string()), started.elapsed())
    });
    for task in routes.drain(..) {
        let (route, answer, elapsed) = task.await.unwrap();
        assert_eq!(answer.pair(), (503, json!(["generic_503"])), "{route}: after {elapsed:?}");
        assert!(elapsed < cut_off, "{route}: answered after {elapsed:?}, not on the invocation's deadline");
    }
    let unavailable = Err("Sign-up is temporarily unavailable. Please try again.".to_owned());
    for (trigger, task) in [("post-confirmation", confirmation), ("pre-sign-up", check)] {
        let (outcome, elapsed) = task.await.unwrap();
        assert_eq!(outcome, unavailable, "{trigger}");
        assert!(elapsed < cut_off, "{trigger}: answered after {elapsed:?}");
    }

    // Once the held answers are out: each write whole or absent, exactly.
    s.proxy.settle().await;
    s.proxy.heal();
    assert_eq!(stored(&s.direct, "brownout reply").await.0, 0, "the reply never reached its write");
    let items = snapshot(&s.direct).await;
    assert!(!items.iter().any(|i| i.contains("brownout start")), "the start never reached its write");
    let brownie = s.direct.user_by_cognito_sub(&CognitoSub::parse(&sub).unwrap()).await.unwrap();
    let by_handle = s.direct.user_by_handle(&handle("brownie")).await.unwrap();
    assert!(brownie.is_some(), "the confirmation's transaction was applied (its answer came too late)");
    assert_eq!(brownie.map(|u| u.uuid), by_handle.map(|u| u.uuid), "profile, handle claim and link together");
}

/// Faults on the read and mark paths, not only on sends: a few transient
/// ones are retried and the answer is the one a healthy database gives;
/// persistent ones answer 503 and write nothing.
#[tokio::test(flavor = "multi_thread")]
async fn reads_and_marks_are_retried_through_transient_faults_and_answer_503_when_they_persist() {
    let s = FaultStack::start().await;
    // Nothing unread, so that reading changes nothing; then healthy answers.
    s.app.mark_read(sample::ANDREW_SUB, sample::GROUP).await.ok();
    let healthy = [
        ("groups", s.app.list_message_groups(sample::ANDREW_SUB, "").await),
        ("messages", s.app.list_messages(sample::ANDREW_SUB, sample::GROUP, "").await),
        ("counter", s.app.message_counter(sample::ANDREW_SUB).await),
        ("short", s.app.users_short(sample::ANDREW_SUB, "@bayko").await),
    ];
    let again = |what: &'static str| {
        let app = TestApp::new(s.app.store.clone());
        async move {
            match what {
                "groups" => app.list_message_groups(sample::ANDREW_SUB, "").await,
                "messages" => app.list_messages(sample::ANDREW_SUB, sample::GROUP, "").await,
                "counter" => app.message_counter(sample::ANDREW_SUB).await,
                _ => app.users_short(sample::ANDREW_SUB, "@bayko").await,
            }
        }
    };
    for (what, answer) in &healthy {
        assert_eq!(answer.status, 200, "{what}: {answer:?}");
        for fault in [Fault::Throttle, Fault::ServerError, Fault::DropBefore] {
            let injected = s.proxy.injected();
            s.proxy.inject(fault, Some(2), None);
            let faulted = again(what).await;
            assert_eq!(s.proxy.injected() - injected, 2, "{what}: {fault:?} injected twice");
            assert_eq!(&faulted, answer, "{what} through two {fault:?}");
        }
        let before = snapshot(&s.direct).await;
        s.proxy.inject(Fault::ServerError, None, None);
        let failed = again(what).await;
        s.proxy.heal();
        assert_eq!(failed.pair(), (503, json!(["generic_503"])), "{what}");
        assert_eq!(snapshot(&s.direct).await, before, "{what}: nothing written");
    }

    // Marking read: bayko writes, andrew marks through two throttled
    // updates, then counts 0.
    assert_eq!(s.app.reply(sample::BAYKO_SUB, "mark me").await.status, 200);
    assert_eq!(s.app.message_counter(sample::ANDREW_SUB).await.body, json!({"count": 1, "conversations": 1}));
    s.proxy.inject(Fault::Throttle, Some(2), Some("UpdateItem"));
    let marked = s.app.mark_read(sample::ANDREW_SUB, sample::GROUP).await;
    assert_eq!(marked.pair(), (200, json!({"message_group_uuid": sample::GROUP, "unread": 0})));
    assert_eq!(s.app.message_counter(sample::ANDREW_SUB).await.body, json!({"count": 0, "conversations": 0}));
    // A persistent fault on the mark's update: 503, counts as they were.
    assert_eq!(s.app.reply(sample::BAYKO_SUB, "mark me too").await.status, 200);
    let before = snapshot(&s.direct).await;
    s.proxy.inject(Fault::ServerError, None, Some("UpdateItem"));
    let failed = s.app.mark_read(sample::ANDREW_SUB, sample::GROUP).await;
    s.proxy.heal();
    assert_eq!(failed.pair(), (503, json!(["generic_503"])));
    assert_eq!(snapshot(&s.direct).await, before, "nothing written");
    assert_eq!(s.app.message_counter(sample::ANDREW_SUB).await.body, json!({"count": 1, "conversations": 1}));
}

/// A read mark whose condition keeps failing (as when new messages keep
/// arriving between its read and its write) is tried a bounded number of
/// times, then answers 503 with nothing written.
#[tokio::test(flavor = "multi_thread")]
async fn a_read_mark_that_keeps_losing_its_condition_stops_after_a_bounded_number_of_attempts() {
    let s = FaultStack::start().await;
    // The seed leaves bayko's last message unread by andrew.
    assert_eq!(s.app.message_counter(sample::ANDREW_SUB).await.body, json!({"count": 1, "conversations": 1}));
    let before = snapshot(&s.direct).await;
    s.proxy.inject(Fault::ConditionFailed, None, Some("UpdateItem"));
    let failed = s.app.mark_read(sample::ANDREW_SUB, sample::GROUP).await;
    s.proxy.heal();
    assert_eq!(failed.pair(), (503, json!(["generic_503"])));
    let attempts = usize::try_from(cruddur_core::store::MAX_TRANSACTION_ATTEMPTS).unwrap();
    assert_eq!(s.proxy.injected(), attempts, "tried exactly {attempts} times");
    assert_eq!(snapshot(&s.direct).await, before, "nothing written");
    // Healthy again: the mark goes through.
    assert_eq!(s.app.mark_read(sample::ANDREW_SUB, sample::GROUP).await.status, 200);
    assert_eq!(s.app.message_counter(sample::ANDREW_SUB).await.body, json!({"count": 0, "conversations": 0}));
}

/// Sending marks the sender's side read, after the message's own
/// transaction. When that mark fails, the send still succeeds (the message
/// is whole, the recipient counts it) and the sender's count stays as it
/// was, in the conversation and the counter alike, until the next read.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_read_mark_of_the_sender_does_not_fail_the_send() {
    let s = FaultStack::start().await;
    let bayko_before = s.app.message_counter(sample::BAYKO_SUB).await.body;
    assert_eq!(s.app.message_counter(sample::ANDREW_SUB).await.body, json!({"count": 1, "conversations": 1}));
    // The message's transaction passes; the read mark's update fails every attempt.
    s.proxy.inject(Fault::ServerError, None, Some("UpdateItem"));
    let sent = s.app.reply(sample::ANDREW_SUB, "sent, not marked").await;
    s.proxy.heal();
    assert_eq!(sent.status, 200, "{sent:?}");
    assert!(s.proxy.injected() > 0, "the read mark was attempted and failed");
    assert_eq!(stored(&s.direct, "sent, not marked").await, (1, true));
    let bayko = s.app.message_counter(sample::BAYKO_SUB).await.body;
    assert_eq!(bayko["count"].as_u64(), bayko_before["count"].as_u64().map(|c| c + 1), "bayko counts it");
    // Andrew's side still shows what it showed, list and counter alike.
    assert_eq!(s.app.message_counter(sample::ANDREW_SUB).await.body, json!({"count": 1, "conversations": 1}));
    let groups = s.app.list_message_groups(sample::ANDREW_SUB, "").await;
    assert_eq!(groups.body[0]["unread"], 1, "{groups:?}");
    // The next read marks it.
    assert_eq!(s.app.mark_read(sample::ANDREW_SUB, sample::GROUP).await.status, 200);
    assert_eq!(s.app.message_counter(sample::ANDREW_SUB).await.body, json!({"count": 0, "conversations": 0}));
}
