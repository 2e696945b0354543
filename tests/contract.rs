//! The code against docs/openapi.yaml and docs/asyncapi.yaml, both ways: the
//! routes it serves are the documented ones, no more, no fewer; every answer
//! the suites get is documented (the devkit's test client validates each one
//! against the document, so a field, status, code or header the code adds
//! alone fails there); and every status the document gives a route is one
//! the code answers (below), so a documented status the code cannot produce
//! fails here. The socket's events are validated by the WebSocket client and
//! the `@connections` stand-in the same way.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;
use cruddur_core::api::ROUTES;
use cruddur_core::realtime;
use cruddur_devkit::client::{
    block_event, create_message_event, delete_message_event, edit_message_event, mark_read_event, message_groups_event,
    messages_event, reply, users_short_event, TestApp,
};
use cruddur_devkit::contract;
use cruddur_devkit::events::{expectations, sample_json, ApiEvent, Expected};
use cruddur_devkit::faults::{Fault, FaultStack};
use cruddur_devkit::fixtures::{sample, sample_app};
use serde_json::json;

/// Statuses that API Gateway answers itself, in front of the functions:
/// its throttle (429, every route) and its payload limit (413, which the
/// local API's end-to-end suite produces: tools/local-api/tests/e2e.rs).
fn gateway_only(route: &str, status: u16) -> bool {
    let takes_a_body = ["POST /api/messages", "PATCH /api/messages/{message_group_uuid}/{message_uuid}"];
    status == 429 || (takes_a_body.contains(&route) && status == 413)
}

#[test]
fn the_documented_routes_are_the_routes_the_code_serves() {
    let served: BTreeSet<String> = ROUTES.iter().map(|r| r.key.to_owned()).collect();
    let documented: BTreeSet<String> = contract::documented_routes().into_iter().collect();
    assert_eq!(served, documented, "api::ROUTES and docs/openapi.yaml's operations");
}

#[test]
fn every_sample_event_expects_a_documented_status() {
    for expectation in expectations() {
        let (name, Expected::Status(status)) = (&expectation.event, expectation.expected) else { continue };
        let event = sample_json(name);
        let Some(route) = event["routeKey"].as_str().filter(|r| r.starts_with("GET ") || r.starts_with("POST ")) else {
            continue;
        };
        assert!(
            contract::documented_statuses(route).contains(&status),
            "events/{name}: {status} is not documented for {route}"
        );
    }
}

#[test]
fn the_documented_events_are_those_the_code_sends() {
    let frame_type = |frame: &str| serde_json::from_str::<serde_json::Value>(frame).unwrap()["type"].clone();
    let sent: BTreeSet<String> = [
        realtime::MESSAGE_EVENT,
        realtime::MESSAGE_EDITED_EVENT,
        realtime::MESSAGE_DELETED_EVENT,
        realtime::READ_EVENT,
        realtime::TYPING_EVENT,
        realtime::CLOSING_EVENT,
    ]
    .iter()
    .map(|t| t.to_string())
    .chain(
        [realtime::PONG_FRAME, realtime::UNKNOWN_ACTION_FRAME]
            .iter()
            .map(|f| frame_type(f).as_str().unwrap().to_owned()),
    )
    .collect();
    let documented: BTreeSet<String> = contract::documented_events().into_iter().collect();
    assert_eq!(sent, documented, "the events of shared/src/realtime.rs and docs/asyncapi.yaml");
    for frame in [realtime::PONG_FRAME, realtime::UNKNOWN_ACTION_FRAME] {
        contract::check_event(&serde_json::from_str(frame).unwrap()).unwrap();
    }
    // The reasons a closing frame can carry: exactly the documented ones.
    let told: BTreeSet<String> = realtime::CloseReason::ALL
        .into_iter()
        .filter(|r| r.is_told())
        .map(|r| serde_json::to_value(r).unwrap().as_str().unwrap().to_owned())
        .collect();
    let pointer = "/components/schemas/ClosingEvent/properties/reason/enum";
    let documented: BTreeSet<String> = contract::asyncapi()
        .pointer(pointer)
        .and_then(|v| v.as_array())
        .expect("the documented close reasons")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert_eq!(told, documented, "the close reasons told and docs/asyncapi.yaml#{pointer}");
}

fn counter_event() -> ApiEvent {
    ApiEvent::sample("message-counter.json")
}

/// One request per route for each outcome that needs no broken database.
fn healthy_cases() -> Vec<(ApiEvent, Option<&'static str>, u16)> {
    let group = sample::GROUP;
    let andrew = Some(sample::ANDREW_SUB);
    let londo = Some(sample::LONDO_SUB);
    let nobody = Some("0b1c2d3e-4f50-4a6b-9c8d-7e6f5a4b3c2d");
    let unknown_group = "00000000-0000-4000-8000-000000000000";
    vec![
        (message_groups_event(), andrew, 200),
        (message_groups_event().query("limit=0"), andrew, 400),
        (message_groups_event(), None, 401),
        (message_groups_event(), nobody, 404),
        (messages_event(group), andrew, 200),
        (messages_event("not-a-uuid"), andrew, 400),
        (messages_event(group), None, 401),
        (messages_event(group), londo, 403),
        (messages_event(unknown_group), andrew, 404),
        (create_message_event().json_body(&reply("contract")), andrew, 200),
        (create_message_event().body(b"{\"message\":"), andrew, 400),
        (create_message_event().json_body(&reply("contract")), None, 401),
        (create_message_event().json_body(&reply("contract")), londo, 403),
        (create_message_event().json_body(&json!({"message": "hi", "handle": "nobody"})), andrew, 404),
        (create_message_event().json_body(&json!({"message": " "})), andrew, 422),
        (counter_event(), andrew, 200),
        (counter_event(), None, 401),
        (counter_event(), nobody, 404),
        (mark_read_event(group), andrew, 200),
        (mark_read_event("not-a-uuid"), andrew, 400),
        (mark_read_event(group), None, 401),
        (mark_read_event(group), londo, 403),
        (mark_read_event(unknown_group), andrew, 404),
        (users_short_event("@bayko"), andrew, 200),
        (users_short_event("@bayko"), None, 401),
        (users_short_event("@nobody"), andrew, 404),
        (edit(group, EDITED), andrew, 200),
        (edit(group, "not-a-uuid"), andrew, 400),
        (edit(group, EDITED), None, 401),
        (edit(group, BAYKOS), andrew, 403),
        (edit(unknown_group, EDITED), andrew, 404),
        (edit_message_event(group, EDITED).json_body(&json!({"message": ""})), andrew, 422),
        (delete_message_event(group, DELETED), andrew, 200),
        (edit(group, DELETED), andrew, 409),
        (delete_message_event(group, "not-a-uuid"), andrew, 400),
        (delete_message_event(group, DELETED), None, 401),
        (delete_message_event(group, BAYKOS), andrew, 403),
        (delete_message_event(group, UNKNOWN_MESSAGE), andrew, 404),
        // Londo blocks bayko (they share no group: the cases above stand).
        (block_event(BLOCK, "@bayko"), londo, 200),
        (block_event(BLOCK, "@bayko"), None, 401),
        (block_event(BLOCK, "@nobody"), londo, 404),
        (block_event(BLOCK, "@londo"), londo, 422),
        (blocks_event(), londo, 200),
        (blocks_event().query("limit=0"), londo, 400),
        (blocks_event(), None, 401),
        (blocks_event(), nobody, 404),
        (block_event(UNBLOCK, "@bayko"), londo, 200),
        (block_event(UNBLOCK, "@bayko"), None, 401),
        (block_event(UNBLOCK, "@nobody"), londo, 404),
        (block_event(UNBLOCK, "@londo"), londo, 422),
        (export_event(), andrew, 200),
        (export_event().query("cursor=garbage"), andrew, 400),
        (export_event(), None, 401),
        (export_event(), nobody, 404),
        // Last: londo's account is deleted.
        (delete_me_event(), None, 401),
        (delete_me_event(), nobody, 404),
        (delete_me_event(), londo, 200),
    ]
}

/// Messages of the sample fixture: andrewbrown's first (edited here),
/// bayko's first, andrewbrown's second (deleted here, before the edit of
/// it that gets 409), and one that was never sent.
const EDITED: &str = "01a20c35-2820-7000-85a0-c0ffee000000";
const BAYKOS: &str = "01a20c3b-90c0-7000-85a0-c0ffee000001";
const DELETED: &str = "01a20c41-f960-7000-85a0-c0ffee000002";
const UNKNOWN_MESSAGE: &str = "01a20c41-f960-7000-85a0-0000deadbeef";

const BLOCK: &str = "block-user.json";
const UNBLOCK: &str = "unblock-user.json";

fn delete_me_event() -> ApiEvent {
    ApiEvent::sample("delete-my-account.json")
}

fn export_event() -> ApiEvent {
    ApiEvent::sample("export-my-data.json")
}

fn blocks_event() -> ApiEvent {
    ApiEvent::sample("list-blocks.json")
}

fn edit(group: &str, message: &str) -> ApiEvent {
    edit_message_event(group, message).json_body(&json!({"message": "contract edit"}))
}

/// Every route once as Andrew (a caller with a profile), reaching the database.
fn every_route_as_andrew() -> Vec<ApiEvent> {
    vec![
        message_groups_event(),
        messages_event(sample::GROUP),
        create_message_event().json_body(&reply("contract")),
        counter_event(),
        mark_read_event(sample::GROUP),
        users_short_event("@bayko"),
        edit(sample::GROUP, EDITED),
        delete_message_event(sample::GROUP, DELETED),
        block_event(BLOCK, "@londo"),
        blocks_event(),
        block_event(UNBLOCK, "@londo"),
        export_event(),
        delete_me_event(),
    ]
    .into_iter()
    .map(|e| e.caller(Some(sample::ANDREW_SUB)))
    .collect()
}

fn route_of(event: &ApiEvent) -> String {
    event.json()["routeKey"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_status_is_one_the_code_answers() {
    let mut answered = BTreeSet::new();
    let app = sample_app().await;
    for (event, caller, status) in healthy_cases() {
        let route = route_of(&event);
        let answer = app.call(event.caller(caller)).await;
        assert_eq!(answer.status, status, "{route} as {caller:?}: {answer:?}");
        answered.insert((route, status));
    }

    // 503: the database keeps throttling.
    let faults = FaultStack::start().await;
    faults.proxy.inject(Fault::Throttle, None, None);
    for event in every_route_as_andrew() {
        let route = route_of(&event);
        let answer = faults.app.call(event).await;
        assert_eq!(answer.status, 503, "{route}: {answer:?}");
        answered.insert((route, 503));
    }

    // 500: data that should not exist (the caller's and Bayko's handle's
    // reference items without their fields).
    let broken = sample_app().await;
    for key in [format!("COGNITO#{}", sample::ANDREW_SUB), "HANDLE#bayko".to_owned()] {
        let sk = key.split('#').next().unwrap_or_default().to_owned();
        broken
            .store
            .client()
            .put_item()
            .table_name(broken.store.table())
            .item("pk", AttributeValue::S(key))
            .item("sk", AttributeValue::S(sk))
            .send()
            .await
            .expect("a broken item written");
    }
    let broken = TestApp::new(broken.store.clone());
    for event in every_route_as_andrew() {
        let route = route_of(&event);
        let answer = broken.call(event).await;
        assert_eq!(answer.pair(), (500, json!(["generic_500"])), "{route}");
        answered.insert((route, 500));
    }

    let documented: BTreeSet<(String, u16)> = contract::documented_routes()
        .into_iter()
        .flat_map(|route| contract::documented_statuses(&route).into_iter().map(move |s| (route.clone(), s)))
        .filter(|(route, status)| !gateway_only(route, *status))
        .collect();
    assert_eq!(answered, documented, "the statuses answered above and those docs/openapi.yaml documents");
}
