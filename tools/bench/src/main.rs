//! `cruddur-bench`: the Rust functions against the Python baseline, run as
//! Lambda runs them (a process talking to a Runtime API endpoint), side by
//! side in one run, on the same table behind the same local DynamoDB server.
//! Reports; never asserts timings. See `scripts/bench`.

mod capacity;
mod figures;
mod model;
mod proxy;
mod realtime;
mod runtime_api;
mod scaling;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use cruddur_core::domain::Timestamp;
use cruddur_core::store::MESSAGES_TABLE;
use cruddur_core::{Config, Store};
use cruddur_devkit::seed::{self, SeedOptions};
use hyper::body::Bytes;

use crate::figures::{Figures, Report};
use crate::runtime_api::{Invocation, RuntimeApi};

#[derive(Parser)]
#[command(name = "cruddur-bench", about = "Benchmark the Rust functions against the Python baseline")]
struct Args {
    /// Warm invocations per function.
    #[arg(long, default_value_t = 1000)]
    invocations: usize,
    /// Cold starts per function.
    #[arg(long, default_value_t = 5)]
    cold_runs: usize,
    /// Where results go (results.json, results.md, the plot).
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Skip the Python baseline (Rust figures only).
    #[arg(long)]
    no_baseline: bool,
    /// Also run the scaling run with these history sizes (comma-separated).
    #[arg(long, value_delimiter = ',')]
    scaling: Vec<usize>,
    /// Only the scaling run.
    #[arg(long)]
    scaling_only: bool,
    /// Only the capacity model (the real code in process, recorded and
    /// priced: any build profile gives the same units).
    #[arg(long, alias = "capacity-only")]
    capacity: bool,
    /// Also measure realtime delivery over this many messages (needs the
    /// local Cognito too, and the cruddur-local-api binary beside this one).
    #[arg(long, default_value_t = 0)]
    realtime: usize,
    /// Only the realtime measurement.
    #[arg(long)]
    realtime_only: bool,
    /// How often the local stream is read (Lambda's event source mapping
    /// polls a shard four times a second).
    #[arg(long, default_value_t = 250)]
    realtime_poll_ms: u64,
}

/// One function under test.
pub struct Function {
    pub name: &'static str,
    pub event: &'static str,
    pub python: &'static str,
}

const FUNCTIONS: &[Function] = &[
    Function { name: "list-message-groups", event: "list-message-groups.json", python: "handlers.list_message_groups" },
    Function { name: "list-messages", event: "list-messages.json", python: "handlers.list_messages" },
    Function { name: "users-short", event: "users-short.json", python: "handlers.users_short" },
    // Last: it grows the message group the reads above page through.
    Function { name: "create-message", event: "create-message-reply.json", python: "handlers.create_message" },
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Runtime {
    Rust,
    Python,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fail(message: String) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| {
        fail(
            "AWS_ENDPOINT_URL_DYNAMODB must name the local DynamoDB engine (scripts/bench starts DynamoDB Local)"
                .into(),
        )
    });
    let realtime = if args.realtime > 0 || args.realtime_only {
        let local_api = std::env::current_exe()
            .map(|exe| exe.with_file_name("cruddur-local-api"))
            .unwrap_or_else(|e| fail(format!("cannot find this program: {e}")));
        let messages = if args.realtime > 0 { args.realtime } else { 200 };
        eprintln!("measuring realtime delivery ({messages} messages)");
        let section = realtime::run(&local_api, messages, args.realtime_poll_ms)
            .await
            .unwrap_or_else(|e| fail(format!("realtime: {e}")));
        println!("{section}");
        std::fs::create_dir_all(&args.out).unwrap_or_else(|e| fail(format!("{}: {e}", args.out.display())));
        let _ = std::fs::write(args.out.join("realtime.md"), &section);
        if args.realtime_only {
            return;
        }
        Some(section)
    } else {
        None
    };
    let (config, _) = seeded_table(&endpoint).await;
    let table = config.table.clone();
    let proxy = proxy::start(&endpoint).await.unwrap_or_else(|e| fail(format!("proxy: {e}")));
    let api = RuntimeApi::start().await.unwrap_or_else(|e| fail(format!("runtime api: {e}")));
    // create-message pushes each message (issue 28): to a stand-in of the
    // @connections API. No connection is open in the bench's table, so its
    // push is the reads that find none (the Python original has no push).
    let connections = cruddur_devkit::connections::ConnectionsStandIn::start().await;
    let env = Env {
        runtime_api: api.address.to_string(),
        endpoint: format!("http://{}", proxy.address),
        table,
        connections: connections.url.clone(),
    };

    let mut report = Report::default();
    let functions = if args.scaling_only || args.capacity { &[][..] } else { FUNCTIONS };
    for function in functions {
        let event = std::fs::read(root().join("events").join(function.event))
            .unwrap_or_else(|e| fail(format!("events/{}: {e}", function.event)));
        let event = Bytes::from(event);
        let runtimes: &[Runtime] = if args.no_baseline { &[Runtime::Rust] } else { &[Runtime::Rust, Runtime::Python] };
        for runtime in runtimes {
            eprintln!("measuring {} ({runtime:?})", function.name);
            let figures = measure(&api, &proxy.counts, &env, function, *runtime, &event, &args).await;
            report.add(function.name, *runtime, figures);
        }
    }
    if !args.scaling_only {
        eprintln!("measuring capacity units per operation");
        // A table of its own: the baseline wrote the original design's items
        // into the first one, which this code does not read.
        report.capacity = Some(capacity::run(&endpoint).await);
    }
    if !args.scaling.is_empty() {
        // Seeding 100,000 items queues many writes: give the engine time.
        let patient = Config {
            operation_timeout: Duration::from_secs(120),
            attempt_timeout: Duration::from_secs(60),
            ..config.clone()
        };
        report.scaling =
            scaling::run(&cruddur_devkit::engines::local_store(&patient, &endpoint).await, &args.scaling).await;
    }
    std::fs::create_dir_all(&args.out).unwrap_or_else(|e| fail(format!("{}: {e}", args.out.display())));
    let mut markdown = report.markdown();
    if let Some(section) = realtime {
        markdown.push('\n');
        markdown.push_str(&section);
    }
    println!("{markdown}");
    let _ = std::fs::write(args.out.join("results.md"), &markdown);
    let _ = std::fs::write(args.out.join("results.json"), report.json().to_string());
}

/// A new table with the production definition and the sample fixture.
async fn seeded_table(endpoint: &str) -> (Config, Store) {
    let config = Config { table: format!("bench-{}", uuid::Uuid::new_v4().simple()), ..Config::default() };
    let store = cruddur_devkit::engines::local_store(&config, endpoint).await;
    if let Err(e) = MESSAGES_TABLE.create_without_stream(store.client(), store.table()).await {
        fail(format!("cannot create the table: {e}"));
    }
    let options = SeedOptions { extra_message_groups: 0, link_sample_subs: true };
    if let Err(e) = seed::seed(&store, Timestamp::now(), options, &|_| {}).await {
        fail(format!("cannot seed: {e}"));
    }
    (config, store)
}

struct Env {
    runtime_api: String,
    endpoint: String,
    table: String,
    /// The @connections stand-in create-message pushes to.
    connections: String,
}

fn spawn(env: &Env, function: &Function, runtime: Runtime) -> Child {
    let mut command = match runtime {
        Runtime::Rust => Command::new(root().join("target/release").join(function.name)),
        Runtime::Python => {
            let mut c = Command::new(root().join(".venv/bin/python"));
            c.args(["-m", "awslambdaric", function.python]).current_dir(root().join("tools/bench/baseline"));
            c
        }
    };
    command
        .env("AWS_LAMBDA_RUNTIME_API", &env.runtime_api)
        .env_remove("AWS_ENDPOINT_URL")
        .env("AWS_ENDPOINT_URL_DYNAMODB", &env.endpoint)
        .env("DDB_MESSAGE_TABLE", &env.table)
        .env("WEBSOCKET_ENDPOINT", &env.connections)
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_LAMBDA_FUNCTION_NAME", function.name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_LEVEL", "WARN")
        .stdout(Stdio::null())
        .stderr(if std::env::var_os("CRUDDUR_BENCH_VERBOSE").is_some() { Stdio::inherit() } else { Stdio::null() })
        .spawn()
        .unwrap_or_else(|e| fail(format!("cannot start {} ({runtime:?}): {e}", function.name)))
}

/// Hands one event to the waiting function and waits for its answer, which
/// must be a 200 (anything else ends the benchmark). Returns the time from
/// handing the event over to the answer, and when the function was ready.
async fn invoke(api: &RuntimeApi, event: &Bytes, id: usize) -> (Duration, Instant) {
    let request_id = format!("req-{id}");
    let mut invocation = Invocation { request_id: request_id.clone(), event: event.clone() };
    let (ready, handed) = loop {
        let waiting = tokio::time::timeout(Duration::from_secs(60), api.next_waiting())
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| fail("the function never asked for an event".into()));
        let ready = waiting.since;
        match waiting.hand(invocation) {
            Ok(handed) => break (ready, handed),
            // A stopped process's request: wait for the live one.
            Err(back) => invocation = back,
        }
    };
    let answer = tokio::time::timeout(Duration::from_secs(60), api.next_answer())
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| fail("the function never answered".into()));
    let status = serde_json::from_slice::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|v| v["statusCode"].as_u64())
        .unwrap_or(0);
    if answer.request_id != request_id {
        fail(format!("answer for {} while waiting for {request_id}", answer.request_id));
    }
    if !answer.ok || status != 200 {
        fail(format!("invocation {id} failed: {}", String::from_utf8_lossy(&answer.body)));
    }
    (answer.at - handed, ready)
}

async fn measure(
    api: &Arc<RuntimeApi>,
    counts: &proxy::Counts,
    env: &Env,
    function: &Function,
    runtime: Runtime,
    event: &Bytes,
    args: &Args,
) -> Figures {
    let mut figures = Figures::default();
    for run in 0..args.cold_runs {
        api.drain().await;
        let started = Instant::now();
        let mut child = spawn(env, function, runtime);
        counts.take();
        let (first, ready) = invoke(api, event, run).await;
        figures.cold_start.push(ready - started);
        figures.first_invocation.push(first);
        figures.first_requests = counts.take().values().sum();
        let _ = child.kill();
        let _ = child.wait();
    }
    api.drain().await;
    let mut child = spawn(env, function, runtime);
    for i in 0..3 {
        invoke(api, event, 1_000_000 + i).await; // warm-up
    }
    counts.take();
    let cpu_before = figures::cpu_time(child.id());
    let engine = std::env::var("DYNAMODB_LOCAL_PID").ok().and_then(|p| p.parse::<u32>().ok());
    let engine_before = engine.map(figures::cpu_time);
    for i in 0..args.invocations {
        let (latency, _) = invoke(api, event, 2_000_000 + i).await;
        figures.warm.push(latency);
    }
    // The function is back waiting for an event: its CPU time has settled.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let cpu_after = figures::cpu_time(child.id());
    figures.cpu_per_call = (cpu_after - cpu_before) / args.invocations as u32;
    figures.engine_cpu_per_call =
        engine.zip(engine_before).map(|(pid, before)| (figures::cpu_time(pid) - before) / args.invocations as u32);
    let requests = counts.take();
    figures.requests_per_call = requests.values().sum::<u64>() as f64 / args.invocations as f64;
    figures.request_kinds = requests.keys().cloned().collect();
    figures.peak_rss_kb = figures::peak_rss_kb(child.id());
    let _ = child.kill();
    let _ = child.wait();
    figures.artifact_bytes = figures::artifact_bytes(&root(), function, runtime);
    figures
}
