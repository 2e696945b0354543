//! Realtime delivery end to end with real WebSocket clients: the local
//! WebSocket API (the authorizer's and routes' code), DynamoDB Local's stream
//! into the delivery code, which posts through the management API's SDK
//! client to the local `@connections` endpoint.

use std::time::Duration;

use cruddur_core::domain::{Handle, UserUuid};
use cruddur_devkit::seed::MESSAGE_GROUP_UUID;
use cruddur_devkit::socket::Socket;
use serde_json::{json, Value};

use super::Stack;

/// Long enough for a frame through the stream poller (50 ms here).
const ARRIVES_WITHIN: Duration = Duration::from_secs(5);
/// How long a connection that must get nothing is watched.
const NOTHING_WITHIN: Duration = Duration::from_millis(1500);

impl Stack {
    pub(super) async fn socket(&self, handle: &str) -> Socket {
        let token = self.token(handle).await.access_token;
        Socket::connect(&self.api.ws, Some(&token)).await.unwrap_or_else(|status| panic!("{handle}: refused {status}"))
    }

    async fn uuid_of(&self, handle: &str) -> UserUuid {
        self.store.user_by_handle(&Handle::parse(handle).unwrap()).await.unwrap().expect("a seed user").uuid
    }

    /// Open connection records in the table (all users).
    async fn connection_records(&self) -> Vec<Value> {
        let items = self.store.scan_all().await.unwrap();
        items.into_iter().filter(|i| i["pk"].as_str().is_some_and(|pk| pk.starts_with("CONN#"))).collect()
    }

    /// The connection records once there are `n` of them (the removals run
    /// after the client's close or the post that found it gone: API Gateway
    /// runs $disconnect after the connection closed), or as they are after 5 s.
    async fn connection_records_once(&self, n: usize) -> Vec<Value> {
        let mut records = self.connection_records().await;
        for _ in 0..50 {
            if records.len() == n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            records = self.connection_records().await;
        }
        records
    }

    pub(super) async fn send(&self, from: &str, body: Value) -> Value {
        let token = self.token(from).await.access_token;
        let (status, sent) = self.call("POST", "/api/messages", Some(&token), Some(body)).await;
        assert_eq!(status, 200, "{sent}");
        sent
    }
}

/// Whether API Gateway still knows connection `id` (its management API's
/// GetConnection: 200, or 410 once the connection is gone).
async fn connection_status(stack: &Stack, id: &str) -> u16 {
    let http = stack.api.ws.replacen("ws://", "http://", 1);
    let (status, _, _) = stack.raw_at(&http, "GET", &format!("/@connections/{id}"), None, None, &[]).await;
    status
}

#[tokio::test(flavor = "multi_thread")]
async fn both_members_see_a_message_the_moment_it_is_sent_and_nobody_else_does() {
    let stack = super::start("rt-members").await;
    let mut bayko = stack.socket("bayko").await;
    let mut andrew_tab1 = stack.socket("andrewbrown").await;
    let mut andrew_tab2 = stack.socket("andrewbrown").await;
    let mut londo = stack.socket("londo").await;
    assert_eq!(stack.connection_records().await.len(), 4, "each connection is recorded under its user");

    let sent = stack
        .send(
            "andrewbrown",
            json!({"message": "Live from the Babylon 5 station", "message_group_uuid": MESSAGE_GROUP_UUID}),
        )
        .await;
    let sent_uuid = sent["uuid"].as_str().unwrap();

    let events = bayko.messages(&[sent_uuid], ARRIVES_WITHIN).await.expect("the recipient gets the message");
    let event = &events[0];
    assert_eq!(event["type"], "message");
    assert_eq!(event["uuid"], sent["uuid"]);
    assert_eq!(event["message"], "Live from the Babylon 5 station");
    assert_eq!(event["handle"], "andrewbrown");
    assert_eq!(event["display_name"], "Andrew Brown");
    assert_eq!(event["created_at"], sent["created_at"]);
    assert_eq!(event["message_group_uuid"], MESSAGE_GROUP_UUID);
    // The recipient's new counts, as the counter route gives them.
    let bayko_token = stack.token("bayko").await.access_token;
    let (status, counter) = stack.call("GET", "/api/messages/counter", Some(&bayko_token), None).await;
    assert_eq!(status, 200, "{counter}");
    assert_eq!(event["unread"], counter, "the event carries the recipient's counts");
    assert!(event["unread"]["count"].as_u64().unwrap() >= 1);

    // The sender's other tabs too (without counts: theirs did not grow).
    for tab in [&mut andrew_tab1, &mut andrew_tab2] {
        let events = tab.messages(&[sent_uuid], ARRIVES_WITHIN).await.expect("the sender's tab gets it");
        assert_eq!(events[0]["message_group_uuid"], MESSAGE_GROUP_UUID);
        assert!(events[0].get("unread").is_none(), "{}", events[0]);
    }
    // A third user, connected all along, gets nothing, and stays connected.
    assert_eq!(londo.quiet(NOTHING_WITHIN, &[]).await, Ok(()), "londo is not in the message group");

    // A reply goes the other way; a new message group reaches its new member.
    let reply =
        stack.send("bayko", json!({"message": "Which season?", "message_group_uuid": MESSAGE_GROUP_UUID})).await;
    let reply_uuid = reply["uuid"].as_str().unwrap();
    let events = andrew_tab1.messages(&[reply_uuid], ARRIVES_WITHIN).await.expect("the reply arrives");
    assert_eq!(events[0]["handle"], "bayko");
    let started = stack.send("londo", json!({"message": "Hello Andrew", "handle": "andrewbrown"})).await;
    let started_uuid = started["uuid"].as_str().unwrap();
    let events = andrew_tab2
        .messages(&[reply_uuid, started_uuid], ARRIVES_WITHIN)
        .await
        .expect("the reply and the new group's first message");
    let event = events.iter().find(|e| e["uuid"] == started_uuid).unwrap();
    assert_eq!(event["message_group_uuid"], started["message_group_uuid"]);
    let andrew_token = stack.token("andrewbrown").await.access_token;
    let (_, counter) = stack.call("GET", "/api/messages/counter", Some(&andrew_token), None).await;
    assert_eq!(event["unread"], counter, "andrew's counts, londo's message included");
    let own = bayko.messages(&[reply_uuid], ARRIVES_WITHIN).await.expect("bayko's own reply reaches bayko's tab");
    assert_eq!(own[0]["handle"], "bayko");
    assert_eq!(bayko.quiet(NOTHING_WITHIN, &[sent_uuid, reply_uuid]).await, Ok(()), "bayko is not in londo's group");

    // A clean close runs $disconnect: the record goes.
    londo.close().await;
    let andrew = stack.uuid_of("andrewbrown").await;
    let londo_uuid = stack.uuid_of("londo").await;
    let records = stack.connection_records_once(3).await;
    assert_eq!(records.len(), 3, "{records:?}");
    assert!(records.iter().all(|r| r["pk"] != format!("CONN#{londo_uuid}")));
    assert_eq!(records.iter().filter(|r| r["pk"] == format!("CONN#{andrew}")).count(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_without_a_valid_access_token_are_refused_before_anything_is_stored() {
    let stack = super::start("rt-refused").await;
    let tokens = stack.token("andrewbrown").await;
    let forged_expired = super::forge("expired", &tokens.access_token);
    let cases = [
        ("no token", None, 401),
        ("an ID token", Some(tokens.id_token.clone()), 403),
        ("an expired access token", Some(forged_expired), 403),
        ("garbage", Some("not.a.jwt".to_owned()), 403),
    ];
    for (what, token, status) in cases {
        let refused = Socket::connect(&stack.api.ws, token.as_deref()).await.err();
        assert_eq!(refused, Some(status), "{what}");
    }
    assert_eq!(stack.connection_records().await, Vec::<Value>::new(), "nothing stored for a refused connection");
    // The genuine token is let in.
    let socket = Socket::connect(&stack.api.ws, Some(&tokens.access_token)).await;
    assert!(socket.is_ok(), "the access token is accepted");
    assert_eq!(stack.connection_records().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_vanished_without_closing_is_removed_on_the_next_delivery() {
    let stack = super::start("rt-gone").await;
    let andrew = stack.uuid_of("andrewbrown").await;
    let mut staying = stack.socket("andrewbrown").await;
    let vanishing = stack.socket("andrewbrown").await;
    let records = stack.connection_records().await;
    assert_eq!(records.len(), 2);
    let ids: Vec<String> = records.iter().map(|r| r["connection_id"].as_str().unwrap().to_owned()).collect();
    vanishing.vanish();
    // Wait (up to 10 s) until the local gateway has noticed the dropped TCP
    // connection: one of the two ids answers 410 to GetConnection.
    let mut statuses = Vec::new();
    for _ in 0..100 {
        statuses.clear();
        for id in &ids {
            statuses.push(connection_status(&stack, id).await);
        }
        if statuses.contains(&410) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    statuses.sort();
    assert_eq!(statuses, [200, 410], "the gateway lost one connection, kept the other");
    // The record stays ($disconnect never ran), as on AWS for a client that
    // lost its network.
    assert_eq!(stack.connection_records().await.len(), 2, "no $disconnect for a vanished client");
    // A 410 for a connection younger than YOUNG_CONNECTION_SECS keeps its
    // record (the $connect race): let it age past that first.
    let young = cruddur_core::realtime::YOUNG_CONNECTION_SECS.unsigned_abs() + 1;
    tokio::time::sleep(Duration::from_secs(young)).await;

    let sent = stack.send("bayko", json!({"message": "Still there?", "message_group_uuid": MESSAGE_GROUP_UUID})).await;
    let sent_uuid = sent["uuid"].as_str().unwrap();
    staying.messages(&[sent_uuid], ARRIVES_WITHIN).await.expect("the open tab still gets it");
    // The post to the vanished one answered 410 Gone: its record is removed.
    let records = stack.connection_records_once(1).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["pk"], format!("CONN#{andrew}"));
}

/// The `$connect` authorizer's other two outcomes, through the WebSocket
/// with a genuine access token: a user whose profile is missing (the
/// Cognito account exists, its link to a profile does not) is refused with
/// 403 and nothing is stored; when the table cannot be read at all, the
/// connection is refused with 500 (fails closed), never let in.
#[tokio::test(flavor = "multi_thread")]
async fn a_user_without_a_profile_is_refused_and_a_table_that_cannot_be_read_refuses_everyone() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let stack = super::start("rt-authorizer").await;
    let andrew = stack.uuid_of("andrewbrown").await.to_string();
    let andrew_token = stack.token("andrewbrown").await.access_token;
    let bayko_token = stack.token("bayko").await.access_token;
    // Remove andrew's Cognito link: his token stays valid, he has no profile.
    let items = stack.store.scan_all().await.unwrap();
    let link = items
        .iter()
        .find(|i| i["pk"].as_str().is_some_and(|pk| pk.starts_with("COGNITO#")) && i["user_uuid"] == andrew.as_str())
        .expect("andrew's Cognito link");
    stack
        .store
        .client()
        .delete_item()
        .table_name(stack.store.table())
        .key("pk", AttributeValue::S(link["pk"].as_str().unwrap().to_owned()))
        .key("sk", AttributeValue::S(link["sk"].as_str().unwrap().to_owned()))
        .send()
        .await
        .unwrap();
    assert_eq!(Socket::connect(&stack.api.ws, Some(&andrew_token)).await.err(), Some(403), "no profile: refused");
    assert_eq!(stack.connection_records().await, Vec::<Value>::new(), "nothing stored");
    // bayko still gets in.
    let socket = Socket::connect(&stack.api.ws, Some(&bayko_token)).await;
    assert!(socket.is_ok(), "a user with a profile is let in");
    drop(socket);

    // The table goes away: the authorizer cannot look the user up.
    stack.store.client().delete_table().table_name(stack.store.table()).send().await.unwrap();
    assert_eq!(Socket::connect(&stack.api.ws, Some(&bayko_token)).await.err(), Some(500), "fails closed");
}

/// The keepalive: `{"action":"ping"}` is answered `{"type":"pong"}`; any
/// other frame gets the unknown-action error frame and the connection stays
/// open (the next message still arrives on it).
#[tokio::test(flavor = "multi_thread")]
async fn a_ping_is_answered_with_a_pong_and_an_unknown_frame_with_an_error_not_a_close() {
    use cruddur_devkit::socket::Next;
    let stack = super::start("rt-ping").await;
    let mut bayko = stack.socket("bayko").await;
    bayko.send(r#"{"action":"ping"}"#).await.unwrap();
    assert_eq!(bayko.next(ARRIVES_WITHIN).await, Next::Event(json!({"type": "pong"})));
    for frame in ["hello", r#"{"action":"sendmessage","data":"x"}"#, "{}"] {
        bayko.send(frame).await.unwrap();
        assert_eq!(
            bayko.next(ARRIVES_WITHIN).await,
            Next::Event(json!({"type": "error", "error": "unknown_action"})),
            "{frame}"
        );
    }
    let sent =
        stack.send("andrewbrown", json!({"message": "still open?", "message_group_uuid": MESSAGE_GROUP_UUID})).await;
    bayko.messages(&[sent["uuid"].as_str().unwrap()], ARRIVES_WITHIN).await.expect("the connection stayed open");
}

/// The client loop the README gives a frontend, run with a real WebSocket
/// client: the connection drops (the backend closes it), messages are sent
/// while the client is away, it reconnects and reloads the open
/// conversation: every message it missed appears exactly once, in order,
/// and the next one arrives live on the new connection.
#[tokio::test(flavor = "multi_thread")]
async fn after_a_drop_a_client_that_reconnects_and_reloads_has_every_message_once_in_order() {
    let stack = super::start("rt-catch-up").await;
    let bayko_token = stack.token("bayko").await.access_token;
    let mut bayko = stack.socket("bayko").await;
    // The sender's tab tells when each message's delivery has run.
    let mut andrew = stack.socket("andrewbrown").await;
    let first = stack
        .send("andrewbrown", json!({"message": "before the drop", "message_group_uuid": MESSAGE_GROUP_UUID}))
        .await;
    bayko.messages(&[first["uuid"].as_str().unwrap()], ARRIVES_WITHIN).await.unwrap();
    // The backend closes the connection (as delivery does for a stuck tab).
    let bayko_pk = format!("CONN#{}", stack.uuid_of("bayko").await);
    let records = stack.connection_records().await;
    let record = records.iter().find(|r| r["pk"] == bayko_pk.as_str()).expect("bayko's connection record");
    let id = record["connection_id"].as_str().unwrap().to_owned();
    let http = stack.api.ws.replacen("ws://", "http://", 1);
    let (status, _, _) = stack.raw_at(&http, "DELETE", &format!("/@connections/{id}"), None, None, &[]).await;
    assert_eq!(status, 204);
    assert!(matches!(bayko.next(ARRIVES_WITHIN).await, cruddur_devkit::socket::Next::Closed(_)), "closed");
    // Sent while bayko is away.
    let mut missed = Vec::new();
    for n in 1..=3 {
        let body = json!({"message": format!("while away {n}"), "message_group_uuid": MESSAGE_GROUP_UUID});
        missed.push(stack.send("andrewbrown", body).await["uuid"].as_str().unwrap().to_owned());
    }
    let missed_refs: Vec<&str> = missed.iter().map(String::as_str).collect();
    let mut seen = vec![first["uuid"].as_str().unwrap()];
    seen.extend(&missed_refs);
    andrew.messages(&seen, ARRIVES_WITHIN).await.expect("their deliveries ran (bayko had no connection)");
    // Reconnect, then reload the open conversation.
    let mut again = stack.socket("bayko").await;
    let (status, messages) =
        stack.call("GET", &format!("/api/messages/{MESSAGE_GROUP_UUID}"), Some(&bayko_token), None).await;
    assert_eq!(status, 200, "{messages}");
    let uuids: Vec<&str> = messages.as_array().unwrap().iter().map(|m| m["uuid"].as_str().unwrap()).collect();
    let tail: Vec<&str> = uuids[uuids.len() - 4..].to_vec();
    let mut expected = vec![first["uuid"].as_str().unwrap()];
    expected.extend(missed.iter().map(String::as_str));
    assert_eq!(tail, expected, "every message once, in order");
    // Merged by uuid, as the contract tells clients: a stream delivery of a
    // missed message that lands on the new connection is a repeat.
    again.have(&expected);
    let live = stack
        .send("andrewbrown", json!({"message": "after the reconnect", "message_group_uuid": MESSAGE_GROUP_UUID}))
        .await;
    again.messages(&[live["uuid"].as_str().unwrap()], ARRIVES_WITHIN).await.expect("live again");
}

/// The `$connect` race through the local gateway: API Gateway writes the
/// connection's record (`$connect`) a moment before the socket is live, and
/// a post in between answers 410. Here that moment is 3 s
/// (`--live-after-ms`): a message sent while bayko's connection is opening
/// answers 410 for it, its record is kept (it is younger than
/// `YOUNG_CONNECTION_SECS`), and the next message is the first frame the
/// live socket gets.
#[tokio::test(flavor = "multi_thread")]
async fn a_message_sent_while_a_connection_opens_keeps_its_record_and_the_next_one_arrives() {
    let stack = super::start_with("rt-connect-race", &["--live-after-ms", "3000"]).await;
    let mut andrew = stack.socket("andrewbrown").await;
    let token = stack.token("bayko").await.access_token;
    let url = stack.api.ws.clone();
    let opening = tokio::spawn(async move { Socket::connect(&url, Some(&token)).await });
    let bayko_pk = format!("CONN#{}", stack.uuid_of("bayko").await);
    let bayko_records =
        || async { stack.connection_records().await.into_iter().filter(|r| r["pk"] == bayko_pk.as_str()).count() };
    for _ in 0..50 {
        if bayko_records().await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(bayko_records().await, 1, "$connect recorded bayko's connection");

    let first =
        stack.send("andrewbrown", json!({"message": "while you connect", "message_group_uuid": MESSAGE_GROUP_UUID}));
    let first = first.await;
    andrew.messages(&[first["uuid"].as_str().unwrap()], ARRIVES_WITHIN).await.expect("the delivery ran");
    assert!(!opening.is_finished(), "the delivery ran before bayko's connection was live");
    let mut bayko = opening.await.unwrap().expect("bayko connects");
    assert_eq!(bayko_records().await, 1, "the 410 of a connection still opening kept its record");

    let second =
        stack.send("andrewbrown", json!({"message": "now you are in", "message_group_uuid": MESSAGE_GROUP_UUID})).await;
    bayko
        .messages(&[second["uuid"].as_str().unwrap()], ARRIVES_WITHIN)
        .await
        .expect("the next message reaches the live socket, as its first frame");
}

/// The send pushes the message itself (issue 28): with the stream's next
/// read a minute away, the other member's socket has it at once; with the
/// push off (`--no-push`, the bench's baseline) nothing comes until then.
#[tokio::test(flavor = "multi_thread")]
async fn the_send_pushes_the_message_before_the_stream_is_read() {
    for push in [true, false] {
        let mut args = vec!["--stream-poll-ms", "60000"];
        if !push {
            args.push("--no-push");
        }
        let stack = super::start_with(if push { "rt-push" } else { "rt-no-push" }, &args).await;
        let mut bayko = stack.socket("bayko").await;
        let mut andrew_tab = stack.socket("andrewbrown").await;
        let mut londo = stack.socket("londo").await;
        let body = json!({"message": "pushed by the send", "message_group_uuid": MESSAGE_GROUP_UUID});
        let sent = stack.send("andrewbrown", body).await;
        let uuid = sent["uuid"].as_str().unwrap().to_owned();
        if push {
            let got = bayko.messages(&[&uuid], ARRIVES_WITHIN).await.unwrap();
            assert_eq!(got[0]["message"], "pushed by the send");
            assert_eq!(got[0]["unread"], json!({"count": 1, "conversations": 1}));
            andrew_tab.messages(&[&uuid], ARRIVES_WITHIN).await.unwrap();
        } else {
            assert_eq!(bayko.quiet(NOTHING_WITHIN, &[]).await, Ok(()), "only the stream delivers");
        }
        assert_eq!(londo.quiet(NOTHING_WITHIN, &[]).await, Ok(()), "never a non-member");
    }
}
