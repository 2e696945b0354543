//! The local stream feed behaves like Lambda's event source mapping: a batch
//! whose delivery reports a failed record is retried from that record, not
//! from the start of the batch (the records before it are not posted again);
//! an expired shard iterator is renewed after the last record handled, so
//! the shard goes on.

use std::time::Duration;

use cruddur_core::domain::{ConnectionId, Timestamp};
use cruddur_core::realtime::Delivery;
use cruddur_core::store::{Store, MESSAGES_TABLE};
use cruddur_devkit::client::TestApp;
use cruddur_devkit::connections::ConnectionsStandIn;
use cruddur_devkit::engines::{dynamodb_endpoint, local_sdk_config, local_store};
use cruddur_devkit::faults::{Fault, FaultProxy};
use cruddur_devkit::fixtures::{handle, sample, sample_fixture, test_config};
use cruddur_local_api::stream::Feed;

/// Which of the feed's reads go through the fault proxy.
enum Through {
    /// The delivery's reads of the table.
    Delivery,
    /// The feed's reads of the stream.
    Stream,
}

/// A table with the stream and the sample fixture, bayko connected, a
/// fault proxy, a recording `@connections` stand-in, and the feed running
/// (every 50 ms) with `through`'s reads through the proxy.
async fn rig(through: Through) -> (Store, FaultProxy, ConnectionsStandIn, Feed) {
    let config = test_config();
    let direct = local_store(&config, &dynamodb_endpoint()).await;
    // The production definition, stream included.
    MESSAGES_TABLE.create(direct.client(), direct.table()).await.unwrap();
    sample_fixture(&direct).await;
    let bayko = direct.user_by_handle(&handle("bayko")).await.unwrap().unwrap();
    let long_ago = Timestamp::from_unix_micros(Timestamp::now().unix_micros() - 60_000_000).unwrap();
    direct.add_connection(bayko.uuid, &ConnectionId::parse("bayko-phone").unwrap(), long_ago).await.unwrap();

    let proxy = FaultProxy::start(&dynamodb_endpoint()).await;
    let connections = ConnectionsStandIn::start().await;
    let (table_at, stream_at) = match through {
        Through::Delivery => (proxy.url.clone(), dynamodb_endpoint()),
        Through::Stream => (dynamodb_endpoint(), proxy.url.clone()),
    };
    let delivery = Delivery::new(local_store(&config, &table_at).await, connections.client().await);
    let streams = aws_sdk_dynamodbstreams::Client::new(&local_sdk_config(&config, &stream_at).await);
    let feed =
        Feed::start(direct.client(), streams, direct.table(), delivery, Duration::from_millis(50)).await.unwrap();
    (direct, proxy, connections, feed)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_record_is_retried_from_itself_not_from_the_start_of_its_batch() {
    let config = test_config();
    // The delivery reads the table through the fault proxy.
    let (direct, proxy, connections, feed) = rig(Through::Delivery).await;

    // Three messages, written before the feed first polls: one batch.
    let app = TestApp::new(direct.clone());
    let mut uuids = Vec::new();
    for n in 1..=3 {
        let sent = app.reply(sample::ANDREW_SUB, &format!("batch {n}")).await.ok();
        uuids.push(sent.body["uuid"].as_str().unwrap().to_owned());
    }
    // The first record reads three items (its group row, bayko's profile and
    // counts); the second record's first read then fails on every SDK
    // attempt, once.
    let attempts = usize::try_from(config.max_attempts).unwrap();
    proxy.inject_after(3, Fault::ServerError, Some(attempts), Some("GetItem"));
    tokio::spawn(feed.run());

    let posted = |uuid: &str| connections.posted(uuid).len();
    for _ in 0..200 {
        if uuids.iter().all(|u| posted(u) > 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(proxy.injected(), attempts, "the second record failed once");
    let counts: Vec<usize> = uuids.iter().map(|u| posted(u)).collect();
    assert_eq!(counts, [1, 1, 1], "each message posted once: the retry resumed at the failed record");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_shard_iterator_is_renewed_after_the_last_record_handled() {
    // The feed reads the stream through the fault proxy.
    let (direct, proxy, connections, feed) = rig(Through::Stream).await;
    tokio::spawn(feed.run());

    let app = TestApp::new(direct.clone());
    let posted = |uuid: &str| connections.posted(uuid).len();
    let send_and_wait = |text: &'static str| {
        let app = &app;
        async move {
            let sent = app.reply(sample::ANDREW_SUB, text).await.ok();
            let uuid = sent.body["uuid"].as_str().unwrap().to_owned();
            for _ in 0..200 {
                if posted(&uuid) > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            uuid
        }
    };
    let before = send_and_wait("before the iterator expires").await;
    assert_eq!(posted(&before), 1, "delivered");
    // The shard's iterator expires at its next read, for good.
    proxy.inject(Fault::ExpiredIterator, Some(1), Some("GetRecords"));
    let after = send_and_wait("after the iterator expired").await;
    assert_eq!(proxy.injected(), 1, "the iterator expired");
    assert_eq!(posted(&after), 1, "the shard goes on with a renewed iterator");
    assert_eq!(posted(&before), 1, "from after the last record handled: nothing posted twice");
}
