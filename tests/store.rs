//! The data model's guarantees (../shared/data-model.md), each checked
//! against DynamoDB Local through the real SDK client.

use std::collections::HashSet;

use cruddur_core::domain::{
    CognitoSub, Cursor, DisplayName, Email, GroupUuid, Message, MessageKey, MessageUuid, NewProfile, PageLimit,
    PageRequest, UserSummary,
};
use cruddur_core::store::{LinkOutcome, Registration};
use cruddur_core::{Error, Store};
use cruddur_devkit::fixtures::{at, fresh_store, handle, item_count, text, ts, user};

fn page(limit: u8, cursor: Option<Cursor>) -> PageRequest {
    PageRequest { limit: PageLimit::new(limit).unwrap(), cursor }
}

async fn all_messages(store: &Store, reader: &UserSummary, group: GroupUuid) -> Vec<Message> {
    store.list_messages(reader.uuid, group, page(100, None)).await.unwrap().items
}

/// Two users with a message group started by `a` at time `t`.
async fn two_members(store: &Store, t: i64) -> (UserSummary, UserSummary, GroupUuid) {
    let a = user(store, &format!("a{}", &uuid::Uuid::new_v4().simple().to_string()[..8])).await;
    let b = user(store, &format!("b{}", &uuid::Uuid::new_v4().simple().to_string()[..8])).await;
    let first = store.start_message_group(&a, &b.handle, text("hello"), at(t)).await.unwrap();
    (a, b, first.group)
}

// Guarantee 3: a message is never lost or overwritten.
#[tokio::test]
async fn messages_with_the_same_timestamp_are_both_kept() {
    let store = fresh_store().await;
    let (a, b, group) = two_members(&store, 0).await;
    let same = at(60);
    let m1 = store.send_reply(&a, group, text("first at the same time"), same).await.unwrap();
    let m2 = store.send_reply(&b, group, text("second at the same time"), same).await.unwrap();
    assert_eq!(m1.created_at, m2.created_at);

    let messages = all_messages(&store, &a, group).await;
    let texts: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(messages.len(), 3, "{texts:?}");
    assert!(texts.contains(&"first at the same time") && texts.contains(&"second at the same time"));
}

// Guarantee 4: both summaries change with the message, in one transaction.
#[tokio::test]
async fn a_reply_updates_both_members_group_rows() {
    let store = fresh_store().await;
    let (a, b, group) = two_members(&store, 0).await;
    let reply = store.send_reply(&b, group, text("hi back"), at(30)).await.unwrap();

    for (owner, other) in [(&a, &b), (&b, &a)] {
        let row = store.message_group(owner.uuid, group).await.unwrap().expect("member row");
        assert_eq!(row.last_message.as_str(), "hi back");
        assert_eq!(row.last_activity, reply.key());
        assert_eq!(&row.other, other, "each member sees the other one");
    }
}

// Guarantee 4: a summary never goes backwards; the older message is stored.
#[tokio::test]
async fn a_delayed_older_message_is_stored_without_rewinding_summaries() {
    let store = fresh_store().await;
    let (a, b, group) = two_members(&store, 0).await;
    let newer = store.send_reply(&a, group, text("newer"), at(100)).await.unwrap();
    let older = store.send_reply(&b, group, text("older, delayed"), at(50)).await.unwrap();

    let messages = all_messages(&store, &a, group).await;
    assert_eq!(messages.len(), 3);
    assert!(messages.iter().any(|m| m.uuid == older.uuid));
    assert_eq!(messages.last().unwrap().uuid, newer.uuid, "chat order is by time");
    for owner in [&a, &b] {
        let row = store.message_group(owner.uuid, group).await.unwrap().unwrap();
        assert_eq!(row.last_message.as_str(), "newer");
        assert_eq!(row.last_activity, newer.key());
    }
}

// Guarantee 7: membership is checked by the database, atomically.
#[tokio::test]
async fn a_failed_membership_condition_writes_nothing() {
    let store = fresh_store().await;
    let (a, b, group) = two_members(&store, 0).await;
    let mallory = user(&store, "mallory").await;
    let before = item_count(&store).await;

    // Straight to the transaction, as if a membership read had been skipped
    // or raced: DynamoDB's condition refuses it, and nothing is written.
    let err = store.append_message(&mallory, group, &a, text("let me in"), at(10)).await.unwrap_err();
    assert!(matches!(err, Error::NotMember), "{err:?}");
    // The same through the public reply path.
    let err = store.send_reply(&mallory, group, text("let me in"), at(11)).await.unwrap_err();
    assert!(matches!(err, Error::NotMember), "{err:?}");

    assert_eq!(item_count(&store).await, before, "no item may be written");
    assert_eq!(all_messages(&store, &b, group).await.len(), 1);
    for owner in [&a, &b] {
        let row = store.message_group(owner.uuid, group).await.unwrap().unwrap();
        assert_eq!(row.last_message.as_str(), "hello");
    }
}

#[tokio::test]
async fn only_members_read_a_group_and_unknown_groups_are_not_found() {
    let store = fresh_store().await;
    let (a, _b, group) = two_members(&store, 0).await;
    let mallory = user(&store, "mallory").await;

    let err = store.list_messages(mallory.uuid, group, page(20, None)).await.unwrap_err();
    assert!(matches!(err, Error::NotMember), "{err:?}");
    let err = store.list_messages(a.uuid, GroupUuid::random(), page(20, None)).await.unwrap_err();
    assert!(matches!(err, Error::GroupNotFound), "{err:?}");
    let err = store.send_reply(&a, GroupUuid::random(), text("anyone?"), at(5)).await.unwrap_err();
    assert!(matches!(err, Error::GroupNotFound), "{err:?}");
    assert!(store.list_message_groups(mallory.uuid, page(20, None)).await.unwrap().items.is_empty());
}

// Guarantee 5: newest first, every year.
#[tokio::test]
async fn message_groups_from_earlier_years_are_listed_newest_first() {
    let store = fresh_store().await;
    let me = user(&store, "me").await;
    let mut expected = Vec::new();
    for (name, when) in [
        ("old2019", "2019-05-01T10:00:00.000000Z"),
        ("new2026", "2026-11-20T08:00:00.000000Z"),
        ("mid2023", "2023-12-31T23:59:59.999999Z"),
        ("jan2026", "2026-01-01T00:00:00.000000Z"),
    ] {
        let other = user(&store, name).await;
        let m = store.start_message_group(&me, &other.handle, text(name), ts(when)).await.unwrap();
        expected.push((when, m.group, name));
    }
    expected.sort_by(|x, y| y.0.cmp(x.0));

    let listed = store.list_message_groups(me.uuid, page(20, None)).await.unwrap();
    let got: Vec<(GroupUuid, &str)> = listed.items.iter().map(|g| (g.uuid, g.other.handle.as_str())).collect();
    let want: Vec<(GroupUuid, &str)> = expected.iter().map(|(_, g, n)| (*g, *n)).collect();
    assert_eq!(got, want);
    assert!(listed.next.is_none());
}

// Guarantee 6: one message group per pair, even under a race.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_starts_between_the_same_pair_make_one_group() {
    let store = fresh_store().await;
    for round in 0..8 {
        let a = user(&store, &format!("racer_a{round}")).await;
        let b = user(&store, &format!("racer_b{round}")).await;
        let (s1, s2) = (store.clone(), store.clone());
        let (a1, b1) = (a.clone(), b.clone());
        let (x, y) = tokio::join!(
            tokio::spawn(async move { s1.start_message_group(&a1, &b1.handle, text("hi b"), at(10)).await }),
            tokio::spawn(async move { s2.start_message_group(&b, &a.handle, text("hi a"), at(10)).await }),
        );
        let (x, y) = (x.unwrap().unwrap(), y.unwrap().unwrap());
        assert_eq!(x.group, y.group, "round {round}: both starts must land in one group");
        let groups = store.list_message_groups(x.sender.uuid, page(20, None)).await.unwrap().items;
        assert_eq!(groups.len(), 1, "round {round}");
        assert_eq!(all_messages(&store, &x.sender, x.group).await.len(), 2, "round {round}");
    }
}

#[tokio::test]
async fn a_second_new_message_group_to_the_same_handle_continues_the_first() {
    let store = fresh_store().await;
    let (a, b, group) = two_members(&store, 0).await;
    // Any spelling of the handle names the same user.
    let again =
        store.start_message_group(&a, &handle(&b.handle.as_str().to_uppercase()), text("me again"), at(20)).await;
    assert_eq!(again.unwrap().group, group);
    let back = store.start_message_group(&b, &a.handle, text("and me"), at(30)).await.unwrap();
    assert_eq!(back.group, group);
    assert_eq!(all_messages(&store, &a, group).await.len(), 3);
    assert_eq!(store.list_message_groups(a.uuid, page(20, None)).await.unwrap().items.len(), 1);
    let row = store.message_group(a.uuid, group).await.unwrap().unwrap();
    assert_eq!(row.last_message.as_str(), "and me");
}

#[tokio::test]
async fn starting_a_message_group_needs_another_existing_user() {
    let store = fresh_store().await;
    let a = user(&store, "Alone").await;
    let before = item_count(&store).await;
    let err = store.start_message_group(&a, &handle("alone"), text("hi me"), at(1)).await.unwrap_err();
    assert!(matches!(err, Error::CannotMessageSelf), "{err:?}");
    let err = store.start_message_group(&a, &handle("nobody"), text("hi?"), at(1)).await.unwrap_err();
    assert!(matches!(err, Error::UserNotFound), "{err:?}");
    assert_eq!(item_count(&store).await, before);
}

// 50 concurrent replies: all stored, both summaries show the latest.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_replies_are_all_stored_and_summaries_show_the_last() {
    let store = fresh_store().await;
    let (a, b, group) = two_members(&store, 0).await;
    // Times are shuffled against start order, so later messages often
    // commit before earlier ones: the summary must still end at the latest.
    let mut times: Vec<i64> = (1..=50).collect();
    fastrand_shuffle(&mut times);
    let tasks: Vec<_> = times
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let (store, sender) = (store.clone(), if i % 2 == 0 { a.clone() } else { b.clone() });
            let t = *t;
            tokio::spawn(
                async move { store.send_reply(&sender, group, text(&format!("reply {t}")), at(1000 + t)).await },
            )
        })
        .collect();
    let mut sent = Vec::new();
    for task in tasks {
        sent.push(task.await.unwrap().expect("every reply is stored"));
    }
    let latest = sent.iter().map(Message::key).max().unwrap();

    let stored = all_messages(&store, &a, group).await;
    assert_eq!(stored.len(), 51);
    let stored_ids: HashSet<MessageUuid> = stored.iter().map(|m| m.uuid).collect();
    assert!(sent.iter().all(|m| stored_ids.contains(&m.uuid)));
    for owner in [&a, &b] {
        let row = store.message_group(owner.uuid, group).await.unwrap().unwrap();
        assert_eq!(row.last_activity, latest);
        assert_eq!(row.last_message.as_str(), "reply 50");
    }
}

fn fastrand_shuffle(v: &mut [i64]) {
    // A fixed permutation is enough to put late times early; keep it deterministic.
    v.reverse();
    let n = v.len();
    for i in (0..n).step_by(3) {
        v.swap(i, (i * 7 + 5) % n);
    }
}

// Guarantee 8: pages and cursors.
#[tokio::test]
async fn paging_through_messages_sees_every_message_exactly_once_in_order() {
    let store = fresh_store().await;
    let (a, b, group) = two_members(&store, 0).await;
    for i in 1..=44 {
        let sender = if i % 2 == 0 { &a } else { &b };
        store.send_reply(sender, group, text(&format!("m{i}")), at(i)).await.unwrap();
    }
    let mut seen: Vec<Message> = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let p = store.list_messages(b.uuid, group, page(7, cursor)).await.unwrap();
        pages += 1;
        assert!(p.items.len() <= 7);
        assert!(p.items.windows(2).all(|w| w[0].key() < w[1].key()), "oldest first within a page");
        // Each page is older than everything seen so far.
        if let (Some(last_of_page), Some(first_seen)) = (p.items.last(), seen.first()) {
            assert!(last_of_page.key() < first_seen.key());
        }
        let mut items = p.items;
        items.append(&mut seen);
        seen = items;
        match p.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 7, "45 messages in pages of 7");
    assert_eq!(seen.len(), 45);
    let unique: HashSet<MessageUuid> = seen.iter().map(|m| m.uuid).collect();
    assert_eq!(unique.len(), 45);
    assert_eq!(seen.first().unwrap().content.as_str(), "hello");
    assert_eq!(seen.last().unwrap().content.as_str(), "m44");
}

#[tokio::test]
async fn paging_through_groups_sees_every_group_exactly_once_newest_first() {
    let store = fresh_store().await;
    let me = user(&store, "popular").await;
    for i in 0..23 {
        let other = user(&store, &format!("friend{i}")).await;
        store.start_message_group(&other, &me.handle, text("hey"), at(i * 10)).await.unwrap();
    }
    let mut seen: Vec<MessageKey> = Vec::new();
    let mut groups = HashSet::new();
    let mut cursor = None;
    loop {
        let p = store.list_message_groups(me.uuid, page(5, cursor)).await.unwrap();
        for g in &p.items {
            assert!(groups.insert(g.uuid), "a group appeared twice");
            seen.push(g.last_activity);
        }
        match p.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(groups.len(), 23);
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first across pages");
}

#[tokio::test]
async fn a_list_that_ends_on_a_page_boundary_has_no_next_cursor() {
    let store = fresh_store().await;
    let (a, _b, group) = two_members(&store, 0).await;
    for i in 1..10 {
        store.send_reply(&a, group, text("x"), at(i)).await.unwrap();
    }
    let first = store.list_messages(a.uuid, group, page(5, None)).await.unwrap();
    assert_eq!(first.items.len(), 5);
    let second = store.list_messages(a.uuid, group, page(5, first.next)).await.unwrap();
    assert_eq!(second.items.len(), 5);
    assert!(second.next.is_none(), "10 messages in pages of 5: no third page");
}

#[tokio::test]
async fn cursors_from_another_list_are_rejected() {
    let store = fresh_store().await;
    let (a, b, group) = two_members(&store, 0).await;
    let (c, _d, other_group) = two_members(&store, 0).await;
    for i in 1..5 {
        store.send_reply(&a, group, text("x"), at(i)).await.unwrap();
        store
            .start_message_group(&a, &user(&store, &format!("extra{i}")).await.handle, text("y"), at(i))
            .await
            .unwrap();
    }
    let groups_cursor = store.list_message_groups(a.uuid, page(1, None)).await.unwrap().next.unwrap();
    let messages_cursor = store.list_messages(a.uuid, group, page(1, None)).await.unwrap().next.unwrap();

    // A's groups cursor, used for B's and C's lists.
    for other in [&b, &c] {
        let err = store.list_message_groups(other.uuid, page(1, Some(groups_cursor))).await.unwrap_err();
        assert!(matches!(err, Error::InvalidCursor), "{err:?}");
    }
    // A messages cursor for another message group, and a groups cursor for messages.
    let err = store.list_messages(c.uuid, other_group, page(1, Some(messages_cursor))).await.unwrap_err();
    assert!(matches!(err, Error::InvalidCursor), "{err:?}");
    let err = store.list_messages(a.uuid, group, page(1, Some(groups_cursor))).await.unwrap_err();
    assert!(matches!(err, Error::InvalidCursor), "{err:?}");
    let err = store.list_message_groups(a.uuid, page(1, Some(messages_cursor))).await.unwrap_err();
    assert!(matches!(err, Error::InvalidCursor), "{err:?}");
    // A forged cursor naming B's list, decoded fine but not A's to use.
    let forged =
        Cursor::MessageGroups { owner: b.uuid, activity: MessageKey { at: at(3), uuid: MessageUuid::random() }, group };
    let decoded = Cursor::decode(&forged.encode()).unwrap();
    let err = store.list_message_groups(a.uuid, page(1, Some(decoded))).await.unwrap_err();
    assert!(matches!(err, Error::InvalidCursor), "{err:?}");
    // Garbage never decodes.
    assert_eq!(Cursor::decode("not-a-cursor"), Err(cruddur_core::domain::InvalidCursor));
}

// Guarantee 2: users.
#[tokio::test]
async fn handles_are_unique_ignoring_case_and_keep_their_spelling() {
    let store = fresh_store().await;
    let bayko = user(&store, "Bayko").await;
    let before = item_count(&store).await;
    for taken in ["bayko", "BAYKO", "bAyKo"] {
        let err = store
            .create_profile(
                NewProfile {
                    handle: handle(taken),
                    display_name: DisplayName::parse("Impostor").unwrap(),
                    email: Email::parse("impostor@example.com").unwrap(),
                    cognito_sub: None,
                },
                at(1),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::HandleTaken), "{taken}: {err:?}");
    }
    assert_eq!(item_count(&store).await, before, "a refused profile writes nothing");
    let found = store.user_by_handle(&handle("BAYKO")).await.unwrap().unwrap();
    assert_eq!(found, bayko);
    assert_eq!(found.handle.as_str(), "Bayko");
    let profile = store.profile(bayko.uuid).await.unwrap().unwrap();
    assert_eq!(profile.summary(), bayko);
}

fn cognito_user(sub: &CognitoSub, name: &str) -> NewProfile {
    NewProfile {
        handle: handle(name),
        display_name: DisplayName::parse(name).unwrap(),
        email: Email::parse(&format!("{name}@example.com")).unwrap(),
        cognito_sub: Some(sub.clone()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registering_a_cognito_user_is_idempotent_even_when_concurrent() {
    let store = fresh_store().await;
    let sub = CognitoSub::parse(&uuid::Uuid::new_v4().to_string()).unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (store, sub) = (store.clone(), sub.clone());
            tokio::spawn(async move { store.register_cognito_user(cognito_user(&sub, "newbie"), at(1), None).await })
        })
        .collect();
    let mut created = Vec::new();
    let mut again = Vec::new();
    for t in tasks {
        match t.await.unwrap().unwrap() {
            Registration::Created(p) => created.push(p),
            Registration::AlreadyRegistered(u) => again.push(u),
        }
    }
    assert_eq!(created.len(), 1, "exactly one delivery creates the profile");
    let profile = &created[0];
    assert!(again.iter().all(|u| *u == profile.summary()));
    assert_eq!(store.user_by_cognito_sub(&sub).await.unwrap().unwrap(), profile.summary());
    assert_eq!(item_count(&store).await, 3, "one profile, one handle claim, one Cognito link");

    // Another account with the same handle does not take the profile over.
    let other_sub = CognitoSub::parse(&uuid::Uuid::new_v4().to_string()).unwrap();
    let err = store.register_cognito_user(cognito_user(&other_sub, "NEWBIE"), at(2), None).await.unwrap_err();
    assert!(matches!(err, Error::HandleTaken), "{err:?}");
    assert!(store.user_by_cognito_sub(&other_sub).await.unwrap().is_none());
}

#[tokio::test]
async fn linking_a_seeded_profile_to_cognito_is_idempotent_and_exclusive() {
    let store = fresh_store().await;
    let andrew = user(&store, "andrew").await;
    let bayko = user(&store, "bayko").await;
    let sub = CognitoSub::parse("11111111-2222-3333-4444-555555555555").unwrap();

    assert_eq!(store.link_cognito_sub(andrew.uuid, &sub).await.unwrap(), LinkOutcome::Linked);
    assert_eq!(store.link_cognito_sub(andrew.uuid, &sub).await.unwrap(), LinkOutcome::AlreadyLinked);
    assert_eq!(store.user_by_cognito_sub(&sub).await.unwrap().unwrap(), andrew);
    assert_eq!(store.profile(andrew.uuid).await.unwrap().unwrap().cognito_sub, Some(sub.clone()));

    let err = store.link_cognito_sub(bayko.uuid, &sub).await.unwrap_err();
    assert!(matches!(err, Error::CognitoSubTaken), "{err:?}");
    let other = CognitoSub::parse("99999999-2222-3333-4444-555555555555").unwrap();
    let err = store.link_cognito_sub(andrew.uuid, &other).await.unwrap_err();
    assert!(matches!(err, Error::ProfileLinkedElsewhere), "{err:?}");
    let err = store.link_cognito_sub(cruddur_core::domain::UserUuid::random(), &other).await.unwrap_err();
    assert!(matches!(err, Error::UserNotFound), "{err:?}");
    assert!(store.profile(bayko.uuid).await.unwrap().unwrap().cognito_sub.is_none());
}

/// The engine under these tests is DynamoDB's own (DynamoDB Local), not a
/// lenient emulator: it honours ClientRequestToken as DynamoDB does (the
/// faults tests rely on it when an applied transaction's answer is lost) and
/// validates like DynamoDB. moto fails this test (it applies the repeated
/// transaction twice and accepts a two-letter table name), so a switch back
/// cannot go unnoticed.
#[tokio::test(flavor = "multi_thread")]
async fn the_engine_honours_client_request_tokens_and_validates_like_dynamodb() {
    use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
    let store = fresh_store().await;
    let key = |pk: &str| {
        std::collections::HashMap::from([
            ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
            ("sk".to_owned(), AttributeValue::S("counter".to_owned())),
        ])
    };
    let add = |pk: &str, n: &str| {
        let update = Update::builder()
            .table_name(store.table())
            .set_key(Some(key(pk)))
            .update_expression("ADD n :n")
            .expression_attribute_values(":n", AttributeValue::N(n.to_owned()))
            .build()
            .unwrap();
        TransactWriteItem::builder().update(update).build()
    };
    let token = uuid::Uuid::new_v4().to_string();
    for _ in 0..2 {
        store
            .client()
            .transact_write_items()
            .transact_items(add("t", "1"))
            .client_request_token(&token)
            .send()
            .await
            .unwrap();
    }
    let item = store
        .client()
        .get_item()
        .table_name(store.table())
        .set_key(Some(key("t")))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        item.item.and_then(|i| i.get("n").cloned()),
        Some(AttributeValue::N("1".into())),
        "a repeated ClientRequestToken must not apply the transaction again"
    );
    let mismatch =
        store.client().transact_write_items().transact_items(add("t", "5")).client_request_token(&token).send().await;
    let code = mismatch.map_err(|e| e.into_service_error()).err().and_then(|e| {
        use aws_sdk_dynamodb::error::ProvideErrorMetadata;
        e.code().map(str::to_owned)
    });
    assert_eq!(code.as_deref(), Some("IdempotentParameterMismatchException"));

    let short = cruddur_core::store::MESSAGES_TABLE.create(store.client(), "xy").await;
    let err = short.expect_err("DynamoDB refuses table names under 3 characters");
    assert!(matches!(err, Error::Internal { .. }), "refused as a bad request, not as unavailable: {err:?}");
    assert!(err.chain().contains("ValidationException"), "{}", err.chain());
}

/// A handle reservation belongs to one sign-up: the same person may sign up
/// again (renewal), another may not until it lapses (24 h) unconfirmed, and
/// a confirmation by anyone else is refused while it is held.
#[tokio::test]
async fn a_handle_reservation_is_held_for_one_sign_up_until_it_lapses() {
    let store = fresh_store().await;
    let h = handle("holder");
    store.reserve_handle(&h, "a@example.com", at(0)).await.unwrap();
    store.reserve_handle(&h, "a@example.com", at(60)).await.expect("the same sign-up renews it");
    assert!(matches!(store.reserve_handle(&h, "b@example.com", at(120)).await, Err(Error::HandleTaken)));
    // Someone else's confirmation (an account made without PreSignUp) is refused while it is held.
    let other = NewProfile {
        handle: h.clone(),
        display_name: DisplayName::parse("B").unwrap(),
        email: Email::parse("b@example.com").unwrap(),
        cognito_sub: Some(CognitoSub::parse(&uuid::Uuid::new_v4().to_string()).unwrap()),
    };
    assert!(matches!(
        store.register_cognito_user(other.clone(), at(180), Some("b@example.com")).await,
        Err(Error::HandleTaken)
    ));
    // A day later, unconfirmed, it lapses and b may have it.
    let later = at(60 + cruddur_core::store::RESERVATION_LIFETIME_SECS + 1);
    store.reserve_handle(&h, "b@example.com", later).await.expect("a lapsed reservation is free");
    assert!(store.register_cognito_user(other, later, Some("b@example.com")).await.is_ok());
    assert_eq!(item_count(&store).await, 3, "the reservation was released with the confirmation");
}
