//! The capacity model's run (`scripts/bench --capacity`): each operation
//! once through the real code (the routes' handlers with a warm caller
//! cache, the Cognito triggers, the WebSocket connect, the stream
//! function's delivery), recorded by [`crate::model::Recorder`] and priced
//! by AWS's rules; then what that means at scale: the sustained rates
//! before a partition's write limit for one recipient and for one
//! conversation, 10,000 messages/s spread over many users against the
//! table's and the account's quotas, and how a message's cost and largest
//! item grow with the recipient's number of unread conversations.

use cruddur_core::domain::{DisplayName, Email, Handle, NewProfile, Timestamp, UserSummary};
use cruddur_core::realtime::{self, Delivery};
use cruddur_core::Store;
use cruddur_devkit::client::TestApp;
use cruddur_devkit::connections::ConnectionsStandIn;
use cruddur_devkit::events::{self, sample_json};
use cruddur_devkit::fixtures::{handle, sample, test_config};
use cruddur_devkit::seed::{self, SeedOptions, MESSAGE_GROUP_UUID};
use serde_json::{json, Value};

use crate::model::{self, Access, Recorder};

/// On-demand throughput prices, us-east-1, Standard table class, in force
/// since the price reduction of 1 November 2024 (the DynamoDB pricing page,
/// "Pricing for On-Demand Capacity"): dollars per million request units.
pub const WRITE_PRICE_PER_MILLION: f64 = 0.625;
pub const READ_PRICE_PER_MILLION: f64 = 0.125;
/// API Gateway WebSocket APIs: dollars per million messages (each post to
/// a connection is one, in 32 KB units), us-east-1, the first billion a
/// month (the API Gateway pricing page).
pub const WEBSOCKET_MESSAGE_PRICE_PER_MILLION: f64 = 1.00;
/// The table's default on-demand write quota (adjustable), WCU/s
/// ("Service quotas").
const TABLE_WCU_QUOTA: f64 = 40_000.0;
/// API Gateway's account-wide throttle, shared by HTTP and WebSocket APIs
/// and the `@connections` calls ("Amazon API Gateway quotas").
const ACCOUNT_REQUESTS_PER_SECOND: f64 = 10_000.0;
/// The spread load the model prices.
const SPREAD_MESSAGES_PER_SECOND: f64 = 10_000.0;
/// Unread conversations of the recipient at which a message is priced.
const MEASURED_UNREAD: [u64; 3] = [10, 1000, 10_000];

fn fail(message: String) -> ! {
    eprintln!("error: capacity model: {message}");
    std::process::exit(1)
}

/// One operation's accesses, priced.
fn operation(name: &str, accesses: &[Access], roles: &[(String, &str)]) -> Value {
    let cost = model::total(accesses);
    let requests: std::collections::BTreeSet<&str> = accesses.iter().map(|a| a.operation.as_str()).collect();
    let largest = accesses.iter().filter(|a| a.kind != model::Kind::StrongRead && a.kind != model::Kind::EventualRead);
    let largest = largest.map(|a| a.before.max(a.after)).max().unwrap_or(0);
    let wru = cost.wru + cost.index_wru;
    json!({
        "operation": name,
        "requests": requests.into_iter().collect::<Vec<_>>(),
        "items": accesses.len(),
        "wru": cost.wru,
        "index_wru": cost.index_wru,
        "rru": cost.rru,
        "largest_item_written": largest,
        "dollars_per_million": wru * WRITE_PRICE_PER_MILLION + cost.rru * READ_PRICE_PER_MILLION,
        "accesses": model::rows(accesses, roles),
    })
}

async fn user(store: &Store, name: &str) -> UserSummary {
    store.user_by_handle(&handle(name)).await.ok().flatten().unwrap_or_else(|| fail(format!("{name} is not seeded")))
}

async fn new_user(store: &Store, handle: &str, now: Timestamp) -> UserSummary {
    let new = NewProfile {
        handle: Handle::parse(handle).unwrap_or_else(|e| fail(format!("{handle}: {e}"))),
        display_name: DisplayName::parse("Capacity Probe").unwrap_or_else(|e| fail(e.to_string())),
        email: Email::parse(&format!("{handle}@example.com")).unwrap_or_else(|e| fail(e.to_string())),
        cognito_sub: None,
    };
    store.create_profile(new, now).await.unwrap_or_else(|e| fail(format!("{handle}: {e}"))).summary()
}

/// Runs the model on a fresh table at `endpoint`.
pub async fn run(endpoint: &str) -> Value {
    let config = cruddur_core::Config { table: format!("capacity-{}", uuid::Uuid::new_v4().simple()), ..test_config() };
    let direct = cruddur_devkit::engines::local_store(&config, endpoint).await;
    cruddur_core::store::MESSAGES_TABLE
        .create_without_stream(direct.client(), direct.table())
        .await
        .unwrap_or_else(|e| fail(format!("cannot create the table: {e}")));
    let now = Timestamp::now();
    let options = SeedOptions { extra_message_groups: 0, link_sample_subs: true };
    seed::seed(&direct, now, options, &|_| {}).await.unwrap_or_else(|e| fail(format!("cannot seed: {e}")));
    let recorder = Recorder::start(endpoint).await.unwrap_or_else(|e| fail(format!("recorder: {e}")));
    let store = cruddur_devkit::engines::local_store(&config, &recorder.url).await;
    let app = TestApp::new(store.clone());
    let (andrew, bayko) = (user(&direct, "andrewbrown").await, user(&direct, "bayko").await);
    let roles = vec![
        (andrew.uuid.to_string(), "sender"),
        (bayko.uuid.to_string(), "recipient"),
        (MESSAGE_GROUP_UUID.to_owned(), "group"),
    ];
    // A warm function's caller cache (the sub -> user lookup is cached).
    for sub in [sample::ANDREW_SUB, sample::BAYKO_SUB] {
        app.list_message_groups(sub, "").await.ok();
    }
    recorder.take();

    let mut ops = Vec::new();
    let mut record = |name: &str, accesses: Vec<Access>| {
        let row = operation(name, &accesses, &roles);
        ops.push(row);
        accesses
    };
    // andrew has unread messages in the seed: his first reply marks them read.
    app.reply(sample::ANDREW_SUB, "a first reply, marking bayko's read").await.ok();
    record("a reply, when the sender had unread messages there (+ their read mark)", recorder.take());
    app.reply(sample::ANDREW_SUB, "a message of a typical length, about sixty characters long..").await.ok();
    let reply = record("a reply", recorder.take());
    let body = cruddur_devkit::client::reply("a keyed reply of a typical length, about sixty characters..");
    app.create_message_with_key(sample::ANDREW_SUB, "capacity-key-1", &body).await.ok();
    let keyed = record("a reply with an Idempotency-Key", recorder.take());
    app.create_message_with_key(sample::ANDREW_SUB, "capacity-key-1", &body).await.ok();
    record("that request retried (same key)", recorder.take());
    let stranger = new_user(&direct, &format!("cap{}", &uuid::Uuid::new_v4().simple().to_string()[..8]), now).await;
    let start = json!({"message": "a new message group", "handle": stranger.handle.as_str()});
    app.create_message(sample::ANDREW_SUB, &start).await.ok();
    let started = record("starting a message group", recorder.take());
    app.list_messages(sample::ANDREW_SUB, MESSAGE_GROUP_UUID, "").await.ok();
    record("reading the newest page, nothing unread", recorder.take());
    app.list_messages(sample::BAYKO_SUB, MESSAGE_GROUP_UUID, "").await.ok();
    record("reading the newest page, marking it read", recorder.take());
    app.reply(sample::ANDREW_SUB, "one more").await.ok();
    recorder.take();
    app.mark_read(sample::BAYKO_SUB, MESSAGE_GROUP_UUID).await.ok();
    record("POST .../read (something unread)", recorder.take());
    app.message_counter(sample::BAYKO_SUB).await.ok();
    record("GET /api/messages/counter", recorder.take());

    // Issue 29's changes: each a membership read and one transaction of
    // the message and its conversation; the key comes from the uuid.
    let sent_uuid = |a: cruddur_devkit::client::Answer| a.body["uuid"].as_str().unwrap_or_default().to_owned();
    let older =
        sent_uuid(app.reply(sample::ANDREW_SUB, "a message of a typical length, edited later, about 60..").await.ok());
    let latest =
        sent_uuid(app.reply(sample::ANDREW_SUB, "the latest message of a typical length, about sixty ch..").await.ok());
    recorder.take();
    let edit_text = "an edited message of a typical length, about sixty charac..";
    app.edit_message(sample::ANDREW_SUB, MESSAGE_GROUP_UUID, &older, edit_text).await.ok();
    let edit = record("an edit of an older message", recorder.take());
    app.edit_message(sample::ANDREW_SUB, MESSAGE_GROUP_UUID, &latest, edit_text).await.ok();
    let edit_latest = record("an edit of the latest message (the summary follows)", recorder.take());
    app.delete_message(sample::ANDREW_SUB, MESSAGE_GROUP_UUID, &latest).await.ok();
    let delete = record("a delete of the latest message, unread (summary and count follow)", recorder.take());
    app.mark_read(sample::BAYKO_SUB, MESSAGE_GROUP_UUID).await.ok();
    recorder.take();
    app.delete_message(sample::ANDREW_SUB, MESSAGE_GROUP_UUID, &older).await.ok();
    record("a delete of an older message, read", recorder.take());
    // By the same rules, a change never costs more than the reply it changes.
    for (name, change) in [("an edit", &edit), ("an edit of the latest", &edit_latest), ("a delete", &delete)] {
        let (c, r) = (model::total(change), model::total(&reply));
        if c.wru + c.index_wru > r.wru + r.index_wru || c.rru > r.rru {
            fail(format!("{name} costs more than a reply: {c:?} against {r:?}"));
        }
    }
    app.list_message_groups(sample::ANDREW_SUB, "").await.ok();
    record("GET /api/message_groups (one page)", recorder.take());

    // Issue 30: a block of someone the caller shares a group with (the
    // entry, the pair, the conversation), the list, lifting it; an export
    // page; deleting an account with a group and ten messages sent.
    app.block(sample::ANDREW_SUB, "@bayko").await.ok();
    record("a block (of a user one shares a group with)", recorder.take());
    app.blocks(sample::ANDREW_SUB, "").await.ok();
    record("GET /api/blocks (one entry)", recorder.take());
    app.unblock(sample::ANDREW_SUB, "@bayko").await.ok();
    record("lifting a block", recorder.take());
    app.export(sample::ANDREW_SUB, "limit=100").await.ok();
    record("an export page (100 messages of one group)", recorder.take());
    let leaver = new_user(&direct, &format!("bye{}", &uuid::Uuid::new_v4().simple().to_string()[..8]), now).await;
    let first = store
        .start_message_group(&leaver, &andrew.handle, cruddur_devkit::fixtures::text("hello"), now)
        .await
        .unwrap_or_else(|e| fail(e.to_string()));
    for n in 0..9 {
        let text = cruddur_devkit::fixtures::text(&format!("message {n} of a typical length, about sixty characters."));
        store.send_reply(&leaver, first.group, text, Timestamp::now()).await.unwrap_or_else(|e| fail(e.to_string()));
    }
    recorder.take();
    store.begin_account_deletion(leaver.uuid, Timestamp::now()).await.unwrap_or_else(|e| fail(e.to_string()));
    store.finish_account_deletion(leaver.uuid).await.unwrap_or_else(|e| fail(e.to_string()));
    record("deleting an account: one group, ten messages sent (the table's part)", recorder.take());

    // A sign-up: the two Cognito triggers.
    let handle = format!("new{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let email = format!("{handle}@example.com");
    let signup = events::pre_sign_up(&handle, "New Account", &email);
    let _ = cruddur_core::triggers::pre_sign_up(&store, signup).await;
    let sub = uuid::Uuid::new_v4().to_string();
    let confirmed = events::post_confirmation(&sub, &handle, "New Account", &email);
    let _ = cruddur_core::triggers::post_confirmation(&store, confirmed).await;
    record("a sign-up (PreSignUp + PostConfirmation)", recorder.take());

    // A WebSocket connection: the authorizer's lookup of the token's sub,
    // then $connect (the sample event: andrewbrown).
    let _ = store
        .user_by_cognito_sub(
            &cruddur_core::domain::CognitoSub::parse(sample::ANDREW_SUB)
                .unwrap_or_else(|_| fail("the sample sub".into())),
        )
        .await;
    let connect = serde_json::from_value(sample_json("websocket-connect.json"))
        .unwrap_or_else(|e| fail(format!("websocket-connect.json: {e}")));
    realtime::connect(&store, connect).await;
    record("a WebSocket connection (authorizer + $connect)", recorder.take());

    // The stream function's delivery of one message (the sample event), to
    // one connection of each member.
    seed::seed_sample_connections(&direct, now).await.unwrap_or_else(|e| fail(e.to_string()));
    let connections = ConnectionsStandIn::start().await;
    let stream: lambda_http::aws_lambda_events::dynamodb::Event =
        serde_json::from_value(sample_json("deliver-messages.json"))
            .unwrap_or_else(|e| fail(format!("deliver-messages.json: {e}")));
    let delivered = Delivery::new(store.clone(), connections.client().await).handle(stream, None).await;
    if !delivered.batch_item_failures.is_empty() {
        fail("the sample delivery failed".into());
    }
    let posts = connections.posts().len();
    record("delivering a message (the stream function, per message)", recorder.take());
    // A typing frame: forwarded, then one within the 2 s throttle (dropped).
    let typist = Delivery::push_only(store.clone(), connections.client().await, config.push_budget);
    let frame = || {
        serde_json::from_value(sample_json("websocket-typing.json"))
            .unwrap_or_else(|e| fail(format!("websocket-typing.json: {e}")))
    };
    realtime::typing(&typist, frame()).await;
    record("a typing frame, forwarded (to one connection)", recorder.take());
    realtime::typing(&typist, frame()).await;
    record("a typing frame within 2 s of the last (dropped)", recorder.take());
    let before_push = connections.posts().len();
    // The sender's push (issue 28): a reply by the app create-message runs,
    // which delivers it itself before answering (post-only); the stream's
    // delivery above still runs for it.
    let push = Delivery::push_only(store.clone(), connections.client().await, config.push_budget);
    let pusher = TestApp::pushing(store.clone(), push);
    pusher.reply(sample::ANDREW_SUB, "a pushed reply of a typical length, about sixty characters..").await.ok();
    let pushes = connections.posts().len() - before_push;
    record("a reply with the sender's push (the reply's requests + the push's reads)", recorder.take());

    let growth = growth(&direct, &recorder, &config, now).await;
    json!({
        "operations": ops,
        "scale": scale(&reply, &keyed, &started, posts + pushes, &roles),
        "growth": growth,
        "pushes_per_message": pushes,
        "websocket_message_price_per_million": WEBSOCKET_MESSAGE_PRICE_PER_MILLION,
        "write_price_per_million": WRITE_PRICE_PER_MILLION,
        "read_price_per_million": READ_PRICE_PER_MILLION,
    })
}

/// The sustained rates a reply's writes allow before a documented limit.
fn scale(reply: &[Access], keyed: &[Access], started: &[Access], posts: usize, roles: &[(String, &str)]) -> Value {
    let per_message = |accesses: &[Access]| {
        let c = model::total(accesses);
        c.wru + c.index_wru
    };
    let by = model::wcu_by_partition(reply, roles);
    let (one_recipient, recipient_limit) = model::partition_bound(&by, |pk| pk.contains("<recipient>"), true);
    let (one_conversation, conversation_limit) = model::partition_bound(&by, |_| true, false);
    let reply_wru = per_message(reply);
    // Requests to API Gateway per message: the POST, and per open
    // connection of the two members (one each here) the push's post and
    // the stream's.
    let gateway_requests = SPREAD_MESSAGES_PER_SECOND * (1.0 + posts as f64);
    json!({
        "reply_wru": reply_wru,
        "keyed_reply_wru": per_message(keyed),
        "start_wru": per_message(started),
        "reply_by_partition": by,
        "one_recipient_from_many_senders": {"messages_per_second": one_recipient, "bound_by": recipient_limit},
        "one_conversation": {"messages_per_second": one_conversation, "bound_by": conversation_limit},
        "spread": {
            "messages_per_second": SPREAD_MESSAGES_PER_SECOND,
            "table_wcu_per_second": SPREAD_MESSAGES_PER_SECOND * reply_wru,
            "table_wcu_quota": TABLE_WCU_QUOTA,
            "api_gateway_requests_per_second": gateway_requests,
            "account_requests_quota": ACCOUNT_REQUESTS_PER_SECOND,
            "posts_per_message": posts,
        },
    })
}

/// A message to a recipient with n unread conversations, for each measured
/// n: its write units and the largest item it writes; then the line
/// through the last two points, for where the 400 KB limit is reached.
async fn growth(direct: &Store, recorder: &Recorder, config: &cruddur_core::Config, now: Timestamp) -> Value {
    let store = cruddur_devkit::engines::local_store(config, &recorder.url).await;
    let mut points = Vec::new();
    for n in MEASURED_UNREAD {
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..6];
        let recipient = new_user(direct, &format!("r{tag}"), now).await;
        let mut last = None;
        for i in 0..n {
            let sender = new_user(direct, &format!("s{tag}x{i}"), now).await;
            let text = cruddur_core::domain::MessageText::parse("hello").unwrap_or_else(|e| fail(e.to_string()));
            let sent = direct
                .start_message_group(&sender, &recipient.handle, text, now)
                .await
                .unwrap_or_else(|e| fail(format!("start: {e}")));
            last = Some((sender, sent.group));
        }
        let Some((sender, group)) = last else { fail("no sender".into()) };
        recorder.take();
        let text =
            cruddur_core::domain::MessageText::parse("a message of a typical length, about sixty characters long..")
                .unwrap_or_else(|e| fail(e.to_string()));
        store.send_reply(&sender, group, text, Timestamp::now()).await.unwrap_or_else(|e| fail(format!("reply: {e}")));
        let accesses = recorder.take();
        let cost = model::total(&accesses);
        let largest = accesses
            .iter()
            .filter(|a| !matches!(a.kind, model::Kind::StrongRead | model::Kind::EventualRead))
            .max_by_key(|a| a.before.max(a.after));
        let (largest_bytes, largest_pk) = largest
            .map(|a| (a.before.max(a.after), model::label(&a.pk, &[(recipient.uuid.to_string(), "recipient")])))
            .unwrap_or_default();
        points.push(json!({
            "unread_conversations": n,
            "wru": cost.wru + cost.index_wru,
            "largest_item_bytes": largest_bytes,
            "largest_item": largest_pk,
        }));
    }
    let at = |i: usize, field: &str| points[i][field].as_f64().unwrap_or(0.0);
    let last = MEASURED_UNREAD.len() - 1;
    let (n0, n1) = (MEASURED_UNREAD[last - 1] as f64, MEASURED_UNREAD[last] as f64);
    let slope = (at(last, "largest_item_bytes") - at(last - 1, "largest_item_bytes")) / (n1 - n0);
    // Flat (a byte or two between the points is a number's digits): no limit.
    let limit = if slope > 0.01 {
        Some(((model::MAX_ITEM_BYTES as f64 - at(last, "largest_item_bytes")) / slope + n1).floor())
    } else {
        None
    };
    json!({
        "measured": points,
        "bytes_per_unread_conversation": slope,
        "unread_conversations_at_the_item_size_limit": limit,
    })
}

/// The model's tables.
pub fn markdown(capacity: &Value) -> String {
    let mut out = String::from(
        "\n### Capacity model (priced by AWS's rules from the items the real code reads and writes)\n\n\
         | operation | requests | items | WRU (table) | WRU (index) | RRU | largest item written (bytes) | $ per million |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in capacity["operations"].as_array().into_iter().flatten() {
        let requests: Vec<&str> = r["requests"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.2} |\n",
            r["operation"].as_str().unwrap_or("?"),
            requests.join(", "),
            r["items"],
            r["wru"],
            r["index_wru"],
            r["rru"],
            r["largest_item_written"],
            r["dollars_per_million"].as_f64().unwrap_or(0.0),
        ));
    }
    let scale = &capacity["scale"];
    out.push_str("\nA reply's write units by partition key (a global index's as `index:partition`; a `#<shard>` partition takes 1/SHARDS of one recipient's messages from many conversations, all of one conversation's):\n\n| partition key | WCU per message | messages/s of one conversation before 1,000 WCU/s |\n| --- | ---: | ---: |\n");
    for (pk, wcu) in scale["reply_by_partition"].as_object().into_iter().flatten() {
        let wcu = wcu.as_f64().unwrap_or(0.0);
        out.push_str(&format!("| `{pk}` | {wcu} | {:.0} |\n", model::PARTITION_WCU_PER_SECOND / wcu));
    }
    for (what, key) in [
        ("One recipient receiving from many senders", "one_recipient_from_many_senders"),
        ("One conversation, one direction", "one_conversation"),
    ] {
        out.push_str(&format!(
            "\n{what}: {:.0} messages/s before `{}` reaches a partition's 1,000 WCU/s.",
            scale[key]["messages_per_second"].as_f64().unwrap_or(0.0),
            scale[key]["bound_by"].as_str().unwrap_or("?"),
        ));
    }
    out.push('\n');
    let spread = &scale["spread"];
    out.push_str(&format!(
        "\n10,000 messages/s over many users: {} WCU/s of the table's default {} WCU/s quota; {} requests/s to API Gateway \
         (the POST and {} posts a message: the sender's push and the stream's delivery) against the account's {} requests/s.\n",
        spread["table_wcu_per_second"], spread["table_wcu_quota"], spread["api_gateway_requests_per_second"],
        spread["posts_per_message"], spread["account_requests_quota"],
    ));
    let pushes = capacity["pushes_per_message"].as_f64().unwrap_or(0.0);
    out.push_str(&format!(
        "\nThe stream's second post of a pushed message (one per open connection of the two members, {pushes} here; \
         clients drop it by `uuid`): ${:.2} per million messages at ${} per million WebSocket messages.\n",
        pushes * WEBSOCKET_MESSAGE_PRICE_PER_MILLION,
        WEBSOCKET_MESSAGE_PRICE_PER_MILLION,
    ));
    let growth = &capacity["growth"];
    out.push_str("\nA reply to a recipient with n unread conversations:\n\n| n | WRU | largest item written | its bytes |\n| ---: | ---: | --- | ---: |\n");
    for p in growth["measured"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "| {} | {} | `{}` | {} |\n",
            p["unread_conversations"],
            p["wru"],
            p["largest_item"].as_str().unwrap_or("?"),
            p["largest_item_bytes"]
        ));
    }
    let slope = growth["bytes_per_unread_conversation"].as_f64().unwrap_or(0.0);
    out.push_str(&match growth["unread_conversations_at_the_item_size_limit"].as_f64() {
        Some(n) => format!(
            "\n{slope:.1} bytes per unread conversation (between the last two points); the largest item reaches 400 KB at {n} unread conversations.\n"
        ),
        None => format!("\n{slope:.3} bytes per unread conversation (between the last two points): flat, no item grows with them.\n"),
    });
    out
}
