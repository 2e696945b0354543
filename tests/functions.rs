//! The Lambda handlers, driven the way Lambda drives them: API Gateway HTTP
//! API (v2) events and Cognito trigger events parsed by lambda_http /
//! aws_lambda_events, against DynamoDB Local.

use std::collections::BTreeSet;

use cruddur_core::auth::{Verifier, VerifierSettings};
use cruddur_core::domain::{Timestamp, UserUuid};
use cruddur_core::realtime::{self, Delivery};
use cruddur_core::triggers;
use cruddur_devkit::client::{messages_event, Answer, TestApp};
use cruddur_devkit::cognito;
use cruddur_devkit::connections::ConnectionsStandIn;
use cruddur_devkit::events::{self, ApiEvent, Expectation, Expected};
use cruddur_devkit::fixtures::{fresh_store, handle, item_count, sample, seeded_store, test_config, TEST_POOL};
use cruddur_devkit::seed::{self, MESSAGES};
use lambda_http::aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_http::aws_lambda_events::cognito::{CognitoEventUserPoolsPostConfirmation, CognitoEventUserPoolsPreSignup};
use lambda_http::aws_lambda_events::iam::IamPolicyEffect;
use serde_json::{json, Value};

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().expect("an object").keys().map(String::as_str).collect()
}

fn message_keys() -> BTreeSet<&'static str> {
    ["uuid", "display_name", "handle", "message", "created_at"].into()
}

/// The seed's unread messages for andrewbrown: bayko's after andrew's last.
fn seed_unread_for_andrew() -> u64 {
    MESSAGES.iter().rev().take_while(|(from_andrew, _)| !from_andrew).count() as u64
}

fn assert_iso(s: &Value) {
    let s = s.as_str().expect("a string");
    assert!(cruddur_core::domain::Timestamp::parse(s).is_ok(), "ISO-8601 UTC: {s}");
}

fn assert_error(answer: &Answer, status: u16, codes: &[&str]) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_codes(answer, codes);
}

fn assert_codes(answer: &Answer, codes: &[&str]) {
    assert_eq!(answer.body, json!(codes), "{answer:?}");
}

/// Every file in `events/`, through the real handler, on a fresh fixture:
/// the outcome `events/expected.tsv` lists (scripts/sam-local checks the same
/// list through `sam local invoke`), then the answer's contract.
#[tokio::test]
async fn every_sample_event_gets_the_contract_answer() {
    // What is on disk is what the devkit embedded (tools/devkit/build.rs), byte for byte.
    let events_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut names: Vec<String> = std::fs::read_dir(&events_dir)
        .expect("events/ exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(names.len() >= 20, "{names:?}");
    assert_eq!(events::sample_names(), names, "every sample event is embedded");
    for name in names.iter().map(String::as_str).chain(["expected.tsv"]) {
        let on_disk = std::fs::read_to_string(events_dir.join(name)).unwrap();
        assert_eq!(events::sample_text(name), on_disk, "{name}: embedded as it is");
    }
    let expectations = events::expectations();
    let mut listed: Vec<String> = expectations.iter().map(|e| e.event.clone()).collect();
    listed.sort();
    assert_eq!(listed, names, "events/expected.tsv lists every sample event, once");

    // tests/template.rs checks that each line names the function that
    // receives the event in the template.
    for Expectation { event: name, expected, .. } in &expectations {
        let text = events::sample_text(name);
        let store = seeded_store().await;
        let app = TestApp::new(store.clone()).with_directory(cognito::local_directory(TEST_POOL).await);
        match name.as_str() {
            "post-confirmation.json" => {
                assert_eq!(expected, &Expected::Accepted);
                let event: CognitoEventUserPoolsPostConfirmation = serde_json::from_str(text).unwrap();
                let before = item_count(&store).await;
                // The fixture registered andrewbrown already: a redelivery.
                let out = triggers::post_confirmation(&store, event).await.expect("accepted");
                assert_eq!(serde_json::to_value(&out).unwrap(), serde_json::from_str::<Value>(text).unwrap());
                assert_eq!(item_count(&store).await, before, "a redelivered event writes nothing");
                // And on an empty table it creates the profile.
                let empty = fresh_store().await;
                let event: CognitoEventUserPoolsPostConfirmation = serde_json::from_str(text).unwrap();
                triggers::post_confirmation(&empty, event).await.expect("accepted");
                assert_eq!(item_count(&empty).await, 3, "profile, handle claim, Cognito link");
            }
            "pre-sign-up.json" | "pre-sign-up-taken.json" => {
                let event: CognitoEventUserPoolsPreSignup = serde_json::from_str(text).unwrap();
                match (triggers::pre_sign_up(&store, event).await, expected) {
                    (Ok(out), Expected::Accepted) => {
                        assert_eq!(serde_json::to_value(&out).unwrap(), serde_json::from_str::<Value>(text).unwrap())
                    }
                    (Err(err), Expected::Refused) => {
                        assert_eq!(err.to_string(), "The handle Bayko is already taken. Please choose another one.")
                    }
                    (outcome, expected) => panic!("{name}: expected {expected:?}, got {outcome:?}"),
                }
            }
            "websocket-authorizer.json" => {
                // The sample's token is not a JWT: refused before any key is
                // fetched (tools/local-api's e2e tests allow real ones).
                let settings = VerifierSettings::cognito("us-east-1", "us-east-1_CRUDDUR01", vec!["client".into()]);
                let verifier = Verifier::new(settings);
                let answer = realtime::authorize(&verifier, &store, serde_json::from_str(text).unwrap()).await.unwrap();
                let effect = &answer.policy_document.statement[0].effect;
                let got = if matches!(effect, IamPolicyEffect::Allow) { Expected::Allowed } else { Expected::Denied };
                assert_eq!(&got, expected, "{name}");
                let sample: Value = serde_json::from_str(text).unwrap();
                assert_eq!(json!(answer.policy_document.statement[0].resource), json!([sample["methodArn"]]));
                assert_eq!(item_count(&store).await, item_count(&seeded_store().await).await, "nothing stored");
            }
            "websocket-connect.json" | "websocket-disconnect.json" => {
                let event: ApiGatewayWebsocketProxyRequest = serde_json::from_str(text).unwrap();
                let user =
                    UserUuid::parse(event.request_context.authorizer.fields["user_uuid"].as_str().unwrap()).unwrap();
                let connect: ApiGatewayWebsocketProxyRequest =
                    serde_json::from_str(events::sample_text("websocket-connect.json")).unwrap();
                let connected = realtime::connect(&store, connect).await;
                assert_eq!(connected.status_code, 200);
                assert_eq!(store.connections_of(user, Timestamp::now()).await.unwrap().len(), 1, "recorded");
                if name == "websocket-disconnect.json" {
                    let answer = realtime::disconnect(&store, event).await;
                    assert_eq!(Expected::Status(answer.status_code as u16), *expected, "{name}");
                    assert!(store.connections_of(user, Timestamp::now()).await.unwrap().is_empty(), "removed");
                } else {
                    assert_eq!(Expected::Status(connected.status_code as u16), *expected, "{name}");
                }
            }
            "websocket-typing.json" => {
                // andrewbrown types in the sample group: bayko's open
                // connections get it, his own do not; it is stored nowhere
                // but the throttle's marker.
                seed::seed_sample_connections(&store, Timestamp::now()).await.unwrap();
                let connections = ConnectionsStandIn::start().await;
                let delivery =
                    Delivery::push_only(store.clone(), connections.client().await, test_config().push_budget);
                let answer = realtime::typing(&delivery, serde_json::from_str(text).unwrap()).await;
                assert_eq!(Expected::Status(answer.status_code as u16), *expected, "{name}");
                let typed: Vec<(String, Value)> = connections.posts();
                assert!(typed.iter().all(|(id, _)| id.starts_with("bayko")), "{name}: only bayko's: {typed:?}");
                assert!(typed.iter().any(|(id, _)| id == "bayko-tab"), "{name}: {typed:?}");
                for (_, body) in &typed {
                    assert_eq!(
                        *body,
                        json!({"type": "typing", "message_group_uuid": sample::GROUP, "handle": "andrewbrown", "display_name": "Andrew Brown"})
                    );
                }
            }
            "deliver-messages.json" | "deliver-messages-batch.json" => {
                // The sample's sender is andrewbrown (the fixture gives him
                // the sample events' uuid), in the sample group with bayko.
                // The fixture's connections (seed::SAMPLE_CONNECTIONS): each
                // record must be posted to the ones expected.tsv lists,
                // bayko's copy with his counts; londo's tab gets nothing;
                // bayko's gone one (410) is tried once and removed, and the
                // batch does not fail for it.
                let event: lambda_http::aws_lambda_events::dynamodb::Event = serde_json::from_str(text).unwrap();
                let sample_json: Value = serde_json::from_str(text).unwrap();
                let images: Vec<&Value> =
                    sample_json["Records"].as_array().unwrap().iter().map(|r| &r["dynamodb"]["NewImage"]).collect();
                assert!(
                    event.records.iter().all(|r| realtime::message_record(r) == Some(realtime::Stored::New)),
                    "{name}: new messages"
                );
                let Expected::Delivered(posted_to) = expected else { panic!("{name}: expected {expected:?}") };
                let andrew = store.user_by_handle(&handle("andrewbrown")).await.unwrap().unwrap();
                assert_eq!(images[0]["user_uuid"]["S"], andrew.uuid.to_string(), "the fixture's andrewbrown sends");
                let bayko = store.user_by_handle(&handle("bayko")).await.unwrap().unwrap();
                seed::seed_sample_connections(&store, Timestamp::now()).await.unwrap();
                let connections = ConnectionsStandIn::start().await;
                let gone: Vec<&str> = seed::SAMPLE_CONNECTIONS
                    .iter()
                    .map(|(_, id)| *id)
                    .filter(|id| id.ends_with(seed::GONE_SUFFIX))
                    .collect();
                assert!(!gone.is_empty(), "the fixture has a gone connection");
                for id in &gone {
                    connections.answer(id, 410);
                }
                let answer = Delivery::new(store.clone(), connections.client().await).handle(event, None).await;
                assert!(answer.batch_item_failures.is_empty(), "{name}: {answer:?}");
                for image in &images {
                    let message = image["message_uuid"]["S"].as_str().unwrap();
                    let took: Vec<String> =
                        connections.posted(message).into_iter().filter(|id| !gone.contains(&id.as_str())).collect();
                    assert_eq!(&took, posted_to, "{name}: posted to exactly these connections");
                }
                let tried_gone = connections.posts().iter().filter(|(id, _)| gone.contains(&id.as_str())).count();
                assert_eq!(tried_gone, gone.len(), "{name}: a gone connection is tried once, then removed");
                let counts = store.unread_counts(bayko.uuid).await.unwrap();
                for (id, body) in connections.posts() {
                    assert_eq!(body["message_group_uuid"], sample::GROUP);
                    assert!(images.iter().any(|i| i["message"]["S"] == body["message"]), "{body}");
                    if id.starts_with("bayko") {
                        assert_eq!(
                            body["unread"],
                            json!({"count": counts.count, "conversations": counts.conversations})
                        );
                    } else {
                        assert!(body.get("unread").is_none(), "{body}");
                    }
                }
                let open = store.connections_of(bayko.uuid, Timestamp::now()).await.unwrap();
                let open: Vec<String> = open.iter().map(|c| c.to_string()).collect();
                assert_eq!(open, ["bayko-tab"], "{name}: a gone connection is removed");
            }
            _ => {
                let a = app.call(ApiEvent::sample(name)).await;
                assert_eq!(Expected::Status(a.status), *expected, "{name}: {a:?}");
                check_http_answer(name, &a, &app).await;
            }
        }
    }
}

/// The contract of each HTTP sample event's answer (its status is checked
/// against events/expected.tsv before).
async fn check_http_answer(name: &str, a: &Answer, app: &TestApp) {
    match name {
        "list-message-groups.json" => {
            let groups = a.body.as_array().unwrap();
            assert_eq!(groups.len(), 1, "andrewbrown's only message group: {a:?}");
            let g = &groups[0];
            let mut expected = message_keys();
            expected.insert("unread");
            expected.insert("other_read_at");
            assert_eq!(keys(g), expected);
            assert_eq!(g["unread"], json!(seed_unread_for_andrew()), "bayko's messages after andrew's last");
            // Bayko read andrew's messages when replying to them.
            assert_iso(&g["other_read_at"]);
            assert_eq!(g["uuid"], sample::GROUP);
            assert_eq!(g["handle"], "bayko", "the OTHER member");
            assert_eq!(g["display_name"], "Andrew Bayko");
            assert_eq!(g["message"], MESSAGES.last().unwrap().1);
            assert_iso(&g["created_at"]);
            assert!(a.next_cursor.is_none());
        }
        "list-message-groups-page.json" => {
            assert_eq!(a.body.as_array().unwrap().len(), 1);
        }
        "list-message-groups-bad-limit.json" => assert_codes(a, &["invalid_limit"]),
        "list-message-groups-bad-cursor.json" => assert_codes(a, &["invalid_cursor"]),
        "list-message-groups-no-claims.json" => assert_codes(a, &["generic_401"]),
        "list-messages.json" => {
            let messages = a.body.as_array().unwrap();
            assert_eq!(messages.len(), 20, "the default page");
            for m in messages {
                assert_eq!(keys(m), message_keys());
                assert_iso(&m["created_at"]);
            }
            // The latest 20 of the message group, oldest first.
            let latest = &MESSAGES[MESSAGES.len() - 20..];
            for (m, (from_andrew, text)) in messages.iter().zip(latest) {
                assert_eq!(m["message"], *text);
                assert_eq!(m["handle"], if *from_andrew { "andrewbrown" } else { "bayko" });
                assert_eq!(m["display_name"], if *from_andrew { "Andrew Brown" } else { "Andrew Bayko" });
            }
            assert!(a.next_cursor.is_some(), "older messages exist");
        }
        "list-messages-not-member.json" => assert_codes(a, &["generic_403"]),
        "list-messages-unknown-group.json" => assert_codes(a, &["message_group_not_found"]),
        "list-messages-bad-uuid.json" => assert_codes(a, &["invalid_message_group_uuid"]),
        "create-message-reply.json" => {
            assert_eq!(keys(&a.body), message_keys(), "a reply carries no message_group_uuid");
            assert_eq!(a.body["handle"], "andrewbrown");
            assert_eq!(a.body["display_name"], "Andrew Brown");
            assert_eq!(a.body["message"], "See you at the conference, Bayko!");
            // It is stored, last in chat order.
            let list = app.call(ApiEvent::sample("list-messages.json")).await;
            let messages = list.body.as_array().unwrap();
            assert_eq!(messages.last().unwrap()["uuid"], a.body["uuid"]);
        }
        "create-message-new.json" => {
            let mut expected = message_keys();
            expected.insert("message_group_uuid");
            assert_eq!(keys(&a.body), expected);
            assert_ne!(a.body["message_group_uuid"], sample::GROUP);
            assert_ne!(a.body["uuid"], a.body["message_group_uuid"]);
            assert_eq!(a.body["handle"], "andrewbrown", "the sender");
        }
        "create-message-not-member.json" => assert_codes(a, &["generic_403"]),
        "create-message-bad-body.json" => assert_codes(a, &["invalid_json"]),
        "create-message-blank.json" => assert_codes(a, &["message_blank"]),
        "create-message-no-target.json" => assert_codes(a, &["message_group_uuid_blank", "user_reciever_handle_blank"]),
        "create-message-to-self.json" => assert_codes(a, &["cannot_message_self"]),
        "users-short.json" => {
            assert_eq!(keys(&a.body), ["uuid", "handle", "display_name"].into());
            assert_eq!(a.body["handle"], "bayko");
            assert_eq!(a.body["display_name"], "Andrew Bayko");
        }
        "users-short-unknown.json" => assert_codes(a, &["user_not_found"]),
        "message-counter.json" => {
            let n = seed_unread_for_andrew();
            assert_eq!(a.body, json!({"count": n, "conversations": u64::from(n > 0)}));
        }
        "mark-read.json" => {
            assert_eq!(a.body, json!({"message_group_uuid": sample::GROUP, "unread": 0}));
            let counter = app.call(ApiEvent::sample("message-counter.json")).await;
            assert_eq!(counter.body, json!({"count": 0, "conversations": 0}));
        }
        "mark-read-not-member.json" => assert_codes(a, &["generic_403"]),
        "edit-message.json" => {
            let mut expected = message_keys();
            expected.insert("edited_at");
            assert_eq!(keys(&a.body), expected);
            assert_eq!(a.body["message"], "Have you ever watched Babylon 5, the original series?");
            assert_eq!(a.body["handle"], "andrewbrown");
            assert_iso(&a.body["edited_at"]);
        }
        "edit-message-not-sender.json" => assert_codes(a, &["not_message_sender"]),
        "edit-message-blank.json" => assert_codes(a, &["message_blank"]),
        "delete-message.json" => {
            assert_eq!(a.body, json!({"uuid": "01a20c41-f960-7000-85a0-c0ffee000002", "deleted": true}));
        }
        "delete-message-unknown.json" => assert_codes(a, &["message_not_found"]),
        "delete-message-bad-uuid.json" => assert_codes(a, &["invalid_message_uuid"]),
        "block-user.json" => {
            assert_eq!(a.body, json!({"handle": "bayko", "blocked": true}));
            let blocks = app.call(ApiEvent::sample("list-blocks.json")).await;
            assert_eq!(blocks.body[0]["handle"], "bayko", "{blocks:?}");
        }
        "block-user-self.json" => assert_codes(a, &["cannot_block_self"]),
        "unblock-user.json" => assert_eq!(a.body, json!({"handle": "bayko", "blocked": false})),
        "list-blocks.json" => {
            assert_eq!(a.body, json!([]), "londo blocks nobody in the fixture");
            app.call(ApiEvent::sample("block-user.json")).await.ok();
            let blocks = app.call(ApiEvent::sample("list-blocks.json")).await.ok();
            let entry = &blocks.body[0];
            assert_eq!(keys(entry), ["handle", "display_name", "blocked_at"].into());
            assert_eq!(
                (entry["handle"].as_str(), entry["display_name"].as_str()),
                (Some("bayko"), Some("Andrew Bayko"))
            );
            assert_iso(&entry["blocked_at"]);
        }
        "delete-my-account.json" => {
            assert_eq!(a.body, json!({"deleted": true}));
            let after = app.call(ApiEvent::sample("list-blocks.json")).await;
            assert_eq!(after.pair(), (404, json!(["user_not_found"])), "londo is gone");
            let bayko = app.list_message_groups(sample::BAYKO_SUB, "").await.ok();
            let with_londo = bayko.body.as_array().unwrap().iter().find(|g| g["message"] == "Londo, a word?").cloned();
            let with_londo = with_londo.expect("bayko keeps the group");
            assert_eq!(
                (with_londo["handle"].as_str(), with_londo["display_name"].as_str()),
                (Some("deleted"), Some("Deleted user"))
            );
            let items = serde_json::to_string(&app.store.scan_all().await.unwrap()).unwrap();
            for gone in ["londo@example.com", "Londo Mollari", "\"londo\""] {
                assert!(!items.contains(gone), "{gone} is still in the table");
            }
        }
        "export-my-data.json" => {
            assert_eq!(keys(&a.body), ["profile", "message_groups", "messages"].into());
            let profile = &a.body["profile"];
            assert_eq!(
                (profile["handle"].as_str(), profile["email"].as_str()),
                (Some("andrewbrown"), Some("andrew@example.com"))
            );
            assert_eq!(a.body["message_groups"][0]["uuid"], sample::GROUP);
            let messages = a.body["messages"].as_array().unwrap();
            assert_eq!(messages.len(), 20, "the default page");
            assert_eq!(messages[0]["message"], MESSAGES[0].1, "oldest first");
            assert!(messages.iter().all(|m| m["message_group_uuid"] == sample::GROUP));
            assert!(a.next_cursor.is_some(), "more follows");
        }
        other => panic!("events/{other} has no expectation in this test: add one"),
    }
}

/// The frontend's whole flow, through the handlers.
#[tokio::test]
async fn the_frontends_flow_end_to_end() {
    let store = fresh_store().await;
    let app = TestApp::new(store.clone());
    let (ann_sub, ben_sub, eve_sub) =
        (uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string());
    for (sub, handle, name) in
        [(&ann_sub, "ann", "Ann Author"), (&ben_sub, "Ben", "Ben Builder"), (&eve_sub, "eve", "Eve Eavesdropper")]
    {
        triggers::post_confirmation(
            &store,
            events::post_confirmation(sub, handle, name, &format!("{handle}@example.com")),
        )
        .await
        .expect("confirmed");
    }

    // Ann opens "new message" to ben (any case) and sees who that is.
    let short = app.users_short(&ann_sub, "@ben").await;
    assert_eq!(short.status, 200, "{short:?}");
    assert_eq!(
        (short.body["handle"].as_str(), short.body["display_name"].as_str()),
        (Some("Ben"), Some("Ben Builder"))
    );

    // She starts the message group; the answer tells the frontend where to go.
    let started = app.create_message(&ann_sub, &json!({"message": "Hi Ben!", "handle": "ben"})).await;
    assert_eq!(started.status, 200, "{started:?}");
    let group = started.body["message_group_uuid"].as_str().expect("a new message group's uuid").to_owned();

    // Both see the message group, each with the other's name.
    let ann_groups = app.list_message_groups(&ann_sub, "").await.body;
    let ben_groups = app.list_message_groups(&ben_sub, "").await.body;
    assert_eq!(ann_groups[0]["uuid"], group.as_str());
    assert_eq!(
        (ann_groups[0]["handle"].as_str(), ann_groups[0]["display_name"].as_str()),
        (Some("Ben"), Some("Ben Builder"))
    );
    assert_eq!(ben_groups[0]["uuid"], group.as_str());
    assert_eq!(
        (ben_groups[0]["handle"].as_str(), ben_groups[0]["display_name"].as_str()),
        (Some("ann"), Some("Ann Author"))
    );
    assert_eq!(ben_groups[0]["message"], "Hi Ben!");

    // Both reply; replies carry no message_group_uuid (no page reload).
    let r1 = app
        .create_message(&ben_sub, &json!({"message": "Hi Ann, good to hear from you", "message_group_uuid": group}))
        .await;
    assert_eq!(r1.status, 200, "{r1:?}");
    assert!(r1.body.get("message_group_uuid").is_none());
    assert_eq!(r1.body["handle"], "Ben");
    let r2 = app.create_message(&ann_sub, &json!({"message": "Lunch on Friday?", "message_group_uuid": group})).await;
    assert_eq!(r2.status, 200, "{r2:?}");

    // Messages come back oldest first.
    let messages = app.list_messages(&ben_sub, &group, "").await;
    assert_eq!(messages.status, 200);
    let texts: Vec<&str> = messages.body.as_array().unwrap().iter().map(|m| m["message"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Hi Ben!", "Hi Ann, good to hear from you", "Lunch on Friday?"]);
    assert_eq!(app.list_message_groups(&ann_sub, "").await.body[0]["message"], "Lunch on Friday?");

    // Eve can neither read nor write there, and sees no message group.
    assert_error(&app.list_messages(&eve_sub, &group, "").await, 403, &["generic_403"]);
    let before = item_count(&store).await;
    assert_error(
        &app.create_message(&eve_sub, &json!({"message": "let me in", "message_group_uuid": group})).await,
        403,
        &["generic_403"],
    );
    assert_eq!(item_count(&store).await, before);
    assert_eq!(app.list_message_groups(&eve_sub, "").await.body, json!([]));

    // A second "new message group" to the same handle lands in the same group.
    let again = app.create_message(&ann_sub, &json!({"message": "One more thing", "handle": "BEN"})).await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.body["message_group_uuid"], group.as_str());
    assert_eq!(app.list_message_groups(&ann_sub, "").await.body.as_array().unwrap().len(), 1);
    assert_eq!(app.list_messages(&ben_sub, &group, "").await.body.as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn an_account_without_a_profile_and_a_request_without_claims_are_refused() {
    let app = TestApp::new(fresh_store().await);
    let stranger = uuid::Uuid::new_v4().to_string();
    let a = app.list_message_groups(&stranger, "").await;
    assert_error(&a, 404, &["user_not_found"]);
    for sub in [None, Some(""), Some("not a sub#")] {
        let a = app.call(ApiEvent::sample("list-message-groups.json").caller(sub)).await;
        assert_error(&a, 401, &["generic_401"]);
    }
}

#[tokio::test]
async fn list_routes_page_with_limit_and_the_next_cursor_header() {
    let app = TestApp::new(seeded_store().await);
    let first = app.list_messages(sample::ANDREW_SUB, sample::GROUP, "limit=1").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body.as_array().unwrap().len(), 1);
    assert_eq!(first.body[0]["message"], MESSAGES[MESSAGES.len() - 1].1, "the latest message first");
    let cursor = first.next_cursor.expect("more messages exist");
    let second = app
        .call(
            messages_event(sample::GROUP)
                .caller(Some(sample::ANDREW_SUB))
                .query_pairs(&[("limit", "1"), ("cursor", &cursor)]),
        )
        .await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body[0]["message"], MESSAGES[MESSAGES.len() - 2].1, "then the one before");
    assert!(second.next_cursor.is_some());
    // The same cursor, used by bayko for their group list: refused.
    let foreign = app
        .call(
            ApiEvent::sample("list-message-groups.json")
                .caller(Some(sample::BAYKO_SUB))
                .query_pairs(&[("cursor", &cursor)]),
        )
        .await;
    assert_error(&foreign, 400, &["invalid_cursor"]);
}

#[tokio::test]
async fn a_post_confirmation_replayed_leaves_one_profile_and_a_taken_handle_is_refused() {
    let store = fresh_store().await;
    let sub = uuid::Uuid::new_v4().to_string();
    for _ in 0..3 {
        triggers::post_confirmation(&store, events::post_confirmation(&sub, "Zed", "Zed Zero", "zed@example.com"))
            .await
            .expect("accepted");
    }
    assert_eq!(item_count(&store).await, 3, "one profile, one handle claim, one Cognito link");

    // Another account with the same handle in another case: refused at
    // sign-up, and if it raced past that, at confirmation, with no takeover.
    let event = events::pre_sign_up("zed", "Zed Two", "zed2@example.com");
    assert!(triggers::pre_sign_up(&store, event).await.unwrap_err().to_string().contains("already taken"));
    let other = uuid::Uuid::new_v4().to_string();
    let err =
        triggers::post_confirmation(&store, events::post_confirmation(&other, "ZED", "Impostor", "x@example.com"))
            .await;
    assert!(err.unwrap_err().to_string().contains("already taken"));
    assert_eq!(item_count(&store).await, 3);

    // An invalid handle is refused at sign-up with a message for people.
    let event = events::pre_sign_up("@not ok", "Not Ok", "notok@example.com");
    let err = triggers::pre_sign_up(&store, event).await.unwrap_err().to_string();
    assert!(err.starts_with("A handle uses only letters"), "{err}");
}

/// Handles that would let someone speak as the service, and names that read
/// differently from what they are, are refused at sign-up and again at
/// confirmation; nothing is stored for them.
#[tokio::test]
async fn reserved_handles_and_deceptive_names_are_refused_at_sign_up() {
    let store = fresh_store().await;
    for handle in ["admin", "Support", "cruddur", "Ad.Min"] {
        let err = triggers::pre_sign_up(&store, events::pre_sign_up(handle, "Friendly Name", "x@example.com"))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("is reserved"), "{handle}: {err}");
        let sub = uuid::Uuid::new_v4().to_string();
        let err = triggers::post_confirmation(&store, events::post_confirmation(&sub, handle, "Name", "y@example.com"))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("is reserved"), "{handle}: {err}");
    }
    for name in ["\u{202E}nworb werdna", "Andrew\u{200B}Brown"] {
        let err = triggers::pre_sign_up(&store, events::pre_sign_up("honest", name, "h@example.com"))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("invisible formatting characters"), "{name:?}: {err}");
    }
    assert_eq!(item_count(&store).await, 0, "nothing stored");
}

/// The `$connect` authorizer with the pool's keys out of reach: an error
/// (API Gateway answers 500, a server problem the client retries), never a
/// Deny (403 tells the user their token is bad). A malformed token is still
/// a Deny, decided before any key is needed.
#[tokio::test]
async fn the_authorizer_fails_as_a_server_error_when_the_pools_keys_cannot_be_fetched() {
    use base64::Engine;
    let store = seeded_store().await;
    let unreachable = cruddur_core::auth::VerifierSettings {
        issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_CRUDDUR01".into(),
        audiences: vec!["client".into()],
        jwks_url: "http://127.0.0.1:9/.well-known/jwks.json".into(),
    };
    let verifier = Verifier::new(unreachable);
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let token = format!(
        "{}.{}.c2ln",
        b64(json!({"alg": "RS256", "kid": "some-key"})),
        b64(json!({"sub": sample::ANDREW_SUB, "token_use": "access"}))
    );
    let connection = events::WebSocketConnection { id: "Kx2ZcdzEIAMCJ7A=", domain: "local", source_ip: "127.0.0.1" };
    let decided = realtime::authorize(&verifier, &store, events::websocket_authorizer(&connection, Some(&token))).await;
    assert!(matches!(decided, Err(cruddur_core::Error::Unavailable { .. })), "{decided:?}");
    let garbage = realtime::authorize(&verifier, &store, events::websocket_authorizer(&connection, Some("x.y"))).await;
    let effect = &garbage.expect("a decision").policy_document.statement[0].effect;
    assert!(matches!(effect, IamPolicyEffect::Deny));
}
