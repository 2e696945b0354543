//! Database faults between the functions and DynamoDB (a fault-injecting
//! proxy in front of DynamoDB Local): retries succeed once faults stop;
//! when they do not, the caller gets 503 and the table holds the whole
//! message with both group rows updated, or nothing of it. Transaction
//! conflicts (which DynamoDB Local never reports) are injected the way
//! DynamoDB reports them.

use std::time::{Duration, Instant};

use cruddur_core::domain::GroupUuid;
use cruddur_core::triggers;
use cruddur_core::{Config, Store};
use cruddur_devkit::client::{create_message_event, message_groups_event, messages_event, users_short_event, TestApp};
use cruddur_devkit::engines::{dynamodb_endpoint, local_store};
use cruddur_devkit::events;
use cruddur_devkit::faults::{Fault, FaultProxy};
use cruddur_devkit::fixtures::{handle, sample, sample_fixture, whole_message_group};
use serde_json::{json, Value};

struct Stack {
    proxy: FaultProxy,
    /// Through the proxy, with the functions' default time budgets.
    app: TestApp,
    /// Straight to the server, for checking.
    direct: Store,
}

async fn stack() -> Stack {
    let proxy = FaultProxy::start(&dynamodb_endpoint()).await;
    let config = Config { table: format!("faults-{}", uuid::Uuid::new_v4().simple()), ..Config::default() };
    let through = local_store(&config, &proxy.url).await;
    cruddur_core::store::MESSAGES_TABLE.create_without_stream(through.client(), through.table()).await.unwrap();
    sample_fixture(&through).await;
    let direct = local_store(&config, &dynamodb_endpoint()).await;
    Stack { proxy, app: TestApp::new(through), direct }
}

async fn reply(app: &TestApp, text: &str) -> (u16, Value) {
    send(app, json!({"message": text, "message_group_uuid": sample::GROUP})).await
}

async fn send(app: &TestApp, body: Value) -> (u16, Value) {
    app.create_message(sample::ANDREW_SUB, &body).await.pair()
}

async fn snapshot(store: &Store) -> Vec<String> {
    let mut items: Vec<String> = store.scan_all().await.unwrap().iter().map(Value::to_string).collect();
    items.sort();
    items
}

/// How many stored messages have `text`, and whether both members' summaries show it.
async fn stored(store: &Store, text: &str) -> (usize, bool) {
    let group = GroupUuid::parse(sample::GROUP).unwrap();
    let count = whole_message_group(store, group).await.iter().filter(|m| m.text.as_str() == text).count();
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
    let s = stack().await;
    for (i, fault) in [Fault::Throttle, Fault::ServerError, Fault::DropBefore].into_iter().enumerate() {
        let text = format!("through {fault:?}");
        let before = s.proxy.injected();
        s.proxy.inject(fault, Some(2), None);
        let (status, body) = reply(&s.app, &text).await;
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
    let s = stack().await;
    s.proxy.inject(Fault::DropAfter, Some(1), Some("TransactWriteItems"));
    let (status, body) = reply(&s.app, "answer lost once").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.proxy.injected(), 1);
    assert_eq!(stored(&s.direct, "answer lost once").await, (1, true));
}

#[tokio::test(flavor = "multi_thread")]
async fn persistent_faults_answer_503_and_write_nothing() {
    let s = stack().await;
    for (fault, only) in [
        (Fault::Throttle, None),
        (Fault::ServerError, None),
        (Fault::DropBefore, None),
        (Fault::Throttle, Some("TransactWriteItems")),
        (Fault::ServerError, Some("TransactWriteItems")),
    ] {
        let before = snapshot(&s.direct).await;
        s.proxy.inject(fault, None, only);
        let (status, body) = reply(&s.app, "never stored").await;
        s.proxy.heal();
        assert_eq!((status, body), (503, json!(["generic_503"])), "{fault:?} on {only:?}");
        assert_eq!(snapshot(&s.direct).await, before, "{fault:?} on {only:?}: nothing written");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_database_cannot_eat_the_lambda_timeout_and_leaves_all_or_nothing() {
    let s = stack().await;
    // The transaction's answers take longer than the attempt timeout.
    s.proxy.inject(Fault::Slow(Duration::from_secs(6)), None, Some("TransactWriteItems"));
    let started = Instant::now();
    let (status, body) = reply(&s.app, "slow write").await;
    let elapsed = started.elapsed();
    assert_eq!((status, body), (503, json!(["generic_503"])));
    // template.yaml gives the function 10 s; the answer must come well before.
    assert!(elapsed < Duration::from_secs(8), "answered after {elapsed:?}");
    // The held requests reach the server late; the table ends whole either way.
    s.proxy.settle().await;
    s.proxy.heal();
    match stored(&s.direct, "slow write").await {
        (0, _) => {}
        (1, true) => {}
        other => panic!("half-written: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn transaction_conflicts_are_retried_with_backoff_and_the_message_is_stored_once() {
    let s = stack().await;
    // A reply (message + both summaries), then a new message group (pair,
    // both rows, message): each cancelled three times for a conflict.
    s.proxy.inject(Fault::Conflict, Some(3), Some("TransactWriteItems"));
    let (status, body) = reply(&s.app, "after three conflicts").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.proxy.injected(), 3);
    assert_eq!(stored(&s.direct, "after three conflicts").await, (1, true));

    s.proxy.inject(Fault::Conflict, Some(3), Some("TransactWriteItems"));
    let (status, body) = send(&s.app, json!({"message": "hello londo", "handle": "londo"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.proxy.injected(), 6);
    let group = GroupUuid::parse(body["message_group_uuid"].as_str().unwrap()).unwrap();
    let messages = whole_message_group(&s.direct, group).await;
    assert_eq!(messages.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["hello londo"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_that_keeps_conflicting_is_tried_a_bounded_number_of_times_then_503() {
    let s = stack().await;
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
        let (status, answer) = send(&s.app, body.clone()).await;
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
    let s = stack().await;
    // The SDK retries it with the same ClientRequestToken.
    s.proxy.inject(Fault::InProgress, Some(2), Some("TransactWriteItems"));
    let (status, body) = reply(&s.app, "after two in-progress answers").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.proxy.injected(), 2);
    assert_eq!(stored(&s.direct, "after two in-progress answers").await, (1, true));

    let before = snapshot(&s.direct).await;
    s.proxy.inject(Fault::InProgress, None, Some("TransactWriteItems"));
    let (status, body) = reply(&s.app, "never stored").await;
    s.proxy.heal();
    assert_eq!((status, body), (503, json!(["generic_503"])));
    let sdk_attempts = usize::try_from(Config::default().max_attempts).unwrap();
    assert_eq!(s.proxy.injected(), 2 + sdk_attempts, "the SDK's attempts, then 503");
    assert_eq!(snapshot(&s.direct).await, before, "nothing written");
}

/// A brownout: every DynamoDB call answers, but slowly (1.4 s, under the
/// attempt timeout, so no call gives up on its own). A request makes several
/// calls one after another; with 2.5 s left before Lambda's deadline, each
/// route must answer before it (the contract's 503 once the shared deadline
/// passes) instead of being killed, and what it wrote is whole or absent.
#[tokio::test(flavor = "multi_thread")]
async fn in_a_brownout_every_route_and_trigger_answers_before_the_lambda_deadline() {
    let s = stack().await;
    let time_left = Duration::from_millis(2500);
    s.proxy.inject(Fault::Slow(Duration::from_millis(1400)), None, None);
    let routes = [
        (message_groups_event(), false),
        (messages_event(sample::GROUP), false),
        (
            create_message_event()
                .json_body(&json!({"message": "brownout reply", "message_group_uuid": sample::GROUP})),
            false,
        ),
        (create_message_event().json_body(&json!({"message": "brownout start", "handle": "londo"})), false),
        (users_short_event("@bayko"), true),
    ];
    for (event, one_call) in routes {
        let route = event.json()["routeKey"].as_str().unwrap_or_default().to_owned();
        // A fresh function instance each time (no cached caller).
        let app = TestApp::new(s.app.store.clone());
        let started = Instant::now();
        let answer = app.call_with_deadline(event.caller(Some(sample::ANDREW_SUB)), time_left).await;
        let elapsed = started.elapsed();
        assert!(elapsed < time_left, "{route}: answered after {elapsed:?}, past Lambda's deadline");
        if one_call {
            assert!(answer.status == 200 || answer.pair() == (503, json!(["generic_503"])), "{route}: {answer:?}");
        } else {
            assert_eq!(answer.pair(), (503, json!(["generic_503"])), "{route}: after {elapsed:?}");
        }
    }
    // The triggers, with the same time left.
    let sub = uuid::Uuid::new_v4().to_string();
    let started = Instant::now();
    let confirmed = triggers::within_deadline(
        cruddur_devkit::client::lambda_context(Duration::from_millis(1500)).deadline,
        triggers::post_confirmation(
            &s.app.store,
            events::post_confirmation(&sub, "brownie", "Brown Out", "brownie@example.com"),
        ),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "post-confirmation answered after {:?}",
        started.elapsed()
    );
    let err = confirmed.expect_err("past the deadline").to_string();
    assert_eq!(err, "Sign-up is temporarily unavailable. Please try again.");
    let started = Instant::now();
    let checked = triggers::within_deadline(
        cruddur_devkit::client::lambda_context(Duration::from_millis(1500)).deadline,
        triggers::pre_sign_up(&s.app.store, events::pre_sign_up("brownie2", "Brown Out", "b2@example.com")),
    )
    .await;
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(
        checked.expect_err("past the deadline").to_string(),
        "Sign-up is temporarily unavailable. Please try again."
    );

    // Once the held requests land: each write whole or absent.
    s.proxy.settle().await;
    s.proxy.heal();
    match stored(&s.direct, "brownout reply").await {
        (0, _) | (1, true) => {}
        other => panic!("half-written reply: {other:?}"),
    }
    let brownie = s.direct.user_by_cognito_sub(&cruddur_core::domain::CognitoSub::parse(&sub).unwrap()).await.unwrap();
    let by_handle = s.direct.user_by_handle(&handle("brownie")).await.unwrap();
    assert_eq!(brownie.is_some(), by_handle.is_some(), "profile, handle claim and link together or not at all");
}
