//! Realtime latency, locally: from the moment a POST /api/messages has
//! answered 200 to the moment the other member's WebSocket client has the
//! frame, over the whole local stack (`cruddur-local-api`: the HTTP API, the
//! table's stream read as Lambda's event source mapping reads it, the
//! delivery code posting through the management API's SDK client to the
//! local WebSocket endpoint). The baseline, measured in the same run, is the
//! POST's own round trip. Sends are spaced by a random pause of up to one
//! poll interval, so that they land at random moments between polls, as a
//! user's do. Reports only.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cruddur_core::domain::Timestamp;
use cruddur_core::Config;
use cruddur_devkit::cognito::{self as dev, LOCAL_PASSWORD};
use cruddur_devkit::engines::{cognito_endpoint, dynamodb_endpoint, engine_env, local_cognito, local_store};
use cruddur_devkit::seed::MESSAGE_GROUP_UUID;
use cruddur_devkit::socket::Socket;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

/// The local API process; killed when dropped.
struct LocalApi(Child);

impl Drop for LocalApi {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// p50 and p99 of `samples` in milliseconds.
fn percentiles(samples: &mut [f64]) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples.get(((samples.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN);
    (at(0.50), at(0.99))
}

/// Runs `messages` sends from andrewbrown to bayko, bayko connected; the
/// stream read every `poll_ms`. Returns the Markdown section.
pub async fn run(local_api: &Path, messages: usize, poll_ms: u64) -> Result<String, String> {
    let table = format!("bench-realtime-{}", uuid::Uuid::new_v4().simple());
    let config = Config { table: table.clone(), ..Config::default() };
    let store = local_store(&config, &dynamodb_endpoint()).await;
    let cognito = local_cognito(&config, &cognito_endpoint()).await;
    let local = dev::setup_in_pool(&cognito, &store, Timestamp::now(), &table).await.map_err(|e| e.to_string())?;
    let mut child = Command::new(local_api)
        .args(["--port", "0", "--ws-port", "0", "--stream-poll-ms", &poll_ms.to_string()])
        .envs(engine_env())
        .env("DDB_MESSAGE_TABLE", &table)
        .env("CRUDDUR_USER_POOL_ID", &local.pool_id)
        .env("CRUDDUR_CLIENT_ID", &local.client_id)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", local_api.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let _api = LocalApi(child);
    let mut stdout = BufReader::new(stdout);
    let mut lines = Vec::new();
    for _ in 0..2 {
        let mut line = String::new();
        stdout.read_line(&mut line).map_err(|e| e.to_string())?;
        lines.push(line.trim().rsplit(' ').next().unwrap_or_default().to_owned());
    }
    let (base, ws) = (lines[0].clone(), lines[1].clone());

    let sign_in = |email: &'static str| {
        let cognito = cognito.clone();
        let client_id = local.client_id.clone();
        async move { dev::sign_in(&cognito, &client_id, email, LOCAL_PASSWORD).await.map_err(|e| e.to_string()) }
    };
    let andrew = sign_in("andrew@example.com").await?.access_token;
    let bayko = sign_in("bayko@example.com").await?.access_token;
    let mut socket = Socket::connect(&ws, Some(&bayko)).await.map_err(|s| format!("bayko's connection: {s}"))?;

    let http: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut round_trips = Vec::with_capacity(messages);
    let mut latencies = Vec::with_capacity(messages);
    for n in 0..messages {
        // Sends at random moments relative to the stream's polls (sending
        // right after the previous frame arrived, i.e. right after a poll,
        // would make every message wait a whole interval).
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..=poll_ms))).await;
        let body = json!({"message": format!("bench {n}"), "message_group_uuid": MESSAGE_GROUP_UUID}).to_string();
        let request = hyper::Request::post(format!("{base}/api/messages"))
            .header("authorization", format!("Bearer {andrew}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let response = http.request(request).await.map_err(|e| e.to_string())?;
        let status = response.status();
        let answer = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        let answered = Instant::now();
        if status != 200 {
            return Err(format!("POST /api/messages: {status}"));
        }
        let sent: Value = serde_json::from_slice(&answer).map_err(|e| e.to_string())?;
        loop {
            let event = socket
                .next_event(Duration::from_secs(10))
                .await
                .map_err(|why| format!("message {n} never arrived: {why:?}"))?;
            if event["uuid"] == sent["uuid"] {
                break;
            }
        }
        let arrived = Instant::now();
        round_trips.push((answered - started).as_secs_f64() * 1000.0);
        // A frame that came before the answer was read counts as 0.
        latencies.push(arrived.saturating_duration_since(answered).as_secs_f64() * 1000.0);
    }
    let (post_p50, post_p99) = percentiles(&mut round_trips);
    let (p50, p99) = percentiles(&mut latencies);
    Ok(format!(
        "## Realtime delivery (local, {messages} messages, stream read every {poll_ms} ms)\n\n\
         | measure | p50 ms | p99 ms | p50 / baseline |\n|---|---:|---:|---:|\n\
         | baseline: POST /api/messages round trip | {post_p50:.1} | {post_p99:.1} | 1.00 |\n\
         | POST answered -> frame at the other member | {p50:.1} | {p99:.1} | {:.2} |\n",
        p50 / post_p50
    ))
}
