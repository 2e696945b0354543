//! `cruddur migrate`, on a DynamoDB Local of its own: on an engine that
//! other suites have used, an index that UpdateTable adds to a table can
//! stay in CREATING for good (seen: `unread-b-index` for 10 minutes while
//! the other CLI tests ran, and `list-a-index` on an engine they had just
//! used; on a fresh engine each is active within a second), so the
//! in-place migration gets a fresh one.

use cruddur_core::domain::{CognitoSub, Handle};
use cruddur_core::Store;

mod common;
use common::{item_count, ok, store, table_name, use_private_engine};

/// A table of the shape before issue 26, written item by item as that code
/// wrote it: a local index on `last_activity`, a group row per member under
/// `GRP#<owner>`, one `UNREAD#<owner>` item with a set of groups.
mod legacy {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::{
        AttributeDefinition, AttributeValue as V, BillingMode, KeySchemaElement, KeyType, LocalSecondaryIndex,
        Projection, ProjectionType, ScalarAttributeType,
    };
    use cruddur_core::domain::{Content, GroupUuid, Message, MessageText, MessageUuid, Timestamp, UserSummary};
    use cruddur_core::Store;

    pub async fn create_table(store: &Store) {
        let attr = |n: &str| {
            AttributeDefinition::builder().attribute_name(n).attribute_type(ScalarAttributeType::S).build().unwrap()
        };
        let key = |n: &str, t| KeySchemaElement::builder().attribute_name(n).key_type(t).build().unwrap();
        let lsi = LocalSecondaryIndex::builder()
            .index_name("last-activity-index")
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("last_activity", KeyType::Range))
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .unwrap();
        store
            .client()
            .create_table()
            .table_name(store.table())
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk"))
            .attribute_definitions(attr("sk"))
            .attribute_definitions(attr("last_activity"))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .local_secondary_indexes(lsi)
            .send()
            .await
            .unwrap();
    }

    async fn put(store: &Store, item: HashMap<String, V>) {
        store.client().put_item().table_name(store.table()).set_item(Some(item)).send().await.unwrap();
    }

    fn s(v: impl ToString) -> V {
        V::S(v.to_string())
    }

    /// A message group between `a` and `b`: `lines` (true: from a), a minute
    /// apart; `b_read` says whether b read the last of a's messages.
    /// Returns the group and how many messages each has unread.
    pub async fn conversation(store: &Store, a: &UserSummary, b: &UserSummary, lines: &[(bool, &str)]) -> GroupUuid {
        let group = GroupUuid::random();
        let mut messages = Vec::new();
        for (i, (from_a, line)) in lines.iter().enumerate() {
            messages.push(Message {
                uuid: MessageUuid::random(),
                group,
                sender: if *from_a { a.clone() } else { b.clone() },
                content: Content::Text(MessageText::parse(line).unwrap()),
                edited_at: None,
                created_at: Timestamp::from_unix_micros(1_767_225_600_000_000 + i as i64 * 60_000_000).unwrap(),
            });
        }
        store.import_messages(&messages).await.unwrap();
        let last = messages.last().unwrap();
        // What each member has not read: the other's messages after their own last one.
        let unread =
            |owner: &UserSummary| messages.iter().rev().take_while(|m| m.sender.uuid != owner.uuid).count().to_string();
        for (owner, other) in [(a, b), (b, a)] {
            put(
                store,
                HashMap::from([
                    ("pk".into(), s(format!("GRP#{}", owner.uuid))),
                    ("sk".into(), s(group)),
                    ("message_group_uuid".into(), s(group)),
                    ("owner_uuid".into(), s(owner.uuid)),
                    ("other_user_uuid".into(), s(other.uuid)),
                    ("other_user_handle".into(), s(other.handle.as_str())),
                    ("other_user_display_name".into(), s(other.display_name.as_str())),
                    ("last_message".into(), s(last.content.as_str())),
                    ("last_message_at".into(), s(last.created_at)),
                    ("last_activity".into(), s(last.key())),
                    ("unread".into(), V::N(unread(owner))),
                ]),
            )
            .await;
        }
        let (lo, hi) = if a.uuid < b.uuid { (a.uuid, b.uuid) } else { (b.uuid, a.uuid) };
        put(
            store,
            HashMap::from([
                ("pk".into(), s(format!("PAIR#{lo}#{hi}"))),
                ("sk".into(), s("PAIR")),
                ("message_group_uuid".into(), s(group)),
            ]),
        )
        .await;
        for owner in [a, b] {
            let n: i64 = unread(owner).parse().unwrap();
            if n > 0 {
                store
                    .client()
                    .update_item()
                    .table_name(store.table())
                    .key("pk", s(format!("UNREAD#{}", owner.uuid)))
                    .key("sk", s("UNREAD"))
                    .update_expression("ADD unread_count :n, unread_groups :g")
                    .expression_attribute_values(":n", V::N(n.to_string()))
                    .expression_attribute_values(":g", V::Ss(vec![group.to_string()]))
                    .send()
                    .await
                    .unwrap();
            }
        }
        group
    }
}

/// The sample users (with the sample events' Cognito subs) on a table of
/// the old shape, with two message groups: andrewbrown has 1 unread message
/// from bayko and 2 from londo.
async fn legacy_table() -> (Store, cruddur_core::domain::GroupUuid, cruddur_core::domain::GroupUuid) {
    use cruddur_core::domain::{DisplayName, Email, NewProfile};
    let store = store(&table_name()).await;
    legacy::create_table(&store).await;
    let mut users = Vec::new();
    for (seed, sub) in [
        (cruddur_devkit::seed::ANDREW, cruddur_devkit::fixtures::sample::ANDREW_SUB),
        (cruddur_devkit::seed::BAYKO, cruddur_devkit::fixtures::sample::BAYKO_SUB),
        (cruddur_devkit::seed::LONDO, cruddur_devkit::fixtures::sample::LONDO_SUB),
    ] {
        let new = NewProfile {
            handle: Handle::parse(seed.handle).unwrap(),
            display_name: DisplayName::parse(seed.display_name).unwrap(),
            email: Email::parse(seed.email).unwrap(),
            cognito_sub: Some(CognitoSub::parse(sub).unwrap()),
        };
        let now = cruddur_core::domain::Timestamp::now();
        users.push(store.create_profile(new, now).await.unwrap().summary());
    }
    let (andrew, bayko, londo) = (&users[0], &users[1], &users[2]);
    let g1 = legacy::conversation(
        &store,
        andrew,
        bayko,
        &[(true, "hi bayko"), (false, "hi!"), (true, "how are you?"), (false, "fine")],
    )
    .await;
    let g2 = legacy::conversation(&store, londo, andrew, &[(true, "andrew?"), (true, "are you there?")]).await;
    (store, g1, g2)
}

/// What a user of the API sees of the table: andrewbrown's list, counter
/// and both conversations, through the handlers.
async fn as_andrew_sees_it(store: &Store) -> serde_json::Value {
    use cruddur_devkit::fixtures::sample::ANDREW_SUB;
    let app = cruddur_devkit::client::TestApp::new(store.clone());
    let list = app.list_message_groups(ANDREW_SUB, "").await.ok().body;
    let counter = app.message_counter(ANDREW_SUB).await.ok().body;
    serde_json::json!({"list": list, "counter": counter})
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_moves_a_table_of_the_old_shape_in_place_or_into_another_and_a_second_run_changes_nothing() {
    use cruddur_devkit::fixtures::sample::{ANDREW_SUB, BAYKO_SUB};
    let _engine = use_private_engine().await;
    let (old, g1, g2) = legacy_table().await;

    // Into a new table (the deployed path: the stack's new table), the old one untouched.
    let new = store(&table_name()).await;
    cruddur_core::store::MESSAGES_TABLE.create_without_stream(new.client(), new.table()).await.unwrap();
    let old_items = item_count(old.table());
    let out = ok(new.table(), &["migrate", "--from", old.table()]);
    assert!(out.contains("conversations: 2 written"), "{out}");
    assert_eq!(item_count(old.table()), old_items, "the source is left as it was");
    again_changes_nothing(new.table(), &["migrate", "--from", old.table()]);

    // In place (adds the list indexes; the old rows and totals go).
    let out = ok(old.table(), &["migrate"]);
    assert!(out.contains("added index list-a-index") && out.contains("added index list-b-index"), "{out}");
    assert!(out.contains("conversations: 2 written") && out.contains("old items removed: 5"), "{out}");
    again_changes_nothing(old.table(), &["migrate"]);

    for store in [&new, &old] {
        let seen = as_andrew_sees_it(store).await;
        assert_eq!(seen["counter"], serde_json::json!({"count": 3, "conversations": 2}), "{seen}");
        let list = seen["list"].as_array().unwrap();
        let summary: Vec<(String, String, u64)> = list
            .iter()
            .map(|g| {
                (
                    g["uuid"].as_str().unwrap().to_owned(),
                    g["message"].as_str().unwrap().to_owned(),
                    g["unread"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [(g1.to_string(), "fine".to_owned(), 1), (g2.to_string(), "are you there?".to_owned(), 2)],
            "newest first, with their summaries and counts: {seen}"
        );
        let app = cruddur_devkit::client::TestApp::new(store.clone());
        let page = app.list_messages(ANDREW_SUB, &g1.to_string(), "").await.ok().body;
        let texts: Vec<&str> = page.as_array().unwrap().iter().map(|m| m["message"].as_str().unwrap()).collect();
        assert_eq!(texts, ["hi bayko", "hi!", "how are you?", "fine"]);
        // Reading marked it read; a reply counts for bayko.
        assert_eq!(as_andrew_sees_it(store).await["counter"], serde_json::json!({"count": 2, "conversations": 1}));
        app.create_message(ANDREW_SUB, &serde_json::json!({"message": "good", "message_group_uuid": g1.to_string()}))
            .await
            .ok();
        let bayko = app.message_counter(BAYKO_SUB).await.ok().body;
        assert_eq!(bayko, serde_json::json!({"count": 1, "conversations": 1}));
    }
}

/// `args` once more on `table`: nothing to change, and nothing changed.
fn again_changes_nothing(table: &str, args: &[&str]) {
    let before = ok(table, &["scan", "--json"]);
    let out = ok(table, args);
    assert!(out.contains("nothing to change"), "{out}");
    assert_eq!(ok(table, &["scan", "--json"]), before);
}
