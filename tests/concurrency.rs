//! Concurrency through the real handlers: many requests at once from both
//! members, racing message group starts, a trigger delivered many times at once.

use std::collections::HashSet;

use cruddur_core::triggers;
use cruddur_devkit::events;
use cruddur_devkit::fixtures::{fresh_store, item_count, sample, sample_app, whole_message_group};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn a_hundred_concurrent_replies_from_both_members_are_all_stored_and_summaries_show_the_last() {
    let app = std::sync::Arc::new(sample_app().await);
    let store = app.store.clone();
    let before = store
        .group_messages(cruddur_core::domain::GroupUuid::parse(sample::GROUP).unwrap(), Default::default())
        .await
        .unwrap();
    assert!(!before.items.is_empty());
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let app = app.clone();
            let sub = if i % 2 == 0 { sample::ANDREW_SUB } else { sample::BAYKO_SUB };
            tokio::spawn(async move { app.reply(sub, &format!("concurrent {i}")).await.ok().body })
        })
        .collect();
    let mut sent = Vec::new();
    for t in tasks {
        sent.push(t.await.unwrap());
    }
    let group = cruddur_core::domain::GroupUuid::parse(sample::GROUP).unwrap();
    let stored = whole_message_group(&store, group).await;
    let ids: HashSet<String> = stored.iter().map(|m| m.uuid.to_string()).collect();
    assert_eq!(stored.len(), 24 + 100, "every message stored, none overwritten");
    assert!(sent.iter().all(|m| ids.contains(m["uuid"].as_str().unwrap())));
    let latest = stored.iter().map(|m| m.key()).max().unwrap();
    for handle in ["andrewbrown", "bayko"] {
        let user = store.user_by_handle(&cruddur_devkit::fixtures::handle(handle)).await.unwrap().unwrap();
        let row = store.message_group(user.uuid, group).await.unwrap().unwrap();
        assert_eq!(row.last_activity, latest, "{handle}'s summary shows the last message by time");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn twenty_concurrent_new_message_groups_between_the_same_two_users_make_one_group() {
    let app = std::sync::Arc::new(sample_app().await);
    let store = app.store.clone();
    let londo = sample::LONDO_SUB;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let app = app.clone();
            let (sub, to) = if i % 2 == 0 { (sample::ANDREW_SUB, "londo") } else { (londo, "andrewbrown") };
            tokio::spawn(async move {
                app.create_message(sub, &json!({"message": format!("hello {i}"), "handle": to})).await.ok().body
            })
        })
        .collect();
    let mut groups = HashSet::new();
    for t in tasks {
        groups.insert(t.await.unwrap()["message_group_uuid"].as_str().unwrap().to_owned());
    }
    assert_eq!(groups.len(), 1, "one group: {groups:?}");
    let group = cruddur_core::domain::GroupUuid::parse(groups.iter().next().unwrap()).unwrap();
    let page = store
        .group_messages(
            group,
            cruddur_core::domain::PageRequest {
                limit: cruddur_core::domain::PageLimit::new(100).unwrap(),
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn a_post_confirmation_delivered_ten_times_at_once_makes_one_profile() {
    let store = fresh_store().await;
    let sub = uuid::Uuid::new_v4().to_string();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (store, sub) = (store.clone(), sub.clone());
            tokio::spawn(async move {
                triggers::post_confirmation(
                    &store,
                    events::post_confirmation(&sub, "Twin", "Twin Peaks", "twin@example.com"),
                )
                .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().expect("every delivery succeeds");
    }
    assert_eq!(item_count(&store).await, 3, "one profile, one handle claim, one Cognito link");
}

/// Ten people sign up with one handle at the same moment: PreSignUp lets
/// exactly one through (it reserves the handle in DynamoDB), so no second
/// account can be confirmed and then find its handle taken, left without a
/// profile. The one let through is confirmed and gets its profile.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_sign_ups_of_one_handle_let_exactly_one_through() {
    let store = fresh_store().await;
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let email = format!("racer{i}@example.com");
                let event = events::pre_sign_up("Racer", "Racer Person", &email);
                triggers::pre_sign_up(&store, event).await.map(|_| email)
            })
        })
        .collect();
    let mut passed = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(email) => passed.push(email),
            Err(e) => assert_eq!(e.to_string(), "The handle Racer is already taken. Please choose another one."),
        }
    }
    assert_eq!(passed.len(), 1, "exactly one sign-up holds the handle: {passed:?}");
    let sub = uuid::Uuid::new_v4().to_string();
    triggers::post_confirmation(&store, events::post_confirmation(&sub, "Racer", "Racer Person", &passed[0]))
        .await
        .expect("the one let through is confirmed");
    let racer = store.user_by_handle(&cruddur_devkit::fixtures::handle("racer")).await.unwrap().unwrap();
    assert_eq!(racer.handle.as_str(), "Racer");
    // The reservation is released with the confirmation: nothing but the profile's 3 items.
    assert_eq!(item_count(&store).await, 3);
    // And the handle stays taken for everyone else.
    let late = triggers::pre_sign_up(&store, events::pre_sign_up("racer", "Late", "late@example.com")).await;
    assert_eq!(
        late.expect_err("the handle is taken").to_string(),
        "The handle racer is already taken. Please choose another one."
    );
}

/// One recipient, 100 senders in 100 conversations, all sending at once, 3
/// rounds, while the recipient reads (and so marks read) conversations:
/// every send succeeds, every message is stored once, and afterwards the
/// recipient's totals are exactly the sum of their rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn a_hundred_senders_to_one_recipient_at_once_all_succeed_and_the_counts_stay_exact() {
    use cruddur_core::domain::{PageRequest, Timestamp};
    use cruddur_devkit::fixtures::{text, user};
    let store = fresh_store().await;
    let recipient = user(&store, "recipient").await;
    let mut groups = Vec::new();
    for i in 0..100 {
        let sender = user(&store, &format!("sender{i}")).await;
        let first =
            store.start_message_group(&sender, &recipient.handle, text("hello"), Timestamp::now()).await.unwrap();
        groups.push((sender, first.group));
    }
    let groups = std::sync::Arc::new(groups);
    for round in 0..3 {
        let sends: Vec<_> = (0..100)
            .map(|i| {
                let (store, groups) = (store.clone(), groups.clone());
                tokio::spawn(async move {
                    let (sender, group) = &groups[i];
                    store.send_reply(sender, *group, text(&format!("round {round} from {i}")), Timestamp::now()).await
                })
            })
            .collect();
        let reads: Vec<_> = (0..10)
            .map(|i| {
                let (store, groups, reader) = (store.clone(), groups.clone(), recipient.uuid);
                tokio::spawn(async move {
                    store.list_messages(reader, groups[i * 10 + round].1, PageRequest::default()).await.map(|_| ())
                })
            })
            .collect();
        for (i, send) in sends.into_iter().enumerate() {
            send.await.unwrap().unwrap_or_else(|e| panic!("round {round}, sender {i}: {e}"));
        }
        for read in reads {
            read.await.unwrap().unwrap();
        }
    }
    let mut unread_sum = 0u64;
    let mut unread_groups = 0u64;
    for (_, group) in groups.iter() {
        let messages = whole_message_group(&store, *group).await;
        assert_eq!(messages.len(), 4, "each message stored once");
        let row = store.message_group(recipient.uuid, *group).await.unwrap().unwrap();
        unread_sum += u64::from(row.unread);
        unread_groups += u64::from(row.unread > 0);
    }
    let counts = store.unread_counts(recipient.uuid).await.unwrap();
    assert_eq!((counts.count, counts.conversations), (unread_sum, unread_groups), "totals are the rows' sum");
    assert!(unread_sum > 0);
}
