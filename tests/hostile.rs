//! Hostile callers: a third user after someone else's conversation, a body
//! that claims to be someone else, requests without usable identity.

use cruddur_core::api::{self, App, NEXT_CURSOR_HEADER};
use cruddur_integration_tests::{fresh_store, http_request, item_count, sample, sample_fixture};
use serde_json::{json, Value};

const LONDO_SUB: &str = cruddur_core::seed::LONDO.sample_sub;

async fn call(
    app: &App,
    route: &str,
    path: &str,
    sub: Option<&str>,
    params: Value,
    query: &str,
    body: Option<Value>,
) -> (u16, Value, Option<String>) {
    let body = body.map(|b| b.to_string());
    let request = http_request(route, path, sub, params, query, body.as_deref());
    let response = api::dispatch(app, request).await.unwrap();
    let cursor = response.headers().get(NEXT_CURSOR_HEADER).map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), serde_json::from_slice(response.body().as_ref()).unwrap(), cursor)
}

async fn messages(app: &App, sub: &str, query: &str) -> (u16, Value, Option<String>) {
    let path = format!("/api/messages/{}", sample::GROUP);
    call(
        app,
        "GET /api/messages/{message_group_uuid}",
        &path,
        Some(sub),
        json!({"message_group_uuid": sample::GROUP}),
        query,
        None,
    )
    .await
}

#[tokio::test]
async fn a_third_user_cannot_read_reply_or_page_into_a_conversation_or_learn_its_members() {
    let store = fresh_store().await;
    sample_fixture(&store).await;
    let app = App::new(store.clone());

    // By uuid.
    let (status, body, _) = messages(&app, LONDO_SUB, "").await;
    assert_eq!((status, body), (403, json!(["generic_403"])));
    // By a cursor that andrewbrown legitimately got for it.
    let (_, _, cursor) = messages(&app, sample::ANDREW_SUB, "limit=1").await;
    let (status, body, _) = messages(&app, LONDO_SUB, &format!("limit=1&cursor={}", cursor.unwrap())).await;
    assert_eq!((status, body), (403, json!(["generic_403"])), "a member's cursor does not let a non-member in");
    // By replying.
    let before = item_count(&store).await;
    let (status, body, _) = call(
        &app,
        "POST /api/messages",
        "/api/messages",
        Some(LONDO_SUB),
        Value::Null,
        "",
        Some(json!({"message": "let me in", "message_group_uuid": sample::GROUP})),
    )
    .await;
    assert_eq!((status, body), (403, json!(["generic_403"])));
    assert_eq!(item_count(&store).await, before, "nothing written");
    // Members are not listed anywhere londo can see: their groups are londo's own only.
    let (status, body, _) =
        call(&app, "GET /api/message_groups", "/api/message_groups", Some(LONDO_SUB), Value::Null, "", None).await;
    assert_eq!((status, body), (200, json!([])));
}

#[tokio::test]
async fn a_body_that_names_a_sender_is_ignored() {
    let store = fresh_store().await;
    sample_fixture(&store).await;
    let app = App::new(store.clone());
    let bayko = store.user_by_handle(&cruddur_integration_tests::handle("bayko")).await.unwrap().unwrap();
    let forged = json!({
        "message": "I am totally bayko", "message_group_uuid": sample::GROUP,
        "user_uuid": bayko.uuid.to_string(), "sender": "bayko", "user_handle": "bayko",
        "display_name": "Andrew Bayko", "sub": sample::BAYKO_SUB, "uuid": bayko.uuid.to_string(),
    });
    let (status, body, _) =
        call(&app, "POST /api/messages", "/api/messages", Some(sample::ANDREW_SUB), Value::Null, "", Some(forged))
            .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["handle"], "andrewbrown");
    assert_eq!(body["display_name"], "Andrew Brown");
    let (_, list, _) = messages(&app, sample::BAYKO_SUB, "").await;
    let stored = list.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (stored["message"].as_str(), stored["handle"].as_str()),
        (Some("I am totally bayko"), Some("andrewbrown"))
    );
}

#[tokio::test]
async fn requests_without_a_usable_identity_get_the_contracts_answer_on_every_route() {
    let store = fresh_store().await;
    sample_fixture(&store).await;
    let app = App::new(store.clone());
    let unknown = uuid::Uuid::new_v4().to_string();
    let routes: [(&str, &str, Value, Option<Value>); 4] = [
        ("GET /api/message_groups", "/api/message_groups", Value::Null, None),
        (
            "GET /api/messages/{message_group_uuid}",
            "/api/messages/x",
            json!({"message_group_uuid": sample::GROUP}),
            None,
        ),
        ("POST /api/messages", "/api/messages", Value::Null, Some(json!({"message": "hi", "handle": "bayko"}))),
        ("GET /api/users/{handle}/short", "/api/users/@bayko/short", json!({"handle": "@bayko"}), None),
    ];
    let before = item_count(&store).await;
    for (route, path, params, body) in routes {
        for sub in [None, Some(""), Some("   "), Some("a#b")] {
            let (status, answer, _) = call(&app, route, path, sub, params.clone(), "", body.clone()).await;
            assert_eq!((status, answer), (401, json!(["generic_401"])), "{route} with sub {sub:?}");
        }
        let (status, answer, _) = call(&app, route, path, Some(&unknown), params.clone(), "", body.clone()).await;
        if route.contains("/short") {
            assert_eq!(status, 200, "any signed-in account may look a handle up");
        } else {
            assert_eq!((status, answer), (404, json!(["user_not_found"])), "{route}: a sub without a profile");
        }
    }
    assert_eq!(item_count(&store).await, before);
}
