//! The stream function's delivery (`deliver-messages`), record by record:
//! the real `Delivery` over DynamoDB Local (through the fault proxy), posting
//! through the management API's SDK client to a stand-in of API Gateway's
//! `@connections` API that records each post. Which records are delivered,
//! to which connections; which are passed over; how a batch reports the
//! record that could not be delivered and what it leaves for Lambda's retry.

use cruddur_core::domain::{ConnectionId, Timestamp, UserUuid};
use cruddur_core::realtime::Delivery;
use cruddur_devkit::connections::ConnectionsStandIn;
use cruddur_devkit::events::{stream_batch, stream_record};
use cruddur_devkit::faults::{Fault, FaultStack};
use cruddur_devkit::fixtures::{handle, sample};
use lambda_http::aws_lambda_events::dynamodb::EventRecord;
use serde_json::{json, Value};

struct Rig {
    s: FaultStack,
    connections: ConnectionsStandIn,
    delivery: Delivery,
}

async fn rig() -> Rig {
    let s = FaultStack::start().await;
    let connections = ConnectionsStandIn::start().await;
    let delivery = Delivery::new(s.app.store.clone(), connections.client());
    Rig { s, connections, delivery }
}

impl Rig {
    async fn uuid_of(&self, who: &str) -> UserUuid {
        self.s.direct.user_by_handle(&handle(who)).await.unwrap().expect("a seed user").uuid
    }

    /// Records connection `id` as `who`'s, opened `age_secs` ago.
    async fn connect(&self, who: &str, id: &str, age_secs: i64) {
        let at = Timestamp::from_unix_micros(Timestamp::now().unix_micros() - age_secs * 1_000_000).unwrap();
        let user = self.uuid_of(who).await;
        self.s.direct.add_connection(user, &ConnectionId::parse(id).unwrap(), at).await.unwrap();
    }

    /// `who` replies `text` in the sample group; the stored message's item.
    async fn reply(&self, who: &str, text: &str) -> Value {
        let sub = match who {
            "andrewbrown" => sample::ANDREW_SUB,
            _ => sample::BAYKO_SUB,
        };
        let sent = self.s.app.reply(sub, text).await.ok();
        self.item_of(sent.body["uuid"].as_str().unwrap()).await
    }

    /// The stored item of message `uuid`.
    async fn item_of(&self, uuid: &str) -> Value {
        let items = self.s.direct.scan_all().await.unwrap();
        items.into_iter().find(|i| i["message_uuid"] == uuid).expect("the message's item")
    }

    async fn counter(&self, sub: &str) -> Value {
        self.s.app.message_counter(sub).await.ok().body
    }
}

fn failures(response: &lambda_http::aws_lambda_events::streams::DynamoDbEventResponse) -> Vec<String> {
    response.batch_item_failures.iter().map(|f| f.item_identifier.clone().unwrap_or_default()).collect()
}

fn sequence(record: &EventRecord) -> String {
    record.change.sequence_number.clone().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_message_reaches_every_open_connection_of_both_members_and_no_other() {
    let r = rig().await;
    r.connect("andrewbrown", "andrew-tab-1", 60).await;
    r.connect("andrewbrown", "andrew-tab-2", 60).await;
    r.connect("bayko", "bayko-phone", 60).await;
    r.connect("londo", "londo-tab", 60).await;
    // Opened 4 hours ago: past its lifetime (API Gateway closes connections
    // at 2 h), a record TTL has not removed yet.
    r.connect("bayko", "bayko-expired", 4 * 3600).await;

    let item = r.reply("andrewbrown", "for every tab").await;
    let uuid = item["message_uuid"].as_str().unwrap().to_owned();
    let answer = r.delivery.handle(stream_batch(vec![stream_record("INSERT", &item, 1)])).await;
    assert_eq!(failures(&answer), Vec::<String>::new());
    assert_eq!(r.connections.posted(&uuid), ["andrew-tab-1", "andrew-tab-2", "bayko-phone"]);
    assert_eq!(r.connections.posts().len(), 3, "nothing else was posted");
    for (id, body) in r.connections.posts() {
        assert_eq!(body["type"], "message");
        assert_eq!(body["message"], "for every tab");
        assert_eq!(body["handle"], "andrewbrown");
        assert_eq!(body["message_group_uuid"], sample::GROUP);
        if id == "bayko-phone" {
            assert_eq!(body["unread"], r.counter(sample::BAYKO_SUB).await, "the recipient's counts");
        } else {
            assert!(body.get("unread").is_none(), "the sender's tabs carry no counts: {body}");
        }
    }
}

/// Only INSERTs of messages are delivered: a message's MODIFY, another
/// item's INSERT, a message image that does not parse, and a message whose
/// sender is not a member of its group are passed over (retrying cannot
/// change them) without failing the batch, and the records after them are
/// delivered.
#[tokio::test(flavor = "multi_thread")]
async fn records_that_are_not_deliverable_new_messages_are_passed_over_and_the_batch_goes_on() {
    let r = rig().await;
    r.connect("andrewbrown", "andrew-tab", 60).await;
    r.connect("bayko", "bayko-phone", 60).await;
    r.connect("londo", "londo-tab", 60).await;
    let modified = r.reply("andrewbrown", "modified later").await;
    let connection =
        r.s.direct
            .scan_all()
            .await
            .unwrap()
            .into_iter()
            .find(|i| i["pk"].as_str().unwrap().starts_with("CONN#"))
            .unwrap();
    let mut unparsable = r.reply("bayko", "unparsable image").await;
    unparsable["created_at"] = json!("not a time");
    let mut forged = r.reply("bayko", "from someone else").await;
    forged["user_uuid"] = json!(r.uuid_of("londo").await.to_string());
    forged["user_handle"] = json!("londo");
    let good = r.reply("bayko", "the one to deliver").await;

    let batch = vec![
        stream_record("MODIFY", &modified, 1),
        stream_record("INSERT", &connection, 2),
        stream_record("INSERT", &unparsable, 3),
        stream_record("INSERT", &forged, 4),
        stream_record("INSERT", &good, 5),
    ];
    let answer = r.delivery.handle(stream_batch(batch)).await;
    assert_eq!(failures(&answer), Vec::<String>::new(), "none of them can succeed later: not failures");
    let uuid = good["message_uuid"].as_str().unwrap();
    assert_eq!(r.connections.posted(uuid), ["andrew-tab", "bayko-phone"]);
    assert_eq!(r.connections.posts().len(), 2, "only the new message was posted: {:?}", r.connections.posts());
}

/// A record whose delivery fails as a whole (the table cannot be read for
/// it) is reported as the batch's failure; the records before it were
/// delivered, those after it are not tried (Lambda retries from the failed
/// one, keeping each message group's order), and the retry delivers them.
#[tokio::test(flavor = "multi_thread")]
async fn a_record_that_cannot_be_read_fails_the_batch_from_there_and_the_retry_delivers_the_rest() {
    let r = rig().await;
    r.connect("bayko", "bayko-phone", 60).await;
    let items = [
        r.reply("andrewbrown", "first").await,
        r.reply("andrewbrown", "second").await,
        r.reply("andrewbrown", "third").await,
    ];
    let records: Vec<EventRecord> =
        items.iter().enumerate().map(|(n, item)| stream_record("INSERT", item, n as u64 + 1)).collect();
    let uuid = |n: usize| items[n]["message_uuid"].as_str().unwrap().to_owned();
    // The first record reads the group row and bayko's counts (two
    // GetItems); from the second record on, every GetItem fails.
    r.s.proxy.inject_after(2, Fault::ServerError, None, Some("GetItem"));
    let answer = r.delivery.handle(stream_batch(records.clone())).await;
    r.s.proxy.heal();
    assert_eq!(failures(&answer), [sequence(&records[1])], "the second record is the batch's failure");
    assert_eq!(r.connections.posted(&uuid(0)), ["bayko-phone"], "the first was delivered");
    assert_eq!(r.connections.posted(&uuid(1)), Vec::<String>::new());
    assert_eq!(r.connections.posted(&uuid(2)), Vec::<String>::new(), "the third was not tried");

    // Lambda's retry: the batch from the failed record on.
    let answer = r.delivery.handle(stream_batch(records[1..].to_vec())).await;
    assert_eq!(failures(&answer), Vec::<String>::new());
    for n in 0..3 {
        assert_eq!(r.connections.posted(&uuid(n)), ["bayko-phone"], "message {n} posted once");
    }
}

/// A connection the management API reports gone (410) is removed; the
/// member's other connections get the message and the record succeeds.
#[tokio::test(flavor = "multi_thread")]
async fn a_gone_connection_is_removed_and_the_others_still_get_the_message() {
    let r = rig().await;
    r.connect("bayko", "bayko-gone", 60).await;
    r.connect("bayko", "bayko-phone", 60).await;
    r.connections.answer("bayko-gone", 410);
    let item = r.reply("andrewbrown", "anyone there?").await;
    let answer = r.delivery.handle(stream_batch(vec![stream_record("INSERT", &item, 1)])).await;
    assert_eq!(failures(&answer), Vec::<String>::new());
    let uuid = item["message_uuid"].as_str().unwrap();
    assert_eq!(r.connections.posted(uuid), ["bayko-gone", "bayko-phone"]);
    let bayko = r.uuid_of("bayko").await;
    let open: Vec<String> =
        r.s.direct.connections_of(bayko, Timestamp::now()).await.unwrap().iter().map(|c| c.to_string()).collect();
    assert_eq!(open, ["bayko-phone"], "the gone connection's record is removed");
}
