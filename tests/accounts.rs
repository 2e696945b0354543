//! Deleting my account (issue 30): the Cognito user is gone from the
//! (local) pool, the table names the user nowhere but as the tombstone,
//! the handle is held from everyone else, the user's connections are
//! closed, every later request with their token is refused and stores
//! nothing, and a deletion cut short completes when repeated.

use cruddur_core::domain::{ConnectionId, DisplayName, Email, NewProfile, Timestamp};
use cruddur_core::realtime::Delivery;
use cruddur_core::store::{Store, DELETED_DISPLAY_NAME, DELETED_HANDLE};
use cruddur_core::triggers;
use cruddur_devkit::client::TestApp;
use cruddur_devkit::cognito;
use cruddur_devkit::connections::ConnectionsStandIn;
use cruddur_devkit::engines::{cognito_endpoint, local_cognito};
use cruddur_devkit::events::{self, ApiEvent};
use cruddur_devkit::faults::{Fault, FaultStack};
use cruddur_devkit::fixtures::{fresh_store, handle, item_count, sample, test_config, text, TEST_POOL};
use serde_json::{json, Map, Value};

/// DELETE /api/me with the claims an access token of `email`'s account
/// carries (the pool's username: the email, as the template's pool has it).
fn delete_event(sub: &str, email: &str) -> ApiEvent {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(sub));
    claims.insert("username".into(), json!(email));
    claims.insert("token_use".into(), json!("access"));
    ApiEvent::sample("delete-my-account.json").claims(Some(claims))
}

/// Every attribute value of every item that is exactly `value`, as
/// (pk, attribute).
fn holders(items: &[Value], value: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for item in items {
        for (name, v) in item.as_object().unwrap() {
            if v.as_str().is_some_and(|s| s.contains(value)) {
                found.push((item["pk"].as_str().unwrap_or_default().to_owned(), name.clone()));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn after_deleting_my_account_the_pool_and_the_table_know_me_only_as_a_tombstone() {
    let store = fresh_store().await;
    let pool_name = "cruddur-deletions";
    let cognito = local_cognito(&test_config(), &cognito_endpoint()).await;
    let stack = cognito::setup_in_pool(&cognito, &store, Timestamp::now(), pool_name).await.unwrap();
    let sub_of =
        |who: &str| stack.users.iter().find(|(h, _, _)| h == who).map(|(_, e, s)| (e.clone(), s.clone())).unwrap();
    let (bayko_email, bayko_sub) = sub_of("bayko");
    let (_, andrew_sub) = sub_of("andrewbrown");
    let connections = ConnectionsStandIn::start().await;
    let push = Delivery::push_only(store.clone(), connections.client().await, test_config().push_budget);
    let app = TestApp::pushing(store.clone(), push).with_directory(cognito::local_directory(pool_name).await);
    // Bayko: messages to andrew, a group with londo, a block, a connection.
    let bayko = store.user_by_handle(&handle("bayko")).await.unwrap().unwrap();
    let londo_group =
        store.start_message_group(&bayko, &handle("londo"), text("Londo, a word?"), Timestamp::now()).await.unwrap();
    assert_eq!(app.reply(&bayko_sub, "my last words here").await.status, 200);
    assert_eq!(app.block(&bayko_sub, "@londo").await.status, 200);
    store.add_connection(bayko.uuid, &ConnectionId::parse("bayko-phone").unwrap(), Timestamp::now()).await.unwrap();

    let deleted = app.call(delete_event(&bayko_sub, &bayko_email)).await;
    assert_eq!(deleted.pair(), (200, json!({"deleted": true})));

    // The pool has no such user any more.
    let gone = cognito.admin_get_user().user_pool_id(&stack.pool_id).username(&bayko_email).send().await;
    assert!(gone.is_err(), "the Cognito user still exists: {gone:?}");
    // The connection was told and closed, its record removed.
    assert_eq!(connections.deleted(), ["bayko-phone"]);
    assert_eq!(connections.closing(), [("bayko-phone".to_owned(), "account_removed".to_owned())]);
    assert!(store.connections_of(bayko.uuid, Timestamp::now()).await.unwrap().is_empty());

    // Nothing names bayko but the tombstone.
    let items = store.scan_all().await.unwrap();
    for name in [bayko_email.as_str(), "Andrew Bayko"] {
        assert_eq!(holders(&items, name), Vec::<(String, String)>::new(), "{name} is still in the table");
    }
    let handles: Vec<(String, String)> =
        holders(&items, "bayko").into_iter().filter(|(_, attribute)| attribute.ends_with("handle")).collect();
    assert_eq!(handles, Vec::<(String, String)>::new(), "a handle attribute still says bayko");
    let his_messages: Vec<&Value> = items.iter().filter(|i| i["user_uuid"] == bayko.uuid.to_string()).collect();
    assert!(his_messages.len() > 10, "his messages stay in the others' histories");
    for m in &his_messages {
        assert_eq!(
            (m["user_handle"].as_str(), m["user_display_name"].as_str()),
            (Some(DELETED_HANDLE), Some(DELETED_DISPLAY_NAME))
        );
    }
    // Andrew still reads the whole history, bayko's side shown as deleted.
    let list = app.list_message_groups(&andrew_sub, "").await.ok();
    let group = &list.body[0];
    assert_eq!(
        (group["handle"].as_str(), group["display_name"].as_str()),
        (Some(DELETED_HANDLE), Some(DELETED_DISPLAY_NAME))
    );
    let page = app.list_messages(&andrew_sub, sample::GROUP, "").await.ok();
    let last = page.body.as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["message"].as_str(), last["handle"].as_str()), (Some("my last words here"), Some(DELETED_HANDLE)));
    // Writing to him: the answer a block gets; by handle too.
    assert_eq!(app.reply(&andrew_sub, "are you there?").await.pair(), (403, json!(["recipient_unavailable"])));
    let start = json!({"handle": "bayko", "message": "hello again"});
    assert_eq!(app.create_message(&andrew_sub, &start).await.pair(), (403, json!(["recipient_unavailable"])));

    // His token, still unexpired, gets nowhere and stores nothing.
    let before = item_count(&store).await;
    assert_eq!(app.list_message_groups(&bayko_sub, "").await.pair(), (404, json!(["user_not_found"])));
    assert_eq!(app.reply(&bayko_sub, "back from the dead").await.pair(), (404, json!(["user_not_found"])));
    assert_eq!(app.block(&bayko_sub, "@andrewbrown").await.pair(), (404, json!(["user_not_found"])));
    assert_eq!(app.export(&bayko_sub, "").await.pair(), (404, json!(["user_not_found"])));
    assert_eq!(app.call(delete_event(&bayko_sub, &bayko_email)).await.pair(), (404, json!(["user_not_found"])));
    assert_eq!(item_count(&store).await, before, "nothing stored");
    // Londo's group with him stays londo's; the block went with him.
    let londo = store.user_by_handle(&handle("londo")).await.unwrap().unwrap();
    assert!(store.message_group(londo.uuid, londo_group.group).await.unwrap().is_some());
    assert!(items.iter().all(|i| !i["pk"].as_str().unwrap_or_default().starts_with("BLOCK#")), "no block list left");

    // The handle is held from everyone else: at sign-up, and for a profile.
    let taken = triggers::pre_sign_up(&store, events::pre_sign_up("Bayko", "Not Bayko", "impostor@example.com")).await;
    assert!(taken.is_err(), "a new sign-up took the handle of an account just deleted");
    let profile = NewProfile {
        handle: handle("bayko"),
        display_name: DisplayName::parse("Not Bayko").unwrap(),
        email: Email::parse("impostor@example.com").unwrap(),
        cognito_sub: None,
    };
    let created = store.create_profile(profile, Timestamp::now()).await;
    assert!(matches!(created, Err(cruddur_core::Error::HandleTaken)), "{created:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deletion_cut_short_completes_when_asked_again() {
    let s = FaultStack::start().await;
    let app = TestApp::new(s.app.store.clone()).with_directory(cognito::local_directory(TEST_POOL).await);
    let direct: &Store = &s.direct;
    // The third conversation or message update fails, whatever the retries.
    s.proxy.inject_after(3, Fault::ServerError, None, Some("UpdateItem"));
    let cut = app.call(delete_event(sample::BAYKO_SUB, "bayko@example.com")).await;
    assert_eq!(cut.pair(), (503, json!(["generic_503"])), "the deletion was cut short");
    s.proxy.heal();
    // Half way: already unknown to every other route...
    assert_eq!(app.list_message_groups(sample::BAYKO_SUB, "").await.pair(), (404, json!(["user_not_found"])));
    let half = serde_json::to_string(&direct.scan_all().await.unwrap()).unwrap();
    assert!(half.contains("bayko@example.com"), "the profile waits for the deletion's end");
    // ...and the same request finishes it.
    let again = app.call(delete_event(sample::BAYKO_SUB, "bayko@example.com")).await;
    assert_eq!(again.pair(), (200, json!({"deleted": true})));
    let items = direct.scan_all().await.unwrap();
    let all = serde_json::to_string(&items).unwrap();
    for gone in ["bayko@example.com", "Andrew Bayko"] {
        assert!(!all.contains(gone), "{gone} is still in the table");
    }
    assert!(holders(&items, "bayko").iter().all(|(_, a)| !a.ends_with("handle")), "a handle still says bayko");
    assert!(direct.unfinished_deletions().await.unwrap().is_empty(), "no deletion left under way");
}

#[tokio::test]
async fn a_deletion_whose_request_never_came_back_is_completed_by_the_operator() {
    let store = fresh_store().await;
    cruddur_devkit::fixtures::sample_fixture(&store).await;
    let bayko = store.user_by_handle(&handle("bayko")).await.unwrap().unwrap();
    // Begun (its request died before the rest): the operator's repair ends it.
    store.begin_account_deletion(bayko.uuid, Timestamp::now()).await.unwrap();
    assert_eq!(store.unfinished_deletions().await.unwrap().len(), 1);
    store.finish_account_deletion(bayko.uuid).await.unwrap();
    assert!(store.unfinished_deletions().await.unwrap().is_empty());
    assert!(store.profile(bayko.uuid).await.unwrap().is_none());
}
