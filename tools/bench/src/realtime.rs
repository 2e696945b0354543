//! Realtime latency, locally: from the moment a POST /api/messages has
//! answered 200 to the moment the other member's WebSocket client has the
//! frame, over the whole local stack (`cruddur-local-api`: the HTTP API, the
//! table's stream read as Lambda's event source mapping reads it, the
//! delivery code posting through the management API's SDK client to the
//! local WebSocket endpoint), once with the stream only and once with the
//! send's own push (issue 28). The baseline, measured in the same run, is the
//! POST's own round trip with the stream only. Sends are spaced by a random pause of up to one
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

/// What one pass measured, in milliseconds: (p50, p99) of the POST's round
/// trip, of POST sent -> frame, and of POST answered -> frame.
struct Pass {
    post: (f64, f64),
    sent_to_frame: (f64, f64),
    answered_to_frame: (f64, f64),
}

/// Two passes of `messages` sends from andrewbrown to bayko, bayko
/// connected, the stream read every `poll_ms`: the stream only (the local
/// API's `--no-push`, the baseline), then with the send's own push. Returns
/// the Markdown section.
pub async fn run(local_api: &Path, messages: usize, poll_ms: u64) -> Result<String, String> {
    let stream = pass(local_api, messages, poll_ms, false).await?;
    let push = pass(local_api, messages, poll_ms, true).await?;
    let row = |name: &str, (p50, p99): (f64, f64), base: f64| {
        format!("| {name} | {p50:.1} | {p99:.1} | {:.2} |\n", p50 / base)
    };
    let base = stream.post.0;
    Ok(format!(
        "## Realtime delivery (local, {messages} messages per pass, stream read every {poll_ms} ms)\n\n\
         | measure | p50 ms | p99 ms | p50 / baseline |\n|---|---:|---:|---:|\n{}{}{}{}{}{}",
        row("baseline: POST /api/messages round trip, stream only", stream.post, base),
        row("stream only: POST sent -> frame at the other member", stream.sent_to_frame, base),
        row("stream only: POST answered -> frame at the other member", stream.answered_to_frame, base),
        row("with the push: POST /api/messages round trip", push.post, base),
        row("with the push: POST sent -> frame at the other member", push.sent_to_frame, base),
        row("with the push: POST answered -> frame at the other member", push.answered_to_frame, base),
    ))
}

async fn pass(local_api: &Path, messages: usize, poll_ms: u64, push: bool) -> Result<Pass, String> {
    let table = format!("bench-realtime-{}", uuid::Uuid::new_v4().simple());
    let config = Config { table: table.clone(), ..Config::default() };
    let store = local_store(&config, &dynamodb_endpoint()).await;
    let cognito = local_cognito(&config, &cognito_endpoint()).await;
    let local = dev::setup_in_pool(&cognito, &store, Timestamp::now(), &table).await.map_err(|e| e.to_string())?;
    let mut args = vec!["--port".to_owned(), "0".into(), "--ws-port".into(), "0".into()];
    args.extend(["--stream-poll-ms".to_owned(), poll_ms.to_string()]);
    if !push {
        args.push("--no-push".into());
    }
    let mut child = Command::new(local_api)
        .args(&args)
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
    // Frames are read as they come, beside the sends: with the push, a
    // frame arrives before the POST's answer does.
    let (arrivals, mut arrived_rx) = tokio::sync::mpsc::unbounded_channel::<(Value, Instant)>();
    let reader = tokio::spawn(async move {
        while let Ok(event) = socket.next_event(Duration::from_secs(60)).await {
            if arrivals.send((event["uuid"].clone(), Instant::now())).is_err() {
                break;
            }
        }
    });

    let http: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut round_trips = Vec::with_capacity(messages);
    let mut from_sent = Vec::with_capacity(messages);
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
        let arrived = loop {
            let next = tokio::time::timeout(Duration::from_secs(10), arrived_rx.recv()).await;
            match next {
                Ok(Some((uuid, at))) if uuid == sent["uuid"] => break at,
                Ok(Some(_)) => continue,
                _ => return Err(format!("message {n} never arrived")),
            }
        };
        round_trips.push((answered - started).as_secs_f64() * 1000.0);
        from_sent.push((arrived - started).as_secs_f64() * 1000.0);
        // A frame that came before the answer was read counts as 0.
        latencies.push(arrived.saturating_duration_since(answered).as_secs_f64() * 1000.0);
    }
    reader.abort();
    Ok(Pass {
        post: percentiles(&mut round_trips),
        sent_to_frame: percentiles(&mut from_sent),
        answered_to_frame: percentiles(&mut latencies),
    })
}
