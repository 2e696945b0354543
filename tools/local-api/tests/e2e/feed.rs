//! The local stream feed behaves like Lambda's event source mapping: a batch
//! whose delivery reports a failed record is retried from that record, not
//! from the start of the batch (the records before it are not posted again).

use std::time::Duration;

use cruddur_core::domain::{ConnectionId, Timestamp};
use cruddur_core::realtime::Delivery;
use cruddur_core::store::MESSAGES_TABLE;
use cruddur_devkit::client::TestApp;
use cruddur_devkit::connections::ConnectionsStandIn;
use cruddur_devkit::engines::{dynamodb_endpoint, local_sdk_config, local_store};
use cruddur_devkit::faults::{Fault, FaultProxy};
use cruddur_devkit::fixtures::{handle, sample, sample_fixture, test_config};
use cruddur_local_api::stream::Feed;

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_record_is_retried_from_itself_not_from_the_start_of_its_batch() {
    let config = test_config();
    let direct = local_store(&config, &dynamodb_endpoint()).await;
    // The production definition, stream included.
    MESSAGES_TABLE.create(direct.client(), direct.table()).await.unwrap();
    sample_fixture(&direct).await;
    let bayko = direct.user_by_handle(&handle("bayko")).await.unwrap().unwrap();
    let long_ago = Timestamp::from_unix_micros(Timestamp::now().unix_micros() - 60_000_000).unwrap();
    direct.add_connection(bayko.uuid, &ConnectionId::parse("bayko-phone").unwrap(), long_ago).await.unwrap();

    // The delivery reads the table through the fault proxy.
    let proxy = FaultProxy::start(&dynamodb_endpoint()).await;
    let connections = ConnectionsStandIn::start().await;
    let delivery = Delivery::new(local_store(&config, &proxy.url).await, connections.client().await);
    let streams = aws_sdk_dynamodbstreams::Client::new(&local_sdk_config(&config, &dynamodb_endpoint()).await);
    let feed =
        Feed::start(direct.client(), streams, direct.table(), delivery, Duration::from_millis(50)).await.unwrap();

    // Three messages, written before the feed first polls: one batch.
    let app = TestApp::new(direct.clone());
    let mut uuids = Vec::new();
    for n in 1..=3 {
        let sent = app.reply(sample::ANDREW_SUB, &format!("batch {n}")).await.ok();
        uuids.push(sent.body["uuid"].as_str().unwrap().to_owned());
    }
    // The first record reads two items (its group row, bayko's counts); the
    // second record's first read then fails on every SDK attempt, once.
    let attempts = usize::try_from(config.max_attempts).unwrap();
    proxy.inject_after(2, Fault::ServerError, Some(attempts), Some("GetItem"));
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
