//! The `cruddur` binary, run as a user runs it (a spawned process, its exit
//! code and output) against the local engines: DynamoDB Local and moto's Cognito.

use aws_sdk_cognitoidentityprovider::types::AttributeType;
use cruddur_core::domain::{CognitoSub, Handle};
use cruddur_devkit::engines::{cognito_endpoint, engine_env, local_cognito};
use cruddur_devkit::seed::{MESSAGES, MESSAGE_GROUP_UUID};
use std::process::Command;

mod common;
use common::{cruddur, item_count, ok, store, table_name};

#[test]
fn schema_load_then_list_tables_shows_the_table_and_schema_load_is_idempotent() {
    let table = table_name();
    assert!(ok(&table, &["schema-load"]).contains(&format!("created table {table}")));
    assert!(ok(&table, &["list-tables"]).contains(&table));
    assert!(ok(&table, &["schema-load"]).contains("already exists"));
}

#[test]
fn seeding_twice_writes_nothing_the_second_time() {
    let table = table_name();
    ok(&table, &["schema-load"]);
    ok(&table, &["seed", "--count", "3"]);
    let first = item_count(&table);
    // 3 + 3 users x (profile, handle claim), 4 message groups x (pair,
    // conversation), 24 + 3 x 3 messages: no totals items (the counter sums
    // the conversations' counts).
    assert_eq!(first, 6 * 2 + 4 * 2 + 24 + 9);
    let again = ok(&table, &["seed", "--count", "3"]);
    assert_eq!(item_count(&table), first);
    assert!(again.contains("messages"), "{again}");
}

#[test]
fn list_messages_prints_the_seeded_messages_oldest_first_with_capacity() {
    let table = table_name();
    ok(&table, &["schema-load"]);
    ok(&table, &["seed"]);
    let out = ok(&table, &["list-messages", MESSAGE_GROUP_UUID, "--limit", "100"]);
    let positions: Vec<usize> = MESSAGES
        .iter()
        .map(|(_, line)| {
            // The table cuts long messages at 70 characters.
            let probe: String = line.chars().take(60).collect();
            out.find(&probe).unwrap_or_else(|| panic!("{probe:?} missing from:\n{out}"))
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "oldest first:\n{out}");
    assert!(out.contains("consumed read capacity"), "{out}");
    assert!(out.contains(&format!("{} shown", MESSAGES.len())), "{out}");

    let groups = ok(&table, &["list-message-groups", "bayko"]);
    assert!(groups.contains(MESSAGE_GROUP_UUID) && groups.contains("andrewbrown"), "{groups}");
    assert!(groups.contains("unread message(s) in"), "the counter's figures: {groups}");

    // The original scripts' names, which the seed's users type.
    let strip = |out: &str| out.lines().filter(|l| !l.contains("consumed")).collect::<Vec<_>>().join("\n");
    let aliased = ok(&table, &["get-conversation", MESSAGE_GROUP_UUID, "--limit", "100"]);
    assert_eq!(strip(&aliased), strip(&out), "get-conversation is list-messages");
    let aliased = ok(&table, &["list-conversations", "bayko"]);
    assert_eq!(strip(&aliased), strip(&groups), "list-conversations is list-message-groups");
}

#[test]
fn drop_with_prod_and_without_yes_refuses_and_touches_nothing() {
    let table = table_name();
    ok(&table, &["schema-load"]);
    for args in [
        vec!["drop", "--prod"],
        vec!["--prod", "drop", &table],
        vec!["seed", "--prod"],
        vec!["cognito", "sync-users", "--prod", "--user-pool-id", "us-east-1_x"],
    ] {
        let out = cruddur(&table, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?} must refuse");
        assert!(String::from_utf8_lossy(&out.stderr).contains("without --yes"), "{args:?}");
    }
    // An endpoint on amazonaws.com is AWS without --prod; refused before any request is sent.
    let out = Command::new(env!("CARGO_BIN_EXE_cruddur"))
        .args(["--table", &table, "seed"])
        .env("AWS_ENDPOINT_URL_DYNAMODB", "https://dynamodb.us-east-1.amazonaws.com")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("without --yes"));
    // schema-load never creates a table on AWS, even with --yes: the template owns it.
    let out = cruddur(&table, &["schema-load", "--prod", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not create tables on AWS"));
    assert!(ok(&table, &["list-tables"]).contains(&table), "the table is still there");
    // Locally, drop says what it touches and does it.
    assert!(ok(&table, &["drop"]).contains(&format!("dropping table {table}")));
    assert!(!ok(&table, &["list-tables"]).contains(&table));
    let again = cruddur(&table, &["drop"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).starts_with("error: there is no table"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_users_links_seeded_profiles_to_cognito_users_and_is_a_no_op_the_second_time() {
    let (table, cognito, pool_id) = seeded_table_and_pool().await;
    for (email, handle) in
        [("andrew@example.com", "andrewbrown"), ("bayko@example.com", "Bayko"), ("x@example.com", "stranger")]
    {
        pool_user(&cognito, &pool_id, email, handle, true, true).await;
    }
    let listed = ok(&table, &["cognito", "list-users", "--user-pool-id", &pool_id]);
    assert!(listed.contains("Bayko") && listed.contains("3 user(s)"), "{listed}");

    let first = ok(&table, &["cognito", "sync-users", "--user-pool-id", &pool_id]);
    assert!(first.contains("linked 2, already linked 0, not linked 1"), "{first}");
    assert!(first.contains("no profile with this handle"), "{first}");

    // Each seeded profile now resolves from its Cognito sub.
    let store = store(&table).await;
    let users = cognito.list_users().user_pool_id(&pool_id).send().await.unwrap();
    for user in users.users() {
        let attr =
            |n: &str| user.attributes().iter().find(|a| a.name() == n).and_then(|a| a.value()).unwrap().to_owned();
        let sub = CognitoSub::parse(&attr("sub")).unwrap();
        let linked = store.user_by_cognito_sub(&sub).await.unwrap();
        match attr("preferred_username").as_str() {
            "stranger" => assert!(linked.is_none()),
            handle => assert!(linked.unwrap().handle.same_as(&Handle::parse(handle).unwrap())),
        }
    }

    let before = item_count(&table);
    let second = ok(&table, &["cognito", "sync-users", "--user-pool-id", &pool_id]);
    assert!(second.contains("linked 0, already linked 2, not linked 1"), "{second}");
    assert_eq!(item_count(&table), before, "re-running changes nothing");
}

/// A seeded table and an empty user pool named after it.
async fn seeded_table_and_pool() -> (String, aws_sdk_cognitoidentityprovider::Client, String) {
    let table = table_name();
    ok(&table, &["schema-load"]);
    ok(&table, &["seed"]);
    let cognito = local_cognito(&cruddur_devkit::fixtures::test_config(), &cognito_endpoint()).await;
    let pool = cognito.create_user_pool().pool_name(&table).send().await.unwrap();
    let pool_id = pool.user_pool.and_then(|p| p.id).unwrap();
    (table, cognito, pool_id)
}

/// A user of the pool with `email_verified` as given; CONFIRMED (as sign-up
/// and confirmation leave it) when `confirmed`, else FORCE_CHANGE_PASSWORD.
async fn pool_user(
    cognito: &aws_sdk_cognitoidentityprovider::Client,
    pool_id: &str,
    email: &str,
    handle: &str,
    verified: bool,
    confirmed: bool,
) -> String {
    let attr = |n: &str, v: &str| AttributeType::builder().name(n).value(v).build().unwrap();
    let created = cognito
        .admin_create_user()
        .user_pool_id(pool_id)
        .username(email)
        .user_attributes(attr("email", email))
        .user_attributes(attr("email_verified", if verified { "true" } else { "false" }))
        .user_attributes(attr("preferred_username", handle))
        .user_attributes(attr("name", handle))
        .send()
        .await
        .unwrap();
    if confirmed {
        cognito
            .admin_set_user_password()
            .user_pool_id(pool_id)
            .username(email)
            .password("Cruddur-local-1")
            .permanent(true)
            .send()
            .await
            .unwrap();
    }
    let attributes = created.user.and_then(|u| u.attributes).unwrap_or_default();
    attributes.into_iter().find(|a| a.name == "sub").and_then(|a| a.value).expect("a sub")
}

/// The account takeover a review found: an account with no profile sets its
/// own preferred_username to someone else's handle (users may change their
/// standard attributes with their access token) and waits for the operator's
/// next sync. It must link nothing; nor may an unverified or unconfirmed one.
#[tokio::test(flavor = "multi_thread")]
async fn sync_users_never_links_an_account_to_a_profile_whose_email_it_does_not_have() {
    let (table, cognito, pool_id) = seeded_table_and_pool().await;
    // The attacker: confirmed, verified, but their own email.
    pool_user(&cognito, &pool_id, "mallory@example.com", "andrewbrown", true, true).await;
    // bayko's email, but not verified.
    pool_user(&cognito, &pool_id, "bayko@example.com", "bayko", false, true).await;
    // londo's email, verified, but never confirmed.
    pool_user(&cognito, &pool_id, "londo@example.com", "londo", true, false).await;

    let before = item_count(&table);
    let out = ok(&table, &["cognito", "sync-users", "--user-pool-id", &pool_id]);
    assert!(out.contains("linked 0, already linked 0, not linked 3"), "{out}");
    assert!(out.contains("the verified email is not the profile's"), "{out}");
    assert!(out.contains("email not verified"), "{out}");
    assert!(out.contains("not confirmed"), "{out}");
    assert_eq!(item_count(&table), before, "nothing linked");
    let store = store(&table).await;
    let andrew = store.user_by_handle(&Handle::parse("andrewbrown").unwrap()).await.unwrap().unwrap();
    assert_eq!(store.profile(andrew.uuid).await.unwrap().unwrap().cognito_sub, None, "andrewbrown is still nobody's");
}

/// A sign-up whose PostConfirmation failed (throttled, timed out) leaves a
/// confirmed account without a profile. `cognito repair-users` finds it and
/// creates the profile when the handle is free, and says who holds a taken
/// one; a second run has nothing left to do.
#[tokio::test(flavor = "multi_thread")]
async fn repair_users_gives_orphaned_accounts_their_profile_or_names_the_holder() {
    let (table, cognito, pool_id) = seeded_table_and_pool().await;
    pool_user(&cognito, &pool_id, "orphan@example.com", "orphan", true, true).await;
    pool_user(&cognito, &pool_id, "twin@example.com", "andrewbrown", true, true).await;
    pool_user(&cognito, &pool_id, "pending@example.com", "pending", true, false).await;

    let out = ok(&table, &["cognito", "repair-users", "--user-pool-id", &pool_id]);
    assert!(out.contains("orphan") && out.contains("profile created"), "{out}");
    assert!(out.contains("not repaired: the handle is held by profile") && out.contains("@andrewbrown"), "{out}");
    assert!(!out.contains("pending"), "an unconfirmed user is not touched: {out}");
    let store = store(&table).await;
    let orphan = store.user_by_handle(&Handle::parse("orphan").unwrap()).await.unwrap().expect("a profile now");
    let profile = store.profile(orphan.uuid).await.unwrap().unwrap();
    assert_eq!(profile.email.as_str(), "orphan@example.com");
    assert!(profile.cognito_sub.is_some(), "linked to the account");

    let before = item_count(&table);
    let again = ok(&table, &["cognito", "repair-users", "--user-pool-id", &pool_id]);
    assert!(!again.contains("profile created"), "{again}");
    assert_eq!(item_count(&table), before, "re-running changes nothing");
}

/// A `DELETE /api/me` whose request died after it began (the profile
/// marked leaving, the pool's account still there, or already deleted):
/// `cognito repair-users` deletes the pool's account and completes the
/// rest; a second run has nothing left to do.
#[tokio::test(flavor = "multi_thread")]
async fn repair_users_completes_account_deletions_cut_short() {
    let (table, cognito, pool_id) = seeded_table_and_pool().await;
    let store = store(&table).await;
    let sub = pool_user(&cognito, &pool_id, "leaver@example.com", "leaver", true, true).await;
    let new = cruddur_core::triggers::post_confirmation(
        &store,
        cruddur_devkit::events::post_confirmation(&sub, "leaver", "Lee Leaver", "leaver@example.com"),
    )
    .await;
    assert!(new.is_ok(), "{new:?}");
    let leaver = store.user_by_handle(&Handle::parse("leaver").unwrap()).await.unwrap().unwrap();
    store.begin_account_deletion(leaver.uuid, cruddur_core::domain::Timestamp::now()).await.unwrap();

    let out = ok(&table, &["cognito", "repair-users", "--user-pool-id", &pool_id]);
    assert!(out.contains(&format!("deletion of user {} completed", leaver.uuid)), "{out}");
    assert!(
        !out.contains("profile created") && !out.contains("not repaired"),
        "a deleted account is left alone: {out}"
    );
    let gone = cognito.admin_get_user().user_pool_id(&pool_id).username("leaver@example.com").send().await;
    assert!(gone.is_err(), "the pool's account is deleted");
    assert!(store.profile(leaver.uuid).await.unwrap().is_none(), "the profile is gone");
    assert!(store.unfinished_deletions().await.unwrap().is_empty());
    let again = ok(&table, &["cognito", "repair-users", "--user-pool-id", &pool_id]);
    assert!(again.contains("nothing to repair"), "{again}");
}

/// `cruddur realtime failures` reads the delivery's failures queue without
/// consuming it: how many are waiting, and the first ones with --show.
#[tokio::test]
async fn realtime_failures_counts_and_shows_what_delivery_gave_up_on_and_leaves_it() {
    let sdk =
        cruddur_devkit::engines::local_sdk_config(&cruddur_devkit::fixtures::test_config(), &cognito_endpoint()).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let name = format!("failures-{}", uuid::Uuid::new_v4().simple());
    let url = sqs.create_queue().queue_name(&name).send().await.unwrap().queue_url.unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_cruddur"))
            .args(["realtime", "failures", "--queue-url", &url])
            .args(args)
            .envs(engine_env())
            .envs(cruddur_devkit::fixtures::test_budget_env())
            .env("AWS_ENDPOINT_URL_SQS", cognito_endpoint())
            .output()
            .expect("the cruddur binary runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(run(&[]).starts_with("0 failed stream batches waiting"), "{}", run(&[]));
    for n in 1..=2 {
        let body = format!(
            r#"{{"requestContext":{{"condition":"RetryAttemptsExhausted"}},"DDBStreamBatchInfo":{{"startSequenceNumber":"{n}"}}}}"#
        );
        sqs.send_message().queue_url(&url).message_body(body).send().await.unwrap();
    }
    let shown = run(&["--show", "1"]);
    assert!(shown.starts_with("2 failed stream batches waiting"), "{shown}");
    assert!(shown.contains("RetryAttemptsExhausted"), "one is shown: {shown}");
    assert!(run(&[]).starts_with("2 failed stream batches waiting"), "nothing consumed");
}
