//! Malformed input, table-driven, through the real handlers (events parsed by
//! lambda_http as in Lambda) against DynamoDB Local. Every case
//! gets the contract's status and error array, and nothing is written.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cruddur_devkit::client::{create_message_event, message_groups_event, messages_event, users_short_event, TestApp};
use cruddur_devkit::events::ApiEvent;
use cruddur_devkit::fixtures::{item_count, sample, seeded_store};
use serde_json::{json, Value};

/// A request body: none, text, or raw bytes sent base64-encoded.
#[derive(Clone)]
enum Payload {
    None,
    Text(String),
    Bytes(Vec<u8>),
}

#[derive(Clone)]
struct Case {
    name: String,
    route: &'static str,
    path_param: Option<(&'static str, String)>,
    query: Vec<(&'static str, String)>,
    body: Payload,
    status: u16,
    codes: Vec<&'static str>,
}

fn post(name: &str, body: Payload, status: u16, codes: &[&'static str]) -> Case {
    Case {
        name: name.into(),
        route: "POST /api/messages",
        path_param: None,
        query: vec![],
        body,
        status,
        codes: codes.to_vec(),
    }
}

fn json_post(name: &str, body: Value, status: u16, codes: &[&'static str]) -> Case {
    post(name, Payload::Text(body.to_string()), status, codes)
}

fn get_messages(
    name: &str,
    group: &str,
    query: Vec<(&'static str, String)>,
    status: u16,
    codes: &[&'static str],
) -> Case {
    Case {
        name: name.into(),
        route: "GET /api/messages/{message_group_uuid}",
        path_param: Some(("message_group_uuid", group.into())),
        query,
        body: Payload::None,
        status,
        codes: codes.to_vec(),
    }
}

fn get_groups(name: &str, query: Vec<(&'static str, String)>, status: u16, codes: &[&'static str]) -> Case {
    Case {
        name: name.into(),
        route: "GET /api/message_groups",
        path_param: None,
        query,
        body: Payload::None,
        status,
        codes: codes.to_vec(),
    }
}

fn get_short(name: &str, handle: &str, status: u16, codes: &[&'static str]) -> Case {
    Case {
        name: name.into(),
        route: "GET /api/users/{handle}/short",
        path_param: Some(("handle", handle.into())),
        query: vec![],
        body: Payload::None,
        status,
        codes: codes.to_vec(),
    }
}

fn event(case: &Case, sub: &str) -> ApiEvent {
    let param = case.path_param.as_ref().map(|(_, v)| v.as_str()).unwrap_or("");
    let event = match case.route {
        "POST /api/messages" => create_message_event().without_body(),
        "GET /api/messages/{message_group_uuid}" => messages_event(param),
        "GET /api/message_groups" => message_groups_event(),
        "GET /api/users/{handle}/short" => users_short_event(param),
        other => panic!("no sample event for {other}"),
    };
    let query: Vec<(&str, &str)> = case.query.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let event = event.caller(Some(sub)).query_pairs(&query);
    match &case.body {
        Payload::None => event,
        Payload::Text(t) => event.body(t.as_bytes()),
        Payload::Bytes(b) => event.binary_body(b),
    }
}

async fn cursors(app: &TestApp) -> (String, String) {
    // Bayko's page-1 cursors: one for a group list, one for the message group.
    let groups = app.list_message_groups(sample::BAYKO_SUB, "limit=1").await;
    let messages = app.list_messages(sample::BAYKO_SUB, sample::GROUP, "limit=1").await;
    (groups.next_cursor.unwrap_or_default(), messages.next_cursor.expect("the seeded message group has a second page"))
}

fn cases(bayko_groups_cursor: &str, messages_cursor: &str) -> Vec<Case> {
    let g = sample::GROUP;
    let reply = |m: Value| json!({"message": m, "message_group_uuid": g});
    let to_bayko = |m: Value| json!({"message": m, "handle": "bayko"});
    let long = |c: &str, n: usize| c.repeat(n);
    let mut cases = vec![
        // Bodies that are not a JSON object.
        post("no body", Payload::None, 400, &["invalid_json"]),
        post("empty body", Payload::Text(String::new()), 400, &["invalid_json"]),
        post("not JSON", Payload::Text("hello".into()), 400, &["invalid_json"]),
        post("truncated JSON", Payload::Text(r#"{"message": "hi", "handle": "bay"#.into()), 400, &["invalid_json"]),
        post("JSON array", Payload::Text(r#"["hi", "bayko"]"#.into()), 400, &["invalid_json"]),
        post("JSON string", Payload::Text(r#""hi""#.into()), 400, &["invalid_json"]),
        post("JSON number", Payload::Text("42".into()), 400, &["invalid_json"]),
        post("JSON null", Payload::Text("null".into()), 400, &["invalid_json"]),
        post("JSON true", Payload::Text("true".into()), 400, &["invalid_json"]),
        // Wrong types for every field.
        json_post("message is a number", to_bayko(json!(5)), 400, &["invalid_json"]),
        json_post("message is an array", to_bayko(json!(["hi"])), 400, &["invalid_json"]),
        json_post("message is an object", to_bayko(json!({"text": "hi"})), 400, &["invalid_json"]),
        json_post("handle is a number", json!({"message": "hi", "handle": 5}), 400, &["invalid_json"]),
        json_post("handle is an array", json!({"message": "hi", "handle": ["bayko"]}), 400, &["invalid_json"]),
        json_post("group is a number", json!({"message": "hi", "message_group_uuid": 5}), 400, &["invalid_json"]),
        json_post("group is a boolean", json!({"message": "hi", "message_group_uuid": true}), 400, &["invalid_json"]),
        // Invalid UTF-8 arriving base64-encoded.
        post("invalid UTF-8 body", Payload::Bytes(vec![b'{', 0xff, 0xfe, b'}']), 400, &["invalid_json"]),
        post(
            "invalid UTF-8 inside the message",
            Payload::Bytes([&br#"{"handle":"bayko","message":"a"#[..], &[0xc3, 0x28], &br#""}"#[..]].concat()),
            400,
            &["invalid_json"],
        ),
        // Text.
        json_post("1 MB message", to_bayko(json!(long("a", 1_000_000))), 422, &["message_exceed_max_chars_1024"]),
        json_post("1025 ASCII characters", reply(json!(long("a", 1025))), 422, &["message_exceed_max_chars_1024"]),
        json_post("1025 two-byte characters", reply(json!(long("é", 1025))), 422, &["message_exceed_max_chars_1024"]),
        json_post("1025 emoji", reply(json!(long("😀", 1025))), 422, &["message_exceed_max_chars_1024"]),
        json_post(
            "513 combining pairs (1026 scalars)",
            reply(json!(long("e\u{301}", 513))),
            422,
            &["message_exceed_max_chars_1024"],
        ),
        json_post("white space only", reply(json!(" \n\t\u{3000} ")), 422, &["message_blank"]),
        json_post("empty message", reply(json!("")), 422, &["message_blank"]),
        json_post("message missing", json!({"handle": "bayko"}), 422, &["message_blank"]),
        json_post("message null", json!({"message": null, "handle": "bayko"}), 422, &["message_blank"]),
        json_post("NUL character", reply(json!("a\u{0}b")), 422, &["message_invalid_characters"]),
        json_post("bell character", reply(json!("ding\u{7}")), 422, &["message_invalid_characters"]),
        json_post("terminal escape", reply(json!("\u{1b}[31mred")), 422, &["message_invalid_characters"]),
        json_post("C1 control", reply(json!("x\u{85}y")), 422, &["message_invalid_characters"]),
        // Targets.
        json_post(
            "neither group nor handle",
            json!({"message": "hi"}),
            422,
            &["message_group_uuid_blank", "user_reciever_handle_blank"],
        ),
        json_post(
            "blank handle and group",
            json!({"message": "hi", "handle": " ", "message_group_uuid": ""}),
            422,
            &["message_group_uuid_blank", "user_reciever_handle_blank"],
        ),
        json_post(
            "blank everything",
            json!({}),
            422,
            &["message_blank", "message_group_uuid_blank", "user_reciever_handle_blank"],
        ),
        json_post(
            "group not a uuid",
            json!({"message": "hi", "message_group_uuid": "nope"}),
            400,
            &["invalid_message_group_uuid"],
        ),
        json_post(
            "group with braces",
            json!({"message": "hi", "message_group_uuid": format!("{{{g}}}")}),
            400,
            &["invalid_message_group_uuid"],
        ),
        json_post(
            "unknown group",
            json!({"message": "hi", "message_group_uuid": "00000000-0000-4000-8000-000000000000"}),
            404,
            &["message_group_not_found"],
        ),
        json_post("handle with a space", json!({"message": "hi", "handle": "bay ko"}), 404, &["user_not_found"]),
        json_post("handle with an @", json!({"message": "hi", "handle": "@bayko"}), 404, &["user_not_found"]),
        json_post("handle too long", json!({"message": "hi", "handle": long("b", 40)}), 404, &["user_not_found"]),
        json_post("unknown handle", json!({"message": "hi", "handle": "nobody"}), 404, &["user_not_found"]),
        json_post("message to self", json!({"message": "hi", "handle": "ANDREWBROWN"}), 422, &["cannot_message_self"]),
        // Path parameters.
        get_messages("path: not a uuid", "abc", vec![], 400, &["invalid_message_group_uuid"]),
        get_messages("path: too long", &long("a", 2000), vec![], 400, &["invalid_message_group_uuid"]),
        get_messages("path: empty", "", vec![], 400, &["invalid_message_group_uuid"]),
        get_messages(
            "path: uuid without hyphens",
            "5ae290ed55d147a0bc6dfe2bc2700399",
            vec![],
            400,
            &["invalid_message_group_uuid"],
        ),
        get_messages(
            "path: unknown group",
            "00000000-0000-4000-8000-000000000000",
            vec![],
            404,
            &["message_group_not_found"],
        ),
        // Limits.
        get_messages("limit 0", g, vec![("limit", "0".into())], 400, &["invalid_limit"]),
        get_messages("limit -1", g, vec![("limit", "-1".into())], 400, &["invalid_limit"]),
        get_messages("limit 101", g, vec![("limit", "101".into())], 400, &["invalid_limit"]),
        get_messages("limit abc", g, vec![("limit", "abc".into())], 400, &["invalid_limit"]),
        get_groups("limit 1.5", vec![("limit", "1.5".into())], 400, &["invalid_limit"]),
        get_groups("limit empty", vec![("limit", String::new())], 400, &["invalid_limit"]),
        // Cursors.
        get_messages("cursor garbage", g, vec![("cursor", "garbage!".into())], 400, &["invalid_cursor"]),
        get_messages(
            "cursor truncated",
            g,
            vec![("cursor", messages_cursor[..messages_cursor.len() / 2].into())],
            400,
            &["invalid_cursor"],
        ),
        get_groups("cursor from another route", vec![("cursor", messages_cursor.into())], 400, &["invalid_cursor"]),
        get_groups(
            "cursor with a forged DynamoDB key",
            vec![("cursor", URL_SAFE_NO_PAD.encode(br#"{"l":"g","o":"x","a":"y","g":"z","pk":"GRP#other"}"#))],
            400,
            &["invalid_cursor"],
        ),
        // Short profile handles.
        get_short("short: handle with a space", "bay%20ko", 404, &["user_not_found"]),
        get_short("short: only an @", "@", 404, &["user_not_found"]),
        get_short("short: two @", "@@bayko", 404, &["user_not_found"]),
    ];
    if !bayko_groups_cursor.is_empty() {
        cases.push(get_groups(
            "cursor from another user's list",
            vec![("cursor", bayko_groups_cursor.into())],
            400,
            &["invalid_cursor"],
        ));
    }
    cases
}

#[tokio::test]
async fn every_malformed_request_gets_the_contract_answer_and_writes_nothing() {
    // Bayko has two message groups: a group-list cursor exists.
    let store = seeded_store().await;
    let app = TestApp::new(store.clone());
    let (groups_cursor, messages_cursor) = cursors(&app).await;
    assert!(!groups_cursor.is_empty());
    let cases = cases(&groups_cursor, &messages_cursor);
    assert!(cases.len() >= 40, "{} cases", cases.len());

    let before = item_count(&store).await;
    let mut failures = Vec::new();
    for case in &cases {
        let event = event(case, sample::ANDREW_SUB);
        if let Err(e) = event.request() {
            failures.push(format!("{}: the event does not parse: {e}", case.name));
            continue;
        }
        let (status, body) = app.call(event).await.pair();
        if status != case.status || body != json!(case.codes) {
            failures.push(format!("{}: got {status} {body}, want {} {:?}", case.name, case.status, case.codes));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert_eq!(item_count(&store).await, before, "no malformed request wrote anything");
}
