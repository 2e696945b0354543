//! Does a page cost more as history grows? list-messages and
//! list-message-groups, in process (the functions' own code), with 10 ... N
//! messages in one message group and N message groups for one user: latency,
//! the read capacity DynamoDB reports, and how the time splits between this
//! code and the engine (DynamoDB Local's CPU time, from /proc, when DYNAMODB_LOCAL_PID is set).

use std::time::{Duration, Instant};

use cruddur_core::domain::{
    Content, DisplayName, GroupUuid, Handle, Message, MessageGroup, MessageKey, MessageText, MessageUuid, PageRequest,
    Timestamp, UserSummary, UserUuid,
};
use cruddur_core::Store;
use cruddur_devkit::seed::{ensure_user, SeedUser};
use serde_json::{json, Value};

use crate::figures::{cpu_time, percentile};

const CALLS: usize = 20;

fn engine_pid() -> Option<u32> {
    std::env::var("DYNAMODB_LOCAL_PID").ok()?.parse().ok()
}

fn own_cpu() -> Duration {
    cpu_time(std::process::id())
}

async fn timed<F, Fut>(store: &Store, mut call: F) -> Value
where
    F: FnMut(Store) -> Fut,
    Fut: std::future::Future<Output = Result<(), cruddur_core::Error>>,
{
    let (metered, meter) = store.metered();
    let (engine_before, own_before) = (engine_pid().map(cpu_time), own_cpu());
    let mut latencies = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        if let Err(e) = call(metered.clone()).await {
            // A failed call would make the figures meaningless.
            eprintln!("error: a scaling call failed: {e}");
            std::process::exit(1);
        }
        latencies.push(started.elapsed());
    }
    let usage = meter.usage();
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / CALLS as f64;
    json!({
        "p50_ms": percentile(&latencies, 50.0).as_secs_f64() * 1000.0,
        "read_units_per_call": usage.read_units / CALLS as f64,
        "requests_per_call": usage.requests as f64 / CALLS as f64,
        "this_code_cpu_ms_per_call": per(own_cpu() - own_before),
        "engine_cpu_ms_per_call": engine_before.zip(engine_pid().map(cpu_time)).map(|(b, a)| per(a - b)),
    })
}

fn user(n: usize) -> UserSummary {
    UserSummary {
        uuid: UserUuid::random(),
        handle: Handle::parse(&format!("other{n}")).unwrap_or_else(|_| unreachable!()),
        display_name: DisplayName::parse(&format!("Other {n}")).unwrap_or_else(|_| unreachable!()),
    }
}

/// `store` must have time budgets that fit seeding 100,000 items into a local
/// engine on a small machine.
pub async fn run(store: &Store, sizes: &[usize]) -> Option<Value> {
    let mut results = Vec::new();
    let text = MessageText::parse("a message of a typical length, about sixty characters long..").ok()?;
    let start = Timestamp::parse("2020-01-01T00:00:00.000000Z").ok()?;
    for (i, &size) in sizes.iter().enumerate() {
        eprintln!("scaling: {size} messages / message groups");
        let (a_handle, b_handle) = (format!("scale{i}a"), format!("scale{i}b"));
        let seed_user = |handle| SeedUser {
            handle,
            display_name: "Scale",
            email: "scale@example.com",
            sample_sub: "",
            sample_uuid: "",
        };
        let (a, b) = (seed_user(&a_handle), seed_user(&b_handle));
        let (a, _) = ensure_user(store, &a, start).await.ok()?;
        let (b, _) = ensure_user(store, &b, start).await.ok()?;
        let first = store.start_message_group(&a, &b.handle, text.clone(), start).await.ok()?;
        let at = |n: usize| Timestamp::from_unix_micros(start.unix_micros() + n as i64 * 1_000_000);
        let messages: Vec<Message> = (1..size)
            .filter_map(|n| {
                Some(Message {
                    uuid: MessageUuid::random(),
                    group: first.group,
                    sender: a.clone(),
                    content: Content::Text(text.clone()),
                    edited_at: None,
                    created_at: at(n)?,
                })
            })
            .collect();
        let load = Instant::now();
        store.import_messages(&messages).await.ok()?;
        let rows: Vec<MessageGroup> = (1..size)
            .filter_map(|n| {
                let at = at(n)?;
                Some(MessageGroup {
                    uuid: GroupUuid::random(),
                    owner: a.uuid,
                    other: user(n),
                    last_message: Content::Text(text.clone()),
                    other_read: None,
                    last_activity: MessageKey { at, uuid: MessageUuid::random() },
                    unread: 0,
                })
            })
            .collect();
        store.import_conversations(&a, &rows).await.ok()?;
        let load_secs = load.elapsed().as_secs_f64();
        let group = first.group;
        let messages =
            timed(store, |s| async move { s.list_messages(a.uuid, group, PageRequest::default()).await.map(|_| ()) })
                .await;
        let groups =
            timed(store, |s| async move { s.list_message_groups(a.uuid, PageRequest::default()).await.map(|_| ()) })
                .await;
        results.push(
            json!({"size": size, "load_seconds": load_secs, "list_messages": messages, "list_message_groups": groups}),
        );
    }
    Some(Value::Array(results))
}

pub fn markdown(scaling: &Value) -> String {
    let mut out = String::from(
        "\n| history size | route | p50 ms (in process) | read units per page | requests per page | this code CPU ms | engine CPU ms |\n| ---: | --- | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for row in scaling.as_array().into_iter().flatten() {
        for route in ["list_messages", "list_message_groups"] {
            let r = &row[route];
            let engine = r["engine_cpu_ms_per_call"].as_f64().map(|v| format!("{v:.2}")).unwrap_or("-".into());
            out.push_str(&format!(
                "| {} | {route} | {:.2} | {} | {} | {:.2} | {engine} |\n",
                row["size"],
                r["p50_ms"].as_f64().unwrap_or(0.0),
                r["read_units_per_call"],
                r["requests_per_call"],
                r["this_code_cpu_ms_per_call"].as_f64().unwrap_or(0.0)
            ));
        }
    }
    out
}
