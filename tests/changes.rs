//! Editing and deleting a sent message, and read markers: only the sender
//! changes a message; a delete removes its text from every item; unread
//! counts stay exact when an unread message is deleted, under concurrent
//! sends, reads and deletes; summaries follow a change of the latest message
//! and never go backwards.

use std::sync::Arc;

use cruddur_core::domain::{Content, GroupUuid, Message, MessageKey, MessageUuid, Timestamp};
use cruddur_devkit::client::TestApp;
use cruddur_devkit::fixtures::{sample, sample_app, text, whole_message_group};
use serde_json::{json, Value};

fn group() -> GroupUuid {
    GroupUuid::parse(sample::GROUP).unwrap()
}

async fn counter(app: &TestApp, sub: &str) -> (u64, u64) {
    let a = app.message_counter(sub).await.ok();
    (a.body["count"].as_u64().unwrap(), a.body["conversations"].as_u64().unwrap())
}

/// `sub`'s item for the sample group in their list.
async fn summary(app: &TestApp, sub: &str) -> Value {
    let list = app.list_message_groups(sub, "").await.ok();
    list.body.as_array().unwrap().iter().find(|g| g["uuid"] == sample::GROUP).cloned().expect("the sample group")
}

async fn send(app: &TestApp, sub: &str, text: &str) -> String {
    app.reply(sub, text).await.ok().body["uuid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn only_the_sender_edits_or_deletes_and_the_other_member_sees_both() {
    let app = sample_app().await;
    let uuid = send(&app, sample::ANDREW_SUB, "the first draft").await;

    // Not the sender: 403, nothing changed; not a member: 403 as for reading.
    let theirs = app.edit_message(sample::BAYKO_SUB, sample::GROUP, &uuid, "bayko's words").await;
    assert_eq!(theirs.pair(), (403, json!(["not_message_sender"])));
    let theirs = app.delete_message(sample::BAYKO_SUB, sample::GROUP, &uuid).await;
    assert_eq!(theirs.pair(), (403, json!(["not_message_sender"])));
    let stranger = app.delete_message(sample::LONDO_SUB, sample::GROUP, &uuid).await;
    assert_eq!(stranger.pair(), (403, json!(["generic_403"])));

    let edited = app.edit_message(sample::ANDREW_SUB, sample::GROUP, &uuid, "  the final text ").await.ok();
    assert_eq!(edited.body["message"], "the final text", "trimmed as a send is");
    assert!(edited.body["edited_at"].is_string(), "{:?}", edited.body);
    let page = app.list_messages(sample::BAYKO_SUB, sample::GROUP, "").await.ok();
    let last = page.body.as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["uuid"].as_str(), last["message"].as_str()), (Some(uuid.as_str()), Some("the final text")));
    assert_eq!(last["edited_at"], edited.body["edited_at"]);
    assert_eq!(summary(&app, sample::BAYKO_SUB).await["message"], "the final text", "the latest: the summary follows");
    assert_eq!(summary(&app, sample::ANDREW_SUB).await["message"], "the final text");

    let deleted = app.delete_message(sample::ANDREW_SUB, sample::GROUP, &uuid).await;
    assert_eq!(deleted.pair(), (200, json!({"uuid": uuid, "deleted": true})));
    let again = app.delete_message(sample::ANDREW_SUB, sample::GROUP, &uuid).await;
    assert_eq!(again.pair(), deleted.pair(), "a second delete answers the same");
    let page = app.list_messages(sample::BAYKO_SUB, sample::GROUP, "").await.ok();
    let tombstone = page.body.as_array().unwrap().last().unwrap().clone();
    assert_eq!(tombstone["uuid"], uuid.as_str(), "it keeps its place");
    assert_eq!((tombstone["message"].clone(), tombstone["deleted"].clone()), (json!(""), json!(true)));
    assert!(tombstone.get("edited_at").is_none());
    for sub in [sample::ANDREW_SUB, sample::BAYKO_SUB] {
        assert_eq!(summary(&app, sub).await["message"], "", "a summary never shows a deleted message's text");
    }
    let late = app.edit_message(sample::ANDREW_SUB, sample::GROUP, &uuid, "back from the dead").await;
    assert_eq!(late.pair(), (409, json!(["message_deleted"])));

    // The text is gone from the table, not hidden.
    let items = serde_json::to_string(&app.store.scan_all().await.unwrap()).unwrap();
    for gone in ["the first draft", "the final text"] {
        assert!(!items.contains(gone), "{gone:?} is still in the table");
    }

    // Unknown and malformed ids.
    let unknown = MessageUuid::for_time(Timestamp::now()).to_string();
    let missing = app.delete_message(sample::ANDREW_SUB, sample::GROUP, &unknown).await;
    assert_eq!(missing.pair(), (404, json!(["message_not_found"])));
    let missing = app.edit_message(sample::ANDREW_SUB, sample::GROUP, &uuid::Uuid::new_v4().to_string(), "x").await;
    assert_eq!(missing.pair(), (404, json!(["message_not_found"])), "a uuid without a time: searched, not found");
    let bad = app.delete_message(sample::ANDREW_SUB, sample::GROUP, "nope").await;
    assert_eq!(bad.pair(), (400, json!(["invalid_message_uuid"])));
}

#[tokio::test]
async fn an_edit_keeps_the_send_rules_and_an_older_message_leaves_the_summary_alone() {
    let app = sample_app().await;
    let older = send(&app, sample::ANDREW_SUB, "older").await;
    send(&app, sample::BAYKO_SUB, "newer").await;
    let blank = app.edit_message(sample::ANDREW_SUB, sample::GROUP, &older, "   ").await;
    assert_eq!(blank.pair(), (422, json!(["message_blank"])));
    let long = app.edit_message(sample::ANDREW_SUB, sample::GROUP, &older, &"x".repeat(1025)).await;
    assert_eq!(long.pair(), (422, json!(["message_exceed_max_chars_1024"])));
    app.edit_message(sample::ANDREW_SUB, sample::GROUP, &older, "older, edited").await.ok();
    assert_eq!(summary(&app, sample::ANDREW_SUB).await["message"], "newer", "not the latest: no summary change");
    app.delete_message(sample::ANDREW_SUB, sample::GROUP, &older).await.ok();
    assert_eq!(summary(&app, sample::BAYKO_SUB).await["message"], "newer");
    // A message of the seed (its uuid carries its time) and a message stored
    // before uuids did (found by its group's keys) are both editable.
    let seeded = cruddur_devkit::seed::sample_message_uuid(0).unwrap().0.to_string();
    app.edit_message(sample::ANDREW_SUB, sample::GROUP, &seeded, "edited seed").await.ok();
    let andrew = app.store.user_by_handle(&cruddur_devkit::fixtures::handle("andrewbrown")).await.unwrap().unwrap();
    let an_hour_ago = Timestamp::from_unix_micros(Timestamp::now().unix_micros() - 3_600_000_000).unwrap();
    let legacy = Message {
        uuid: MessageUuid::random(),
        group: group(),
        sender: andrew,
        content: Content::Text(text("from before")),
        created_at: an_hour_ago,
        edited_at: None,
    };
    let item = cruddur_core::store::codec::message_to_item(&legacy).unwrap();
    app.store.client().put_item().table_name(app.store.table()).set_item(Some(item)).send().await.unwrap();
    let edited = app.edit_message(sample::ANDREW_SUB, sample::GROUP, &legacy.uuid.to_string(), "after").await.ok();
    assert_eq!(
        (edited.body["message"].clone(), edited.body["created_at"].clone()),
        (json!("after"), json!(an_hour_ago.to_string()))
    );
    let page = app.list_messages(sample::BAYKO_SUB, sample::GROUP, "limit=100").await.ok();
    assert!(page
        .body
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["uuid"] == legacy.uuid.to_string().as_str() && m["message"] == "after"));
}

#[tokio::test]
async fn deleting_an_unread_message_takes_it_off_the_count_and_a_read_one_does_not() {
    let app = sample_app().await;
    app.mark_read(sample::BAYKO_SUB, sample::GROUP).await.ok();
    let a = send(&app, sample::ANDREW_SUB, "one").await;
    let b = send(&app, sample::ANDREW_SUB, "two").await;
    assert_eq!(counter(&app, sample::BAYKO_SUB).await, (2, 1));
    app.delete_message(sample::ANDREW_SUB, sample::GROUP, &a).await.ok();
    assert_eq!(counter(&app, sample::BAYKO_SUB).await, (1, 1), "an unread message deleted: one less");
    app.delete_message(sample::ANDREW_SUB, sample::GROUP, &a).await.ok();
    assert_eq!(counter(&app, sample::BAYKO_SUB).await, (1, 1), "deleted twice, counted off once");
    app.delete_message(sample::ANDREW_SUB, sample::GROUP, &b).await.ok();
    assert_eq!(counter(&app, sample::BAYKO_SUB).await, (0, 0), "none left: out of the unread index");
    assert_eq!(summary(&app, sample::BAYKO_SUB).await["unread"], 0);

    let c = send(&app, sample::ANDREW_SUB, "three").await;
    app.mark_read(sample::BAYKO_SUB, sample::GROUP).await.ok();
    app.delete_message(sample::ANDREW_SUB, sample::GROUP, &c).await.ok();
    assert_eq!(counter(&app, sample::BAYKO_SUB).await, (0, 0), "a read message deleted changes no count");
}

/// Bayko's unread count as the messages say: andrewbrown's live messages
/// after bayko's read marker.
async fn unread_as_the_history_says(app: &TestApp) -> u64 {
    let andrew = app.store.user_by_handle(&cruddur_devkit::fixtures::handle("andrewbrown")).await.unwrap().unwrap();
    let view = app.store.message_group(andrew.uuid, group()).await.unwrap().unwrap();
    let marker: Option<MessageKey> = view.other_read;
    whole_message_group(&app.store, group())
        .await
        .iter()
        .filter(|m| m.sender.uuid == andrew.uuid && !m.content.is_deleted())
        .filter(|m| marker.is_none_or(|read| m.key() > read))
        .count() as u64
}

#[tokio::test(flavor = "multi_thread")]
async fn unread_counts_stay_exact_when_unread_messages_are_deleted_during_sends_and_reads() {
    let app = Arc::new(sample_app().await);
    app.mark_read(sample::BAYKO_SUB, sample::GROUP).await.ok();
    let mut first = Vec::new();
    for i in 0..12 {
        first.push(send(&app, sample::ANDREW_SUB, &format!("to delete {i}")).await);
    }
    // Deletes of unread messages while andrewbrown keeps sending; then the
    // same with bayko reading as well.
    for (phase, uuids) in first.chunks(6).enumerate() {
        let mut tasks = Vec::new();
        for uuid in uuids {
            let (app, uuid) = (app.clone(), uuid.clone());
            tasks.push(tokio::spawn(async move {
                app.delete_message(sample::ANDREW_SUB, sample::GROUP, &uuid).await.ok();
            }));
        }
        for i in 0..6 {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                send(&app, sample::ANDREW_SUB, &format!("kept {phase}.{i}")).await;
            }));
        }
        for i in 0..(phase * 4) {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                if i % 2 == 0 {
                    app.mark_read(sample::BAYKO_SUB, sample::GROUP).await.ok();
                } else {
                    app.list_messages(sample::BAYKO_SUB, sample::GROUP, "").await.ok();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let expected = unread_as_the_history_says(&app).await;
        let row = summary(&app, sample::BAYKO_SUB).await["unread"].as_u64().unwrap();
        assert_eq!(row, expected, "phase {phase}: the count is andrewbrown's live messages after bayko's marker");
        if phase == 0 {
            assert_eq!(expected, 12, "the six not deleted yet and the six kept");
        }
    }
    let expected = unread_as_the_history_says(&app).await;
    let row = summary(&app, sample::BAYKO_SUB).await["unread"].as_u64().unwrap();
    assert_eq!(row, expected, "the group's count is andrewbrown's live messages after bayko's marker");
    assert_eq!(counter(&app, sample::BAYKO_SUB).await, (expected, u64::from(expected > 0)), "and the counter");
    // What is left unread reads down to zero.
    app.mark_read(sample::BAYKO_SUB, sample::GROUP).await.ok();
    assert_eq!(counter(&app, sample::BAYKO_SUB).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn summaries_follow_a_change_of_the_latest_message_and_never_go_backwards() {
    let app = Arc::new(sample_app().await);
    for round in 0..6 {
        let latest = send(&app, sample::ANDREW_SUB, &format!("latest {round}")).await;
        // A change of the latest message races a newer message.
        let change = {
            let app = app.clone();
            tokio::spawn(async move {
                if round % 2 == 0 {
                    app.edit_message(sample::ANDREW_SUB, sample::GROUP, &latest, "edited").await.ok();
                } else {
                    app.delete_message(sample::ANDREW_SUB, sample::GROUP, &latest).await.ok();
                }
            })
        };
        let newer = {
            let app = app.clone();
            tokio::spawn(async move { send(&app, sample::BAYKO_SUB, &format!("newer {round}")).await })
        };
        change.await.unwrap();
        let newer = newer.await.unwrap();
        for sub in [sample::ANDREW_SUB, sample::BAYKO_SUB] {
            let s = summary(&app, sub).await;
            assert_eq!(s["message"], format!("newer {round}"), "round {round}: the newer message, whatever came first");
        }
        let stored = whole_message_group(&app.store, group()).await;
        let max = stored.iter().map(|m| m.key()).max().unwrap();
        assert_eq!(max.uuid.to_string(), newer);
    }
    // Edit the latest now: the summary follows.
    let latest = send(&app, sample::BAYKO_SUB, "last words").await;
    app.edit_message(sample::BAYKO_SUB, sample::GROUP, &latest, "last words, edited").await.ok();
    assert_eq!(summary(&app, sample::ANDREW_SUB).await["message"], "last words, edited");
}

#[tokio::test]
async fn a_read_moves_the_marker_the_other_member_sees() {
    let app = sample_app().await;
    let before = summary(&app, sample::ANDREW_SUB).await["other_read_at"].clone();
    let sent = app.reply(sample::ANDREW_SUB, "seen?").await.ok();
    assert_eq!(summary(&app, sample::ANDREW_SUB).await["other_read_at"], before, "not read yet");
    app.list_messages(sample::BAYKO_SUB, sample::GROUP, "").await.ok();
    assert_eq!(summary(&app, sample::ANDREW_SUB).await["other_read_at"], sent.body["created_at"], "read up to it");
    // Bayko's view shows andrewbrown's marker: sending read bayko's
    // messages, up to the newest, his own.
    let mine = summary(&app, sample::BAYKO_SUB).await;
    assert_eq!(mine["other_read_at"], sent.body["created_at"], "{mine}");
}
