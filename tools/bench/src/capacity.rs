//! Capacity units per operation, as the engine reports them
//! (`ReturnConsumedCapacity = TOTAL` on every request of a metered store):
//! each route through the functions' own handlers (the sample events, with a
//! warm caller cache as a warm function has), a message sent, a message group
//! started, a sign-up confirmed. And what a million of them cost at on-demand
//! prices, beside the original design's figures.

use cruddur_core::api::{self, App};
use cruddur_core::domain::{DisplayName, Email, Handle, NewProfile, Timestamp};
use cruddur_core::store::Usage;
use cruddur_core::Store;
use cruddur_devkit::events::{self, ApiEvent};
use serde_json::{json, Value};

const CALLS: u32 = 20;

/// On-demand throughput prices, us-east-1, Standard table class, in force
/// since the price reduction of 1 November 2024 (the DynamoDB pricing page,
/// "Pricing for On-Demand Capacity"): dollars per million request units.
pub const WRITE_PRICE_PER_MILLION: f64 = 0.625;
pub const READ_PRICE_PER_MILLION: f64 = 0.125;

fn fail(message: String) -> ! {
    eprintln!("error: capacity run: {message}");
    std::process::exit(1)
}

/// The average usage per call between two readings of a meter.
fn per_call(before: Usage, after: Usage, calls: usize) -> Usage {
    let calls = calls.max(1);
    Usage {
        requests: (after.requests - before.requests) / calls as u64,
        read_units: (after.read_units - before.read_units) / calls as f64,
        write_units: (after.write_units - before.write_units) / calls as f64,
    }
}

/// `events` through the routes' handlers, after `warm` has put the caller
/// in the cache (as in a warm function); the average usage per event.
async fn through_handlers(store: &Store, warm: ApiEvent, events: Vec<ApiEvent>) -> Usage {
    let request = |event: &ApiEvent| event.request().unwrap_or_else(|e| fail(format!("not an HTTP API event: {e}")));
    let (metered, meter) = store.metered();
    let app = App::new(metered);
    let _ = api::dispatch(&app, request(&warm)).await;
    let before = meter.usage();
    for event in &events {
        let response = api::dispatch(&app, request(event)).await.unwrap_or_else(|e| match e {});
        if response.status() != 200 {
            fail(format!("{} answered {}", event.json()["routeKey"], response.status()));
        }
    }
    per_call(before, meter.usage(), events.len())
}

fn row(operation: &str, usage: Usage) -> Value {
    let cost = usage.write_units * WRITE_PRICE_PER_MILLION + usage.read_units * READ_PRICE_PER_MILLION;
    json!({
        "operation": operation,
        "requests": usage.requests,
        "read_units": usage.read_units,
        "write_units": usage.write_units,
        "dollars_per_million": cost,
    })
}

/// Runs every operation on `store` (seeded with the sample fixture).
pub async fn run(store: &Store) -> Value {
    let mut rows = Vec::new();
    for (operation, file) in [
        ("GET /api/message_groups (one page)", "list-message-groups.json"),
        ("GET /api/messages/{uuid} (one page of 20)", "list-messages.json"),
        ("GET /api/users/@{handle}/short", "users-short.json"),
        ("GET /api/messages/counter", "message-counter.json"),
        ("POST /api/messages, a reply", "create-message-reply.json"),
    ] {
        let event = ApiEvent::sample(file);
        let events = vec![event.clone(); CALLS as usize];
        rows.push(row(operation, through_handlers(store, event, events).await));
    }

    // A reply with an Idempotency-Key (a new key each time), then the same
    // request repeated (a client's retry: answered from the key's record).
    let keyed: Vec<ApiEvent> = (0..CALLS)
        .map(|i| {
            ApiEvent::sample("create-message-reply.json")
                .header("Idempotency-Key", &format!("cap-{i}-{}", uuid::Uuid::new_v4()))
        })
        .collect();
    let warm = ApiEvent::sample("list-message-groups.json");
    rows.push(row(
        "POST /api/messages, a reply with an Idempotency-Key",
        through_handlers(store, warm.clone(), keyed.clone()).await,
    ));
    rows.push(row("POST /api/messages, that request retried (same key)", through_handlers(store, warm, keyed).await));

    // A message group started: a new recipient each time.
    let now = Timestamp::now();
    let mut events = Vec::new();
    for i in 0..CALLS {
        let handle = format!("cap{}x{i}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let new = NewProfile {
            handle: Handle::parse(&handle).unwrap_or_else(|e| fail(format!("{handle}: {e}"))),
            display_name: DisplayName::parse("Capacity Probe").unwrap_or_else(|e| fail(e.to_string())),
            email: Email::parse(&format!("{handle}@example.com")).unwrap_or_else(|e| fail(e.to_string())),
            cognito_sub: None,
        };
        store.create_profile(new, now).await.unwrap_or_else(|e| fail(e.to_string()));
        let body = json!({"message": "a new message group", "handle": handle});
        events.push(ApiEvent::sample("create-message-new.json").json_body(&body));
    }
    let started = through_handlers(store, ApiEvent::sample("list-message-groups.json"), events).await;
    rows.push(row("POST /api/messages, starting a message group", started));

    // PostConfirmation: a new account's profile, handle claim and link.
    let (metered, meter) = store.metered();
    let before = meter.usage();
    for i in 0..CALLS {
        let sub = uuid::Uuid::new_v4().to_string();
        let handle = format!("new{}x{i}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let event = events::post_confirmation(&sub, &handle, "New Account", &format!("{handle}@example.com"));
        if let Err(e) = cruddur_core::triggers::post_confirmation(&metered, event).await {
            fail(format!("post confirmation: {e}"));
        }
    }
    rows.push(row("Cognito PostConfirmation (a sign-up)", per_call(before, meter.usage(), CALLS as usize)));
    json!({
        "calls_per_operation": CALLS,
        "write_price_per_million": WRITE_PRICE_PER_MILLION,
        "read_price_per_million": READ_PRICE_PER_MILLION,
        "rows": rows,
    })
}

/// The table, and a caution: DynamoDB Local reports 2 units for any
/// TransactWriteItems (plus its index writes), where DynamoDB charges 2 per
/// item; docs/benchmarks.md turns the items written into AWS's figures.
pub fn markdown(capacity: &Value) -> String {
    let mut out = String::from(
        "\n| operation | requests | read units | write units (as the engine reports them) | $ per million at those units |\n| --- | ---: | ---: | ---: | ---: |\n",
    );
    out.insert_str(
        0,
        "\nCapacity units per operation (DynamoDB Local under-reports transactional writes: see docs/benchmarks.md)\n",
    );
    for r in capacity["rows"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {:.3} |\n",
            r["operation"].as_str().unwrap_or("?"),
            r["requests"],
            r["read_units"].as_f64().unwrap_or(0.0),
            r["write_units"].as_f64().unwrap_or(0.0),
            r["dollars_per_million"].as_f64().unwrap_or(0.0),
        ));
    }
    out
}
