//! Blocking, exporting and deleting an account end to end (issue 30): real
//! tokens from the local Cognito, the local HTTP and WebSocket APIs, real
//! WebSocket clients (frames and answers checked against the contract).

use std::time::Duration;

use cruddur_devkit::seed::MESSAGE_GROUP_UUID;
use cruddur_devkit::socket::Next;
use serde_json::{json, Value};

use super::Stack;

const ARRIVES_WITHIN: Duration = Duration::from_secs(5);
const NOTHING_WITHIN: Duration = Duration::from_millis(1500);

impl Stack {
    async fn with_token(&self, handle: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let token = self.token(handle).await.access_token;
        self.call(method, path, Some(&token), body).await
    }
}

fn reply(text: &str) -> Value {
    json!({"message": text, "message_group_uuid": MESSAGE_GROUP_UUID})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_block_keeps_the_blocked_user_out_of_the_blockers_sockets_until_lifted() {
    let stack = super::start("leave-block").await;
    let mut bayko = stack.socket("bayko").await;
    let (status, body) = stack.with_token("bayko", "POST", "/api/users/@andrewbrown/block", None).await;
    assert_eq!((status, body), (200, json!({"handle": "andrewbrown", "blocked": true})));
    let (status, body) = stack.with_token("andrewbrown", "POST", "/api/messages", Some(reply("hello?"))).await;
    assert_eq!((status, body), (403, json!(["recipient_unavailable"])));
    let (status, body) = stack.with_token("bayko", "POST", "/api/messages", Some(reply("no"))).await;
    assert_eq!((status, body), (403, json!(["unblock_to_send"])));
    let mut andrew = stack.socket("andrewbrown").await;
    andrew.send(&json!({"action": "typing", "message_group_uuid": MESSAGE_GROUP_UUID}).to_string()).await.unwrap();
    assert!(matches!(bayko.next(NOTHING_WITHIN).await, Next::Silence), "andrew's typing reached bayko");
    let (status, list) = stack.with_token("bayko", "GET", "/api/blocks", None).await;
    assert_eq!((status, list[0]["handle"].clone()), (200, json!("andrewbrown")));

    let (status, _) = stack.with_token("bayko", "DELETE", "/api/users/@andrewbrown/block", None).await;
    assert_eq!(status, 200);
    let sent = stack.send("andrewbrown", reply("friends again")).await;
    bayko.messages(&[sent["uuid"].as_str().unwrap()], ARRIVES_WITHIN).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_pages_through_everything_and_a_deleted_account_is_gone_everywhere() {
    let stack = super::start("leave-delete").await;
    // Export: every page, until no cursor.
    let token = stack.token("bayko").await.access_token;
    let (mut cursor, mut messages, mut pages) = (None::<String>, 0, 0);
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/me/export?limit=7&cursor={c}"),
            None => "/api/me/export?limit=7".to_owned(),
        };
        let (status, headers, body) = stack.raw("GET", &path, Some(&token), None, &[]).await;
        assert_eq!(status, 200);
        let page: Value = serde_json::from_slice(&body).unwrap();
        messages += page["messages"].as_array().unwrap().len();
        pages += 1;
        match headers.get("x-next-cursor") {
            Some(next) => cursor = Some(next.to_str().unwrap().to_owned()),
            None => break,
        }
    }
    assert!(pages > 1 && messages == cruddur_devkit::seed::MESSAGES.len(), "{messages} messages in {pages} pages");

    // Deleting bayko's account with his own token.
    let mut socket = stack.socket("bayko").await;
    let (status, body) = stack.call("DELETE", "/api/me", Some(&token), None).await;
    assert_eq!((status, body), (200, json!({"deleted": true})));
    match socket.next(ARRIVES_WITHIN).await {
        Next::Event(e) => assert_eq!(e, json!({"type": "closing", "reason": "account_removed"})),
        other => panic!("the open connection was not told: {other:?}"),
    }
    assert!(matches!(socket.next(ARRIVES_WITHIN).await, Next::Closed(_)), "and closed");
    let gone =
        stack.cognito.admin_get_user().user_pool_id(&stack.local.pool_id).username("bayko@example.com").send().await;
    assert!(gone.is_err(), "the pool still has the user");
    let (status, _) = stack.call("GET", "/api/message_groups", Some(&token), None).await;
    assert_eq!(status, 404, "his still unexpired token gets nowhere");
    let (_, list) = stack.with_token("andrewbrown", "GET", "/api/message_groups", None).await;
    assert_eq!((list[0]["handle"].as_str(), list[0]["display_name"].as_str()), (Some("deleted"), Some("Deleted user")));
}
