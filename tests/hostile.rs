//! Hostile callers: a third user after someone else's message group, a body
//! that claims to be someone else, requests without usable identity.

use cruddur_devkit::client::{create_message_event, message_groups_event, messages_event, users_short_event};
use cruddur_devkit::events::ApiEvent;
use cruddur_devkit::fixtures::sample::LONDO_SUB;
use cruddur_devkit::fixtures::{handle, item_count, sample, sample_app};
use serde_json::json;

/// One request for each route (a create-message that continues andrewbrown's
/// message group with bayko).
fn every_route() -> [ApiEvent; 4] {
    [
        message_groups_event(),
        messages_event(sample::GROUP),
        create_message_event().json_body(&json!({"message": "hi", "handle": "bayko"})),
        users_short_event("@bayko"),
    ]
}

#[tokio::test]
async fn a_third_user_cannot_read_reply_or_page_into_a_message_group_or_learn_its_members() {
    let app = sample_app().await;

    // By uuid.
    let answer = app.list_messages(LONDO_SUB, sample::GROUP, "").await;
    assert_eq!(answer.pair(), (403, json!(["generic_403"])));
    // By a cursor that andrewbrown legitimately got for it.
    let cursor = app.list_messages(sample::ANDREW_SUB, sample::GROUP, "limit=1").await.next_cursor.unwrap();
    let answer = app.list_messages(LONDO_SUB, sample::GROUP, &format!("limit=1&cursor={cursor}")).await;
    assert_eq!(answer.pair(), (403, json!(["generic_403"])), "a member's cursor does not let a non-member in");
    // By replying.
    let before = item_count(&app.store).await;
    let answer =
        app.create_message(LONDO_SUB, &json!({"message": "let me in", "message_group_uuid": sample::GROUP})).await;
    assert_eq!(answer.pair(), (403, json!(["generic_403"])));
    assert_eq!(item_count(&app.store).await, before, "nothing written");
    // Members are not listed anywhere londo can see: their groups are londo's own only.
    assert_eq!(app.list_message_groups(LONDO_SUB, "").await.pair(), (200, json!([])));
}

#[tokio::test]
async fn a_body_that_names_a_sender_is_ignored() {
    let app = sample_app().await;
    let bayko = app.store.user_by_handle(&handle("bayko")).await.unwrap().unwrap();
    let forged = json!({
        "message": "I am totally bayko", "message_group_uuid": sample::GROUP,
        "user_uuid": bayko.uuid.to_string(), "sender": "bayko", "user_handle": "bayko",
        "display_name": "Andrew Bayko", "sub": sample::BAYKO_SUB, "uuid": bayko.uuid.to_string(),
    });
    let (status, body) = app.create_message(sample::ANDREW_SUB, &forged).await.pair();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["handle"], "andrewbrown");
    assert_eq!(body["display_name"], "Andrew Brown");
    let list = app.list_messages(sample::BAYKO_SUB, sample::GROUP, "").await.body;
    let stored = list.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (stored["message"].as_str(), stored["handle"].as_str()),
        (Some("I am totally bayko"), Some("andrewbrown"))
    );
}

#[tokio::test]
async fn requests_without_a_usable_identity_get_the_contracts_answer_on_every_route() {
    let app = sample_app().await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let routes = every_route();
    let before = item_count(&app.store).await;
    for event in routes {
        let route = event.json()["routeKey"].as_str().unwrap_or_default().to_owned();
        for sub in [None, Some(""), Some("   "), Some("a#b")] {
            let answer = app.call(event.clone().caller(sub)).await;
            assert_eq!(answer.pair(), (401, json!(["generic_401"])), "{route} with sub {sub:?}");
        }
        let answer = app.call(event.clone().caller(Some(&unknown))).await;
        if route.contains("/short") {
            assert_eq!(answer.status, 200, "any signed-in account may look a handle up");
        } else {
            assert_eq!(answer.pair(), (404, json!(["user_not_found"])), "{route}: a sub without a profile");
        }
    }
    assert_eq!(item_count(&app.store).await, before);
}

/// An ID token's claims (token_use = id), or claims with no token_use, never
/// reach a handler's data, on any route: only access tokens authorise calls.
#[tokio::test]
async fn an_id_token_or_a_token_without_token_use_is_refused_on_every_route() {
    let app = sample_app().await;
    let routes = every_route();
    let before = item_count(&app.store).await;
    for event in routes {
        let route = event.json()["routeKey"].as_str().unwrap_or_default().to_owned();
        for token_use in [Some("id"), Some("ACCESS"), Some(""), None] {
            let mut claims = serde_json::Map::new();
            claims.insert("sub".into(), json!(sample::ANDREW_SUB));
            if let Some(t) = token_use {
                claims.insert("token_use".into(), json!(t));
            }
            let answer = app.call(event.clone().claims(Some(claims))).await;
            assert_eq!(answer.pair(), (401, json!(["generic_401"])), "{route} with token_use {token_use:?}");
        }
        // The same caller with an access token gets through.
        let through = app.call(event.clone().caller(Some(sample::ANDREW_SUB))).await;
        assert_eq!(through.status, 200, "{route}: {through:?}");
    }
    assert_eq!(item_count(&app.store).await, before + 1, "only the access token's message was stored");
}
