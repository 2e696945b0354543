//! Read receipts, typing, edits and deletes end to end (issue 29): real
//! tokens from the local Cognito, the local HTTP API and WebSocket API, real
//! WebSocket clients; every frame is checked against docs/asyncapi.yaml and
//! every answer against docs/openapi.yaml by the clients.

use std::time::{Duration, Instant};

use cruddur_devkit::seed::MESSAGE_GROUP_UUID;
use cruddur_devkit::socket::{Next, Socket};
use serde_json::{json, Value};

use super::Stack;

/// Long enough for a frame on a loaded machine (the push is immediate; the
/// stream's poller runs every 50 ms here).
const ARRIVES_WITHIN: Duration = Duration::from_secs(5);
/// How long a connection that must get nothing more is watched.
const NOTHING_WITHIN: Duration = Duration::from_millis(1500);

impl Stack {
    async fn as_user(&self, handle: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let token = self.token(handle).await.access_token;
        self.call(method, path, Some(&token), body).await
    }

    /// `handle`'s item for the sample group in their list.
    async fn summary(&self, handle: &str) -> Value {
        let (status, list) = self.as_user(handle, "GET", "/api/message_groups", None).await;
        assert_eq!(status, 200, "{list}");
        list.as_array().unwrap().iter().find(|g| g["uuid"] == MESSAGE_GROUP_UUID).cloned().expect("the sample group")
    }
}

/// The next event of type `kind`, passing over repeats of events already
/// taken (`seen`: at least once, from the push and the stream, in any order)
/// and message events; anything else is a failure.
async fn next_of(socket: &mut Socket, kind: &str, seen: &mut Vec<Value>) -> Value {
    let deadline = Instant::now() + ARRIVES_WITHIN;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match socket.next(left).await {
            Next::Event(e) if e["type"] == kind && !seen.contains(&e) => {
                seen.push(e.clone());
                return e;
            }
            Next::Event(e) if seen.contains(&e) || e["type"] == "message" => continue,
            other => panic!("waiting for a {kind} event, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_reaches_the_sender_as_a_receipt_and_nobody_else() {
    let stack = super::start("conv-receipts").await;
    let mut andrew = stack.socket("andrewbrown").await;
    let mut londo = stack.socket("londo").await;
    let sent =
        stack.send("andrewbrown", json!({"message": "Seen this?", "message_group_uuid": MESSAGE_GROUP_UUID})).await;
    andrew.messages(&[sent["uuid"].as_str().unwrap()], ARRIVES_WITHIN).await.unwrap();

    // Bayko opens the conversation: its newest page marks it read.
    let (status, _) = stack.as_user("bayko", "GET", &format!("/api/messages/{MESSAGE_GROUP_UUID}"), None).await;
    assert_eq!(status, 200);
    let read = andrew.event_of("read", ARRIVES_WITHIN).await.unwrap();
    assert_eq!(
        read,
        json!({"type": "read", "message_group_uuid": MESSAGE_GROUP_UUID, "handle": "bayko", "read_at": sent["created_at"]})
    );
    // The same state over HTTP, for a client that was not connected.
    assert_eq!(stack.summary("andrewbrown").await["other_read_at"], sent["created_at"]);
    // Reading again changes nothing: no second receipt.
    let (status, _) =
        stack.as_user("bayko", "POST", &format!("/api/message_groups/{MESSAGE_GROUP_UUID}/read"), None).await;
    assert_eq!(status, 200);
    assert_eq!(andrew.quiet(NOTHING_WITHIN, &[]).await, Ok(()));
    assert_eq!(andrew.set_aside(), Vec::<Value>::new(), "nothing moved, nothing told");
    // A third user hears nothing of it.
    assert_eq!(londo.quiet(Duration::from_millis(100), &[]).await, Ok(()));
    assert_eq!(londo.set_aside(), Vec::<Value>::new(), "londo is not in the message group");
}

#[tokio::test(flavor = "multi_thread")]
async fn typing_reaches_the_other_member_at_most_once_every_two_seconds() {
    let stack = super::start("conv-typing").await;
    let mut bayko = stack.socket("bayko").await;
    let mut andrew = stack.socket("andrewbrown").await;
    let mut londo = stack.socket("londo").await;
    let frame = json!({"action": "typing", "message_group_uuid": MESSAGE_GROUP_UUID}).to_string();

    // A burst of 20 frames in about a second.
    let started = Instant::now();
    for _ in 0..20 {
        andrew.send(&frame).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let burst = started.elapsed();
    let typing = bayko.event_of("typing", ARRIVES_WITHIN).await.unwrap();
    assert_eq!(
        typing,
        json!({"type": "typing", "message_group_uuid": MESSAGE_GROUP_UUID, "handle": "andrewbrown", "display_name": "Andrew Brown"})
    );
    assert_eq!(bayko.quiet(NOTHING_WITHIN, &[]).await, Ok(()));
    let more = bayko.set_aside().len() as u128;
    // One per 2 s window the burst spanned (a loaded machine stretches it).
    let windows = burst.as_millis() / 2000;
    assert!(more <= windows, "{} typing events for a burst of {burst:?}", more + 1);
    // The typist's own connection is not told; nor is a third user.
    assert_eq!(andrew.quiet(Duration::from_millis(100), &[]).await, Ok(()));
    assert_eq!(andrew.set_aside(), Vec::<Value>::new());

    // A frame for a group the sender is not in: an error frame, nothing forwarded.
    londo.send(&frame).await.unwrap();
    let refused = londo.next_event(ARRIVES_WITHIN).await.unwrap();
    assert_eq!(refused, json!({"type": "error", "error": "not_member"}));
    let malformed = json!({"action": "typing", "message_group_uuid": "nope"}).to_string();
    londo.send(&malformed).await.unwrap();
    let refused = londo.next_event(ARRIVES_WITHIN).await.unwrap();
    assert_eq!(refused, json!({"type": "error", "error": "invalid_message_group_uuid"}));
    assert_eq!(bayko.quiet(NOTHING_WITHIN, &[]).await, Ok(()));
    assert_eq!(bayko.set_aside(), Vec::<Value>::new(), "londo's typing reaches nobody");

    // More than 2 s after the forwarded one: forwarded again.
    assert!(started.elapsed() > Duration::from_secs(2));
    andrew.send(&frame).await.unwrap();
    bayko.event_of("typing", ARRIVES_WITHIN).await.unwrap();
    // Never stored: the table holds no typing but the throttle's marker.
    let items = serde_json::to_string(&stack.store.scan_all().await.unwrap()).unwrap();
    assert!(!items.contains("\"type\":\"typing\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_and_a_delete_reach_both_members_and_the_text_leaves_the_table() {
    let stack = super::start("conv-changes").await;
    let mut bayko = stack.socket("bayko").await;
    let mut andrew = stack.socket("andrewbrown").await;
    let sent =
        stack.send("andrewbrown", json!({"message": "a secret plan", "message_group_uuid": MESSAGE_GROUP_UUID})).await;
    let uuid = sent["uuid"].as_str().unwrap().to_owned();
    let path = format!("/api/messages/{MESSAGE_GROUP_UUID}/{uuid}");
    bayko.messages(&[&uuid], ARRIVES_WITHIN).await.unwrap();

    // Only the sender.
    let (status, body) = stack.as_user("bayko", "PATCH", &path, Some(json!({"message": "bayko's plan"}))).await;
    assert_eq!((status, body), (403, json!(["not_message_sender"])));
    let (status, body) = stack.as_user("bayko", "DELETE", &path, None).await;
    assert_eq!((status, body), (403, json!(["not_message_sender"])));

    let (status, edited) =
        stack.as_user("andrewbrown", "PATCH", &path, Some(json!({"message": "a public plan"}))).await;
    assert_eq!(status, 200, "{edited}");
    let (mut bayko_seen, mut andrew_seen) = (Vec::new(), Vec::new());
    for (socket, seen) in [(&mut bayko, &mut bayko_seen), (&mut andrew, &mut andrew_seen)] {
        let event = next_of(socket, "message_edited", seen).await;
        assert_eq!((event["uuid"].as_str(), event["message"].as_str()), (Some(uuid.as_str()), Some("a public plan")));
        assert_eq!(event["edited_at"], edited["edited_at"]);
    }
    let (_, page) = stack.as_user("bayko", "GET", &format!("/api/messages/{MESSAGE_GROUP_UUID}"), None).await;
    let last = page.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["message"].as_str(), last["edited_at"].clone()),
        (Some("a public plan"), edited["edited_at"].clone())
    );
    assert_eq!(stack.summary("bayko").await["message"], "a public plan");

    let (status, deleted) = stack.as_user("andrewbrown", "DELETE", &path, None).await;
    assert_eq!((status, deleted), (200, json!({"uuid": uuid, "deleted": true})));
    for (socket, seen) in [(&mut bayko, &mut bayko_seen), (&mut andrew, &mut andrew_seen)] {
        let event = next_of(socket, "message_deleted", seen).await;
        assert_eq!(event, json!({"type": "message_deleted", "message_group_uuid": MESSAGE_GROUP_UUID, "uuid": uuid}));
    }
    let (_, page) = stack.as_user("bayko", "GET", &format!("/api/messages/{MESSAGE_GROUP_UUID}"), None).await;
    let tombstone = page.as_array().unwrap().last().unwrap().clone();
    assert_eq!((tombstone["uuid"].as_str(), tombstone["message"].as_str()), (Some(uuid.as_str()), Some("")));
    assert_eq!(tombstone["deleted"], true);
    assert_eq!(stack.summary("bayko").await["message"], "");
    let (status, body) = stack.as_user("andrewbrown", "PATCH", &path, Some(json!({"message": "again"}))).await;
    assert_eq!((status, body), (409, json!(["message_deleted"])));

    let items = serde_json::to_string(&stack.store.scan_all().await.unwrap()).unwrap();
    for gone in ["a secret plan", "a public plan"] {
        assert!(!items.contains(gone), "{gone:?} is still in the table");
    }
}
