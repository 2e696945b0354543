//! Exporting my data (issue 30): a user's profile, message groups and every
//! message they sent or received, across bounded pages, in order, and
//! nothing of a conversation they are not in.

use std::collections::BTreeMap;

use cruddur_core::domain::{Cursor, DisplayName, Email, GroupUuid, NewProfile, Timestamp, UserUuid};
use cruddur_devkit::client::TestApp;
use cruddur_devkit::fixtures::{fresh_store, handle, sample, sample_fixture, text};
use serde_json::{json, Value};

/// Every page of `sub`'s export at `limit` messages a page.
async fn whole_export(app: &TestApp, sub: &str, limit: u8) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut query = format!("limit={limit}");
    loop {
        let page = app.export(sub, &query).await.ok();
        assert!(page.body["messages"].as_array().unwrap().len() <= usize::from(limit), "a page is bounded");
        pages.push(page.body);
        match page.next_cursor {
            Some(cursor) => query = format!("limit={limit}&cursor={cursor}"),
            None => return pages,
        }
        assert!(pages.len() < 100, "the export ends");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_with_250_messages_in_3_groups_gets_every_one_across_pages_in_order_and_nothing_else() {
    let store = fresh_store().await;
    sample_fixture(&store).await;
    let app = TestApp::new(store.clone());
    let andrew = store.user_by_handle(&handle("andrewbrown")).await.unwrap().unwrap();
    let bayko = store.user_by_handle(&handle("bayko")).await.unwrap().unwrap();
    let londo = store.user_by_handle(&handle("londo")).await.unwrap().unwrap();
    let sample_group = GroupUuid::parse(sample::GROUP).unwrap();
    let seeded = cruddur_devkit::fixtures::whole_message_group(&store, sample_group).await.len();
    // Three groups of andrew's: the sample one (with bayko), londo's, a
    // stranger's; and one between bayko and londo that andrew is not in.
    // Zed's uuid is smaller than andrew's: andrew is the group's member b
    // there (a in the others), so both member indexes are walked.
    let zed = store
        .create_profile_as(
            UserUuid::parse("00000000-0000-4000-8000-000000000001").unwrap(),
            NewProfile {
                handle: handle("zed"),
                display_name: DisplayName::parse("Zed").unwrap(),
                email: Email::parse("zed@example.com").unwrap(),
                cognito_sub: None,
            },
            Timestamp::now(),
        )
        .await
        .unwrap()
        .summary();
    let mut sent: BTreeMap<GroupUuid, Vec<String>> = BTreeMap::new();
    let start = |from: &cruddur_core::domain::UserSummary, to: &str, n: usize| {
        let (store, from, to) = (store.clone(), from.clone(), to.to_owned());
        async move {
            store.start_message_group(&from, &handle(&to), text(&format!("hello {n}")), Timestamp::now()).await.unwrap()
        }
    };
    let with_londo = start(&andrew, "londo", 0).await;
    let with_zed = start(&zed, "andrewbrown", 0).await;
    let not_his = start(&bayko, "londo", 0).await;
    store.send_reply(&londo, not_his.group, text("a secret between bayko and londo"), Timestamp::now()).await.unwrap();
    sent.entry(with_londo.group).or_default().push("hello 0".into());
    sent.entry(with_zed.group).or_default().push("hello 0".into());
    let total_new = 250 - seeded - 2;
    for n in 0..total_new {
        let (group, sender) = match n % 3 {
            0 => (sample_group, if n % 2 == 0 { &andrew } else { &bayko }),
            1 => (with_londo.group, if n % 2 == 0 { &londo } else { &andrew }),
            _ => (with_zed.group, if n % 2 == 0 { &andrew } else { &zed }),
        };
        let body = format!("message {n}");
        store.send_reply(sender, group, text(&body), Timestamp::now()).await.unwrap();
        if group != sample_group {
            sent.entry(group).or_default().push(body);
        }
    }

    let pages = whole_export(&app, sample::ANDREW_SUB, 40).await;
    assert!(pages.len() >= 7, "250 messages at 40 a page: {} pages", pages.len());
    let profile = &pages[0]["profile"];
    assert_eq!(
        (profile["handle"].as_str(), profile["email"].as_str()),
        (Some("andrewbrown"), Some("andrew@example.com"))
    );
    assert!(pages[1..].iter().all(|p| p.get("profile").is_none()), "the profile once");

    let groups: Vec<String> = pages
        .iter()
        .flat_map(|p| p["message_groups"].as_array().unwrap().iter().map(|g| g["uuid"].as_str().unwrap().to_owned()))
        .collect();
    let mut expected: Vec<String> =
        [sample_group, with_londo.group, with_zed.group].iter().map(|g| g.to_string()).collect();
    let mut listed = groups.clone();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected, "each of andrew's groups once, no other");

    let messages: Vec<&Value> = pages.iter().flat_map(|p| p["messages"].as_array().unwrap()).collect();
    assert_eq!(messages.len(), 250, "every message andrew sent or received");
    let mut by_group: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for m in &messages {
        by_group.entry(m["message_group_uuid"].as_str().unwrap().to_owned()).or_default().push(m);
    }
    for (group, texts) in &sent {
        let got: Vec<&str> = by_group[&group.to_string()].iter().map(|m| m["message"].as_str().unwrap()).collect();
        assert_eq!(got, texts.iter().map(String::as_str).collect::<Vec<_>>(), "in order, none missing: {group}");
    }
    for group in by_group.values() {
        let times: Vec<&str> = group.iter().map(|m| m["created_at"].as_str().unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    }
    let all = serde_json::to_string(&pages).unwrap();
    assert!(!all.contains("a secret between bayko and londo"), "nothing of a conversation he is not in");
    assert!(!all.contains(&not_his.group.to_string()));
}

#[tokio::test]
async fn a_cursor_of_someone_elses_export_or_group_is_refused() {
    let store = fresh_store().await;
    sample_fixture(&store).await;
    let app = TestApp::new(store.clone());
    let first = app.export(sample::ANDREW_SUB, "limit=5").await.ok();
    let cursor = first.next_cursor.expect("more than 5 messages");
    let theirs = app.export(sample::LONDO_SUB, &format!("cursor={cursor}")).await;
    assert_eq!(theirs.pair(), (400, json!(["invalid_cursor"])), "andrew's cursor is not londo's");
    // Londo's own cursor, forged to point into andrew's group with bayko.
    let londo = store.user_by_handle(&handle("londo")).await.unwrap().unwrap();
    let forged = Cursor::Export {
        owner: londo.uuid,
        b: false,
        group: Some(GroupUuid::parse(sample::GROUP).unwrap()),
        after: None,
    }
    .encode();
    let answer = app.export(sample::LONDO_SUB, &format!("cursor={forged}")).await;
    assert_eq!(answer.pair(), (400, json!(["invalid_cursor"])), "a group he is not in");
}
