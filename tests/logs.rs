//! What the functions log: captured through the production subscriber set up
//! (JSON, as Lambda's advanced logging controls ask), at the most verbose
//! level, while a user registers and sends messages. Its own test binary:
//! the subscriber is process-global.

use std::io::Write;
use std::sync::{Arc, Mutex};

use cruddur_core::auth::{Verifier, VerifierSettings};
use cruddur_core::domain::{CognitoSub, ConnectionId, GroupUuid, PageLimit, PageRequest, Timestamp};
use cruddur_core::realtime::{self, Delivery};
use cruddur_core::triggers;
use cruddur_devkit::client::{create_message_event, Answer, TestApp};
use cruddur_devkit::events;
use cruddur_devkit::fixtures::fresh_store;
use serde_json::{json, Value};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

async fn post(app: &TestApp, sub: &str, body: Value) -> Answer {
    let event = create_message_event()
        .caller(Some(sub))
        .request_id("req-7f3a9c")
        .header("authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.SECRET-TOKEN.sig")
        .json_body(&body);
    app.call(event).await
}

#[tokio::test]
async fn logs_carry_the_request_id_but_never_message_text_emails_or_tokens() {
    // Set before the subscriber reads them: the most verbose JSON logging a
    // function can be configured with.
    std::env::set_var("AWS_LAMBDA_LOG_FORMAT", "JSON");
    std::env::set_var("AWS_LAMBDA_LOG_LEVEL", "TRACE");
    let captured = Captured::default();
    let writer = captured.clone();
    cruddur_core::telemetry::init_with_writer(move || writer.clone());

    let store = fresh_store().await;
    let app = TestApp::new(store.clone());
    let (a, b) = (uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string());
    let secret_email = "very.private.person@example.org";
    triggers::post_confirmation(&store, events::post_confirmation(&a, "logger", "Log Ger", secret_email))
        .await
        .unwrap();
    triggers::post_confirmation(&store, events::post_confirmation(&b, "reader", "Rea Der", "reader@example.org"))
        .await
        .unwrap();

    let secret = "the launch code is 0000-SECRET-MESSAGE";
    let started = post(&app, &a, json!({"message": secret, "handle": "reader"})).await;
    assert_eq!(started.status, 200);
    let group = started.body["message_group_uuid"].as_str().unwrap().to_owned();
    let reply = format!("{secret} (reply)");
    let replied = post(&app, &b, json!({"message": reply, "message_group_uuid": group})).await;
    assert_eq!(replied.status, 200);
    // A refused request is logged too, still without its text.
    let refused = post(&app, &a, json!({"message": format!("{secret}\u{0}")})).await;
    assert_eq!(refused.status, 422);

    // Realtime: a $connect with a token in its query string (refused: not a
    // JWT this pool signed), and the delivery of the reply to the reader's
    // connection, which fails (nothing listens at the management endpoint)
    // and logs why.
    let token = "eyJhbGciOiJSUzI1NiJ9.SECRET-TOKEN.sig";
    let connection = events::WebSocketConnection { id: "Kx2ZcdzEIAMCJ7A=", domain: "local", source_ip: "127.0.0.1" };
    let verifier = Verifier::new(VerifierSettings::cognito("us-east-1", "us-east-1_LOGS", vec!["client".into()]));
    let decision =
        realtime::authorize(&verifier, &store, events::websocket_authorizer(&connection, Some(token))).await.unwrap();
    assert!(decision.context.is_null(), "denied: no user in the context");
    let recipient = store.user_by_cognito_sub(&CognitoSub::parse(&a).unwrap()).await.unwrap().unwrap();
    store.add_connection(recipient.uuid, &ConnectionId::parse(connection.id).unwrap(), Timestamp::now()).await.unwrap();
    let group_uuid = GroupUuid::parse(&group).unwrap();
    let page = PageRequest { limit: PageLimit::new(1).unwrap(), cursor: None };
    let newest = store.group_messages(group_uuid, page).await.unwrap().items.remove(0);
    let unreachable = cruddur_devkit::engines::unreachable_connections();
    let delivered = Delivery::new(store.clone(), unreachable).deliver(&realtime::Event::New(newest)).await;
    assert!(
        matches!(delivered, Ok(d) if d.failed == 1 && d.posted == 0),
        "the post cannot reach anything, nor can the close: {delivered:?}"
    );

    let logs = captured.text();
    // The capture works and the lines are the ones we expect: JSON, with the
    // route, the request id, the outcome.
    let lines: Vec<Value> = logs.lines().map(|l| serde_json::from_str(l).expect("JSON log lines")).collect();
    assert!(lines.len() >= 6, "{logs}");
    assert!(logs.contains("req-7f3a9c"), "the request id is in the logs:\n{logs}");
    assert!(logs.contains("create_message"), "{logs}");
    assert!(logs.contains("message stored"), "{logs}");
    assert!(logs.contains(&group), "ids may be logged");
    assert!(logs.contains("connect refused") && logs.contains("cannot post to a connection"), "{logs}");
    // And never the private parts.
    for private in [secret, "SECRET-MESSAGE", secret_email, "very.private", "SECRET-TOKEN", "eyJhbGciOiJSUzI1NiJ9"] {
        assert!(!logs.contains(private), "the logs contain {private:?}:\n{logs}");
    }
}
