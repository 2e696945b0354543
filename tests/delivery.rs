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
    let delivery = Delivery::new(s.app.store.clone(), connections.client().await);
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

    /// Two tabs of andrewbrown, bayko's phone, a tab of londo (in no
    /// conversation with them) and a record of bayko's opened 4 hours ago:
    /// past its lifetime (API Gateway closes connections at 2 h), a record
    /// TTL has not removed yet.
    async fn connect_two_members_a_stranger_and_an_expired_record(&self) {
        self.connect("andrewbrown", "andrew-tab-1", 60).await;
        self.connect("andrewbrown", "andrew-tab-2", 60).await;
        self.connect("bayko", "bayko-phone", 60).await;
        self.connect("londo", "londo-tab", 60).await;
        self.connect("bayko", "bayko-expired", 4 * 3600).await;
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

    /// The ids of `who`'s open connection records, sorted.
    async fn open_ids(&self, who: &str) -> Vec<String> {
        let user = self.uuid_of(who).await;
        let mut ids: Vec<String> =
            self.s.direct.connections_of(user, Timestamp::now()).await.unwrap().iter().map(|c| c.to_string()).collect();
        ids.sort();
        ids
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
    r.connect_two_members_a_stranger_and_an_expired_record().await;

    let item = r.reply("andrewbrown", "for every tab").await;
    let uuid = item["message_uuid"].as_str().unwrap().to_owned();
    let answer = r.delivery.handle(stream_batch(vec![stream_record("INSERT", &item, 1)]), None).await;
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
    let answer = r.delivery.handle(stream_batch(batch), None).await;
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
    // The first record reads the group row, bayko's profile and counts
    // (three GetItems); from the second record on, every GetItem fails.
    r.s.proxy.inject_after(3, Fault::ServerError, None, Some("GetItem"));
    let answer = r.delivery.handle(stream_batch(records.clone()), None).await;
    r.s.proxy.heal();
    assert_eq!(failures(&answer), [sequence(&records[1])], "the second record is the batch's failure");
    assert_eq!(r.connections.posted(&uuid(0)), ["bayko-phone"], "the first was delivered");
    assert_eq!(r.connections.posted(&uuid(1)), Vec::<String>::new());
    assert_eq!(r.connections.posted(&uuid(2)), Vec::<String>::new(), "the third was not tried");

    // Lambda's retry: the batch from the failed record on.
    let answer = r.delivery.handle(stream_batch(records[1..].to_vec()), None).await;
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
    let answer = r.delivery.handle(stream_batch(vec![stream_record("INSERT", &item, 1)]), None).await;
    assert_eq!(failures(&answer), Vec::<String>::new());
    let uuid = item["message_uuid"].as_str().unwrap();
    assert_eq!(r.connections.posted(uuid), ["bayko-gone", "bayko-phone"]);
    let open = r.open_ids("bayko").await;
    assert_eq!(open, ["bayko-phone"], "the gone connection's record is removed");
}

/// One stuck tab (429: its buffer is full), one that answers in 5 s and one
/// whose posts fail with 500 cost nobody else: bayko's good phone, the
/// sender's tab, and a later record of another conversation are all posted
/// in the same invocation; the batch reports no failure; the three bad
/// connections are closed (DeleteConnection) and their records removed, so
/// their clients reconnect and reload; it all ends well within the
/// function's 30 s timeout.
#[tokio::test(flavor = "multi_thread")]
async fn a_stuck_a_slow_and_a_failing_connection_cost_no_other_connection_or_record() {
    let r = rig().await;
    for id in ["bayko-stuck", "bayko-slow", "bayko-broken", "bayko-phone"] {
        r.connect("bayko", id, 60).await;
    }
    r.connect("andrewbrown", "andrew-tab", 60).await;
    r.connect("londo", "londo-tab", 60).await;
    r.connections.answer("bayko-stuck", 429);
    r.connections.delay("bayko-slow", std::time::Duration::from_secs(5));
    r.connections.answer("bayko-broken", 500);
    let first = r.reply("andrewbrown", "through the stuck tabs").await;
    // Another conversation: londo starts one with andrew.
    let started =
        r.s.app.create_message(sample::LONDO_SUB, &json!({"message": "hi andrew", "handle": "andrewbrown"})).await.ok();
    let second = r.item_of(started.body["uuid"].as_str().unwrap()).await;
    let records = vec![stream_record("INSERT", &first, 1), stream_record("INSERT", &second, 2)];

    let began = std::time::Instant::now();
    let answer = r.delivery.handle(stream_batch(records), None).await;
    let took = began.elapsed();
    assert_eq!(failures(&answer), Vec::<String>::new(), "no record fails for one connection");
    let first_uuid = first["message_uuid"].as_str().unwrap();
    let second_uuid = second["message_uuid"].as_str().unwrap();
    let posted: Vec<String> = r.connections.posted(first_uuid);
    for id in ["andrew-tab", "bayko-phone"] {
        assert!(posted.contains(&id.to_owned()), "{id} got the first message: {posted:?}");
    }
    assert_eq!(r.connections.posted(second_uuid), ["andrew-tab", "londo-tab"], "the later record too");
    assert_eq!(r.connections.deleted(), ["bayko-broken", "bayko-slow", "bayko-stuck"], "the bad ones are closed");
    let open = r.open_ids("bayko").await;
    assert_eq!(open, ["bayko-phone"], "and their records removed");
    assert!(took < std::time::Duration::from_secs(15), "took {took:?}, against a 30 s timeout");
}

/// One user with 30 open connections: the newest 10 get the message; the
/// 20 oldest get a `closing` frame (`too_many_connections`) and are closed
/// and removed, so a delivery never fans out past 10 connections a user.
#[tokio::test(flavor = "multi_thread")]
async fn a_user_with_thirty_connections_gets_pushes_on_the_newest_ten_and_the_rest_are_closed() {
    let r = rig().await;
    let cap = cruddur_core::realtime::MAX_CONNECTIONS_PER_USER;
    // conn-00 is the oldest (opened 90 s ago), conn-29 the newest.
    let ids: Vec<String> = (0..30).map(|n| format!("conn-{n:02}")).collect();
    for (n, id) in ids.iter().enumerate() {
        r.connect("bayko", id, 90 - n as i64).await;
    }
    let item = r.reply("andrewbrown", "to many tabs").await;
    let answer = r.delivery.handle(stream_batch(vec![stream_record("INSERT", &item, 1)]), None).await;
    assert_eq!(failures(&answer), Vec::<String>::new());
    let newest: Vec<String> = ids[30 - cap..].to_vec();
    let oldest: Vec<String> = ids[..30 - cap].to_vec();
    assert_eq!(r.connections.posted(item["message_uuid"].as_str().unwrap()), newest);
    assert_eq!(r.connections.deleted(), oldest);
    let told: Vec<(String, String)> = oldest.iter().map(|id| (id.clone(), "too_many_connections".to_owned())).collect();
    assert_eq!(r.connections.closing(), told, "each closed one is told why");
    let bayko = r.uuid_of("bayko").await;
    assert_eq!(r.s.direct.connections_of(bayko, Timestamp::now()).await.unwrap().len(), cap);

    // A newer connection whose token has expired takes no place among them:
    // it is closed, and the 10 valid ones still get the next message.
    let now = Timestamp::now();
    let expired = ConnectionId::parse("conn-expired").unwrap();
    r.s.direct.add_connection_until(bayko, &expired, now, Some(now.unix_seconds() - 1)).await.unwrap();
    let next = r.reply("andrewbrown", "to the same tabs").await;
    r.delivery.handle(stream_batch(vec![stream_record("INSERT", &next, 2)]), None).await;
    assert_eq!(r.connections.posted(next["message_uuid"].as_str().unwrap()), newest);
    assert!(r.connections.deleted().contains(&"conn-expired".to_owned()));
}

/// A connection lives no longer than its token: past the token's `exp` it
/// is not posted to, it gets a `closing` frame (`token_expired`) and is
/// closed and removed; a connection opened with a fresh token gets the
/// message.
#[tokio::test(flavor = "multi_thread")]
async fn a_connection_whose_token_expired_gets_no_more_messages_and_is_closed() {
    let r = rig().await;
    let bayko = r.uuid_of("bayko").await;
    let now = Timestamp::now();
    let opened = Timestamp::from_unix_micros(now.unix_micros() - 3_600_000_000).unwrap();
    let expired = ConnectionId::parse("bayko-expired-token").unwrap();
    r.s.direct.add_connection_until(bayko, &expired, opened, Some(now.unix_seconds() - 1)).await.unwrap();
    let fresh = ConnectionId::parse("bayko-fresh-token").unwrap();
    r.s.direct.add_connection_until(bayko, &fresh, opened, Some(now.unix_seconds() + 3600)).await.unwrap();
    let item = r.reply("andrewbrown", "after the token expired").await;
    let answer = r.delivery.handle(stream_batch(vec![stream_record("INSERT", &item, 1)]), None).await;
    assert_eq!(failures(&answer), Vec::<String>::new());
    assert_eq!(r.connections.posted(item["message_uuid"].as_str().unwrap()), ["bayko-fresh-token"]);
    assert_eq!(r.connections.closing(), [("bayko-expired-token".to_owned(), "token_expired".to_owned())]);
    assert_eq!(r.connections.deleted(), ["bayko-expired-token"]);
    let open = r.open_ids("bayko").await;
    assert_eq!(open, ["bayko-fresh-token"]);
}

/// A user with no profile any more (the account was removed; here its
/// item deleted by hand, as an operator would) gets no pushes: each of its
/// connections gets a `closing` frame (`account_removed`) instead of the
/// message and is closed and removed. The sender's tab still gets it.
#[tokio::test(flavor = "multi_thread")]
async fn a_user_whose_profile_is_gone_gets_no_pushes_and_is_disconnected() {
    let r = rig().await;
    r.connect("bayko", "bayko-tab", 60).await;
    r.connect("andrewbrown", "andrew-tab", 60).await;
    let bayko = r.uuid_of("bayko").await;
    r.s.direct
        .client()
        .delete_item()
        .table_name(r.s.direct.table())
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{bayko}")))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("PROFILE".into()))
        .send()
        .await
        .unwrap();
    let item = r.reply("andrewbrown", "are you still there?").await;
    let answer = r.delivery.handle(stream_batch(vec![stream_record("INSERT", &item, 1)]), None).await;
    assert_eq!(failures(&answer), Vec::<String>::new());
    assert_eq!(r.connections.posted(item["message_uuid"].as_str().unwrap()), ["andrew-tab"]);
    assert_eq!(r.connections.closing(), [("bayko-tab".to_owned(), "account_removed".to_owned())]);
    assert_eq!(r.connections.deleted(), ["bayko-tab"]);
    assert_eq!(r.open_ids("bayko").await, Vec::<String>::new());
}

/// The `$connect` race: API Gateway's `$connect` writes the record a moment
/// before the socket is live, and a post in between answers 410. A 410 for
/// a connection younger than a few seconds keeps its record (the next
/// message reaches it); an older one answering 410 is removed.
#[tokio::test(flavor = "multi_thread")]
async fn a_gone_answer_for_a_connection_just_opened_keeps_its_record() {
    let r = rig().await;
    r.connect("bayko", "bayko-opening", 1).await;
    r.connect("bayko", "bayko-left", 60).await;
    r.connections.answer("bayko-opening", 410);
    r.connections.answer("bayko-left", 410);
    let item = r.reply("andrewbrown", "during the handshake").await;
    let answer = r.delivery.handle(stream_batch(vec![stream_record("INSERT", &item, 1)]), None).await;
    assert_eq!(failures(&answer), Vec::<String>::new());
    let open = r.open_ids("bayko").await;
    assert_eq!(open, ["bayko-opening"], "the young one is kept, the old one removed");
    // The socket is live now: the next message reaches it.
    r.connections.answer("bayko-opening", 200);
    let next = r.reply("andrewbrown", "after the handshake").await;
    r.delivery.handle(stream_batch(vec![stream_record("INSERT", &next, 2)]), None).await;
    assert_eq!(r.connections.posted(next["message_uuid"].as_str().unwrap()), ["bayko-opening"]);
}

/// The invocation has a deadline like every other function: when the table
/// answers slowly, the batch stops on Lambda's deadline (less the margin)
/// and reports the record it was on, instead of running into the timeout;
/// the records after it are left for the retry.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_table_makes_the_batch_report_progress_on_the_deadline_instead_of_timing_out() {
    let r = rig().await;
    r.connect("bayko", "bayko-phone", 60).await;
    let items = [r.reply("andrewbrown", "one").await, r.reply("andrewbrown", "two").await];
    let records: Vec<EventRecord> =
        items.iter().enumerate().map(|(n, item)| stream_record("INSERT", item, n as u64 + 1)).collect();
    // Each record's two connection queries take 4 s each (the tests' budgets
    // let them): 8 s a record unbounded; 3 s are left before the deadline.
    r.s.proxy.inject(Fault::LateAnswer(std::time::Duration::from_secs(4)), None, Some("Query"));
    let deadline = cruddur_devkit::client::lambda_context(std::time::Duration::from_secs(3)).deadline;
    let began = std::time::Instant::now();
    let answer = r.delivery.handle(stream_batch(records.clone()), Some(deadline)).await;
    let took = began.elapsed();
    r.s.proxy.heal();
    assert_eq!(failures(&answer), [sequence(&records[0])], "the batch resumes at the first record");
    assert!(took < std::time::Duration::from_secs(6), "answered after {took:?}: not on the deadline");
}

/// The sender's push (issue 28): the app create-message runs, posting each
/// stored message itself, post-only, beside the stream's delivery.
fn pushing(
    r: &Rig,
    connections: aws_sdk_apigatewaymanagement::Client,
    budget: std::time::Duration,
) -> cruddur_devkit::client::TestApp {
    let store = r.s.app.store.clone();
    cruddur_devkit::client::TestApp::pushing(store.clone(), Delivery::push_only(store, connections, budget))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_send_pushes_to_both_members_before_the_stream_runs_and_the_stream_posts_it_again() {
    let r = rig().await;
    r.connect_two_members_a_stranger_and_an_expired_record().await;
    // The tests' generous budget: the push is not cut short by a loaded machine.
    let app = pushing(&r, r.connections.client().await, r.s.config.push_budget);

    let body = cruddur_devkit::client::reply("pushed at once");
    let sent = app.create_message_with_key(sample::ANDREW_SUB, "push-key-1", &body).await.ok();
    let uuid = sent.body["uuid"].as_str().unwrap().to_owned();
    // Answered: the frames are out, and no stream record was handled yet.
    assert_eq!(r.connections.posted(&uuid), ["andrew-tab-1", "andrew-tab-2", "bayko-phone"], "pushed by the send");
    // Sending read what bayko had sent: bayko is told (issue 29's receipts).
    let kinds: Vec<(String, Value)> =
        r.connections.posts().into_iter().map(|(id, b)| (id, b["type"].clone())).collect();
    let reads: Vec<&String> = kinds.iter().filter(|(_, t)| t == "read").map(|(id, _)| id).collect();
    assert_eq!(reads, ["bayko-phone"], "the read goes to the other member only");
    assert_eq!(kinds.len(), 4, "nothing else: not the third user, not the expired connection");
    let posts = r.connections.posts();
    let bayko = posts.iter().find(|(id, _)| id == "bayko-phone").map(|(_, b)| b.clone()).unwrap();
    assert_eq!(bayko["unread"], json!({"count": 1, "conversations": 1}), "the recipient's counts, as the stream sends");
    assert_eq!(r.connections.deleted(), Vec::<String>::new(), "the push closes nothing (the stream does)");

    // A replay of the same request pushes nothing again.
    assert!(app.create_message_with_key(sample::ANDREW_SUB, "push-key-1", &body).await.ok().replayed);
    assert_eq!(r.connections.posts().len(), 4, "a replay is not pushed");

    // The stream's delivery still posts it (at least once: clients
    // deduplicate by uuid), the same frame, and manages the lifecycle.
    let item = r.item_of(&uuid).await;
    let answer = r.delivery.handle(stream_batch(vec![stream_record("INSERT", &item, 1)]), None).await;
    assert_eq!(failures(&answer), Vec::<String>::new());
    let twice = ["andrew-tab-1", "andrew-tab-1", "andrew-tab-2", "andrew-tab-2", "bayko-phone", "bayko-phone"];
    assert_eq!(r.connections.posted(&uuid), twice);
    let again = r.connections.posts();
    let frames: Vec<&Value> =
        again.iter().filter(|(id, b)| id == "bayko-phone" && b["type"] == "message").map(|(_, b)| b).collect();
    assert_eq!(frames[0], frames[1], "the push and the stream post the same event");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stuck_gone_or_failing_connection_neither_slows_the_send_past_its_budget_nor_fails_it() {
    let r = rig().await;
    for id in ["bayko-stuck", "bayko-gone", "bayko-broken", "bayko-phone"] {
        r.connect("bayko", id, 60).await;
    }
    let stuck_for = std::time::Duration::from_secs(20);
    r.connections.delay("bayko-stuck", stuck_for);
    r.connections.answer("bayko-gone", 410);
    r.connections.answer("bayko-broken", 500);
    // A management client that would wait for the stuck tab as long as it
    // takes: only the push's budget (1 s here) bounds the send.
    let patient = r.connections.patient_client(stuck_for * 2).await;
    let app = pushing(&r, patient, std::time::Duration::from_secs(1));

    let started = std::time::Instant::now();
    let sent = app.reply(sample::ANDREW_SUB, "despite the stuck tab").await;
    let took = started.elapsed();
    assert_eq!(sent.status, 200, "{sent:?}");
    // The send plus the 1 s budget, not the stuck tab's 20 s: 8 s leaves a
    // loaded machine room either way.
    assert!(took < std::time::Duration::from_secs(8), "the send answered after {took:?}");
    assert_eq!(
        cruddur_devkit::fixtures::messages_with_text(&r.s.direct, sample::GROUP, "despite the stuck tab").await,
        1
    );
    // Nothing of the connections' lifecycle is the push's: the stream's
    // delivery removes the gone one and closes the others.
    assert_eq!(r.connections.deleted(), Vec::<String>::new());
    assert_eq!(r.open_ids("bayko").await, ["bayko-broken", "bayko-gone", "bayko-phone", "bayko-stuck"]);
}

/// Issue 29: an edit and a delete reach the stream as MODIFY records of the
/// message, and the stream's delivery posts them to both members (the
/// guarantee behind the request's own push), nobody else.
#[tokio::test(flavor = "multi_thread")]
async fn the_stream_delivers_an_edit_and_a_delete_to_both_members() {
    let r = rig().await;
    r.connect_two_members_a_stranger_and_an_expired_record().await;
    let sent = r.reply("andrewbrown", "to be changed").await;
    let uuid = sent["message_uuid"].as_str().unwrap().to_owned();
    let edited = r.s.app.edit_message(sample::ANDREW_SUB, sample::GROUP, &uuid, "changed").await.ok();
    let after_edit = r.item_of(&uuid).await;
    r.s.app.delete_message(sample::ANDREW_SUB, sample::GROUP, &uuid).await.ok();
    let after_delete = r.item_of(&uuid).await;
    assert!(after_delete.get("message").is_none(), "the tombstone's image has no text: {after_delete}");

    let batch = vec![stream_record("MODIFY", &after_edit, 1), stream_record("MODIFY", &after_delete, 2)];
    let answer = r.delivery.handle(stream_batch(batch), None).await;
    assert_eq!(failures(&answer), Vec::<String>::new());
    let posts = r.connections.posts();
    let to = |kind: &str| {
        let mut ids: Vec<String> = posts.iter().filter(|(_, b)| b["type"] == kind).map(|(id, _)| id.clone()).collect();
        ids.sort();
        ids
    };
    for kind in ["message_edited", "message_deleted"] {
        assert_eq!(to(kind), ["andrew-tab-1", "andrew-tab-2", "bayko-phone"], "{kind}: both members, live connections");
    }
    let edit = posts.iter().find(|(_, b)| b["type"] == "message_edited").map(|(_, b)| b.clone()).unwrap();
    assert_eq!(
        (edit["message"].clone(), edit["edited_at"].clone()),
        (json!("changed"), edited.body["edited_at"].clone())
    );
    let delete = posts.iter().find(|(_, b)| b["type"] == "message_deleted").map(|(_, b)| b.clone()).unwrap();
    assert_eq!(delete, json!({"type": "message_deleted", "message_group_uuid": sample::GROUP, "uuid": uuid}));
}
