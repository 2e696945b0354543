//! The local stack end to end, over HTTP: DynamoDB Local and moto's Cognito, the
//! set-up `scripts/dev` runs, the `cruddur-local-api` binary on a free port,
//! and real access tokens from the emulated user pool.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use cruddur_core::domain::Timestamp;
use cruddur_core::Config;
use cruddur_devkit::cognito::{self as dev, LocalStack, LOCAL_PASSWORD};
use cruddur_devkit::engines::{cognito_endpoint, dynamodb_endpoint, engine_env, local_cognito, local_store};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

#[path = "e2e/conversation.rs"]
mod conversation;
#[path = "e2e/feed.rs"]
mod feed;
#[path = "e2e/leaving.rs"]
mod leaving;
#[path = "e2e/realtime.rs"]
mod realtime;

/// The API process; killed when dropped.
struct Api {
    child: Child,
    base: String,
    /// The WebSocket API's URL (`ws://127.0.0.1:port`).
    ws: String,
    /// Everything the process wrote (its logs), kept for a failing test.
    log: std::path::PathBuf,
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(60)..].join("\n");
            eprintln!("the local API's log: {}\n--- its last lines ---\n{tail}\n---", self.log.display());
        }
    }
}

struct Stack {
    api: Api,
    local: LocalStack,
    cognito: aws_sdk_cognitoidentityprovider::Client,
    store: cruddur_core::Store,
}

async fn start(name: &str) -> Stack {
    start_with(name, &[]).await
}

/// The stack with extra arguments for the local API.
async fn start_with(name: &str, args: &[&str]) -> Stack {
    let table = format!("e2e-{name}-{}", uuid::Uuid::new_v4().simple());
    // The tests' generous budgets, in the tests' clients and in the API.
    let config = Config { table: table.clone(), ..cruddur_devkit::fixtures::test_config() };
    let log = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{table}.log"));
    let log_file = std::fs::File::create(&log).expect("the local API's log file");
    let store = local_store(&config, &dynamodb_endpoint()).await;
    let cognito = local_cognito(&config, &cognito_endpoint()).await;
    let local = dev::setup_in_pool(&cognito, &store, Timestamp::now(), &table).await.expect("local set-up");

    let mut child = Command::new(env!("CARGO_BIN_EXE_cruddur-local-api"))
        .args(["--port", "0", "--ws-port", "0"])
        // The stream read every 50 ms unless the test says otherwise.
        .args(if args.contains(&"--stream-poll-ms") { &[][..] } else { &["--stream-poll-ms", "50"][..] })
        .args(args)
        .envs(engine_env())
        .env("DDB_MESSAGE_TABLE", &table)
        .env("CRUDDUR_USER_POOL_ID", &local.pool_id)
        .env("CRUDDUR_CLIENT_ID", &local.client_id)
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_REGION", "us-east-1")
        .envs(cruddur_devkit::fixtures::test_budget_env())
        .stdout(Stdio::piped())
        .stderr(log_file.try_clone().expect("the log file again"))
        .spawn()
        .expect("cruddur-local-api starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut stdout = BufReader::new(stdout);
    let mut line = String::new();
    stdout.read_line(&mut line).expect("a first line");
    let base = line.trim().rsplit(' ').next().expect("the URL").to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    line.clear();
    stdout.read_line(&mut line).expect("a second line");
    let ws = line.trim().rsplit(' ').next().expect("the WebSocket URL").to_owned();
    assert!(ws.starts_with("ws://127.0.0.1:"), "{line}");
    // The rest of stdout (the logs) into the file, read as it comes so the
    // pipe never fills.
    std::thread::spawn(move || {
        let mut log_file = log_file;
        let _ = std::io::copy(&mut stdout, &mut log_file);
    });
    Stack { api: Api { child, base, ws, log }, local, cognito, store }
}

/// A token a real pool never hands out, made from a real one (see
/// tests/forge_token.py for the modes).
fn forge(mode: &str, token: &str) -> String {
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/python");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/forge_token.py");
    let out = Command::new(python).args([script, mode, token]).output().expect("python runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

impl Stack {
    async fn token(&self, handle: &str) -> dev::Tokens {
        let email = dev::email_of(handle).expect("a seed user");
        dev::sign_in(&self.cognito, &self.local.client_id, &email, LOCAL_PASSWORD).await.expect("sign in")
    }

    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let (status, _, body) = self.raw(method, path, token, body, &[]).await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, hyper::HeaderMap, Bytes) {
        self.raw_at(&self.api.base, method, path, token, body, headers).await
    }

    /// A request to `base` (`http://host:port`) rather than the HTTP API.
    async fn raw_at(
        &self,
        base: &str,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, hyper::HeaderMap, Bytes) {
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let mut request = hyper::Request::builder().method(method).uri(format!("{base}{path}"));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let headers_sent = headers;
        for (name, value) in headers_sent {
            request = request.header(*name, *value);
        }
        let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let response = client.request(request.body(Full::new(body)).unwrap()).await.expect("the API answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        // Every answer of a route is one docs/openapi.yaml describes. Not
        // checked: other servers (`@connections`), paths no route matches,
        // and a forged Host (the local server's own guard, which API
        // Gateway's domain makes moot).
        let own_host = !headers_sent.iter().any(|(name, _)| name.eq_ignore_ascii_case("host"));
        let route = cruddur_local_api::gateway::match_route(method, path.split('?').next().unwrap_or(path));
        if let (true, true, Some(route)) = (base == self.api.base, own_host, route) {
            if let Err(why) = cruddur_devkit::contract::check_response(route.key, status, &headers, &bytes) {
                panic!("an answer outside the contract: {why}");
            }
        }
        (status, headers, bytes)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_frontends_flow_over_http_with_real_tokens() {
    let stack = start("flow").await;
    let andrew = stack.token("andrewbrown").await.access_token;
    let londo = stack.token("londo").await.access_token;
    let bayko = stack.token("bayko").await.access_token;

    // The seeded message group is there.
    let (status, groups) = stack.call("GET", "/api/message_groups", Some(&andrew), None).await;
    assert_eq!(status, 200, "{groups}");
    assert_eq!(groups[0]["uuid"], cruddur_devkit::seed::MESSAGE_GROUP_UUID);
    assert_eq!(groups[0]["handle"], "bayko");

    // Short profile, new message group, both list it, reply, messages in order.
    let (status, short) = stack.call("GET", "/api/users/@londo/short", Some(&andrew), None).await;
    assert_eq!((status, short["display_name"].as_str()), (200, Some("Londo Mollari")));
    let (status, started) = stack
        .call("POST", "/api/messages", Some(&andrew), Some(json!({"message": "Hello Londo", "handle": "londo"})))
        .await;
    assert_eq!(status, 200, "{started}");
    let group = started["message_group_uuid"].as_str().expect("a new message group").to_owned();
    let (_, londo_groups) = stack.call("GET", "/api/message_groups", Some(&londo), None).await;
    assert_eq!(londo_groups[0]["uuid"], group.as_str());
    assert_eq!(londo_groups[0]["display_name"], "Andrew Brown");
    let (status, reply) = stack
        .call("POST", "/api/messages", Some(&londo), Some(json!({"message": "Greetings", "message_group_uuid": group})))
        .await;
    assert_eq!(status, 200, "{reply}");
    assert!(reply.get("message_group_uuid").is_none());
    let (status, messages) = stack.call("GET", &format!("/api/messages/{group}"), Some(&andrew), None).await;
    assert_eq!(status, 200);
    let texts: Vec<&str> = messages.as_array().unwrap().iter().map(|m| m["message"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Hello Londo", "Greetings"]);

    // Bayko is not in it.
    let (status, body) = stack.call("GET", &format!("/api/messages/{group}"), Some(&bayko), None).await;
    assert_eq!((status, body), (403, json!(["generic_403"])));
    // Bad input still gets the contract's answers through the gateway.
    let (status, body) = stack.call("POST", "/api/messages", Some(&andrew), Some(json!([1, 2]))).await;
    assert_eq!((status, body), (400, json!(["invalid_json"])));
    let (status, body) = stack.call("GET", "/api/nothing", Some(&andrew), None).await;
    assert_eq!((status, body), (404, json!(["not_found"])));
    // The contract documents, served as they are in docs/, without a token.
    for (path, text) in
        [("/openapi.yaml", cruddur_devkit::contract::OPENAPI), ("/asyncapi.yaml", cruddur_devkit::contract::ASYNCAPI)]
    {
        let (status, headers, body) = stack.raw("GET", path, None, None, &[]).await;
        assert_eq!((status, headers.get("content-type").map(|v| v.as_bytes())), (200, Some(&b"application/yaml"[..])));
        assert_eq!(body.as_ref(), text.as_bytes(), "{path}");
    }

    // Headers API Gateway sets itself are not the client's to choose: a
    // forwarded proto never reaches the handlers, and a Host that is not this
    // machine's is refused (DNS rebinding); a Host with a bad port once reached
    // an unwrap() in lambda_http (found by fuzzing).
    let hostile = [("x-forwarded-proto", "not a scheme"), ("x-forwarded-for", "1.2.3.4")];
    let (status, _, _) = stack.raw("GET", "/api/message_groups", Some(&andrew), None, &hostile).await;
    assert_eq!(status, 200);
    for host in ["evil:99999", "attacker.example", "attacker.example:4567", "localhost.attacker.example"] {
        let (status, _, body) = stack.raw("GET", "/api/message_groups", Some(&andrew), None, &[("host", host)]).await;
        assert_eq!((status, body.as_ref()), (400, br#"["invalid_host"]"#.as_ref()), "Host: {host}");
    }
    let port = stack.api.base.rsplit(':').next().unwrap().to_owned();
    let localhost = format!("localhost:{port}");
    let (status, _, _) = stack.raw("GET", "/api/message_groups", Some(&andrew), None, &[("host", &localhost)]).await;
    assert_eq!(status, 200, "Host: {localhost}");
    let (status, _) = stack.call("GET", "/api/message_groups", Some(&andrew), None).await;
    assert_eq!(status, 200, "the server is still up");
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_api_gateway_would_refuse_get_401() {
    let stack = start("auth").await;
    let tokens = stack.token("andrewbrown").await;
    let (status, _) = stack.call("GET", "/api/message_groups", Some(&tokens.access_token), None).await;
    assert_eq!(status, 200, "the genuine token works");

    let forge = |mode: &str| forge(mode, &tokens.access_token);
    let other_client_id = dev::ensure_client(&stack.cognito, &stack.local.pool_id, "another-app").await.unwrap();
    let other_client_token = dev::sign_in(&stack.cognito, &other_client_id, "andrew@example.com", LOCAL_PASSWORD)
        .await
        .unwrap()
        .access_token;

    let cases = [
        ("no token", None),
        ("an expired token", Some(forge("expired"))),
        ("a token signed by another key", Some(forge("otherkey"))),
        ("an ID token instead of an access token", Some(tokens.id_token.clone())),
        ("a token for another client id", Some(other_client_token)),
        ("garbage", Some("not.a.jwt".to_owned())),
        ("an unsigned token (alg none)", Some(forge("none"))),
        ("HS256 with the public key as the secret", Some(forge("hs256"))),
        ("a key id the pool does not publish", Some(forge("unknownkid"))),
        ("another pool's issuer", Some(forge("wrongiss"))),
        ("not valid before an hour from now", Some(forge("futurenbf"))),
        ("issued an hour from now", Some(forge("futureiat"))),
        ("an aud of another client beside our client_id", Some(forge("foreignaud"))),
    ];
    for (what, token) in cases {
        let (status, body) = stack.call("GET", "/api/message_groups", token.as_deref(), None).await;
        assert_eq!((status, body), (401, json!(["generic_401"])), "{what}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_lets_the_frontend_read_every_answer_and_no_other_origin() {
    let stack = start("cors").await;
    let frontend = [("origin", "http://localhost:3000")];
    let (status, headers, _) = stack
        .raw(
            "OPTIONS",
            "/api/messages",
            None,
            None,
            &[
                ("origin", "http://localhost:3000"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "authorization,content-type"),
            ],
        )
        .await;
    assert!((200..300).contains(&status), "a preflight needs no token: {status}");
    assert_eq!(headers["access-control-allow-origin"], "http://localhost:3000");
    let allowed_headers = headers["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed_headers.contains("authorization") && allowed_headers.contains("content-type"));
    assert!(headers["access-control-allow-methods"].to_str().unwrap().contains("POST"));

    // Errors carry the header too, or the browser hides them.
    let (status, headers, _) = stack.raw("GET", "/api/message_groups", None, None, &frontend).await;
    assert_eq!(status, 401);
    assert_eq!(headers["access-control-allow-origin"], "http://localhost:3000");
    let token = stack.token("andrewbrown").await.access_token;
    let (status, headers, _) =
        stack.raw("POST", "/api/messages", Some(&token), Some(json!({"message": " "})), &frontend).await;
    assert_eq!(status, 422);
    assert_eq!(headers["access-control-allow-origin"], "http://localhost:3000");

    // Another origin gets no CORS headers at all.
    let (_, headers, _) =
        stack.raw("GET", "/api/message_groups", Some(&token), None, &[("origin", "https://evil.example")]).await;
    assert!(headers.get("access-control-allow-origin").is_none());
    let (_, headers, _) = stack
        .raw(
            "OPTIONS",
            "/api/messages",
            None,
            None,
            &[("origin", "https://evil.example"), ("access-control-request-method", "POST")],
        )
        .await;
    assert!(headers.get("access-control-allow-origin").is_none());
}

/// The frontend signs in with Amplify's Auth.signIn (USER_SRP_AUTH); here the
/// same SRP exchange comes from pycognito. Its access token, and one from a
/// refresh, reach every route.
#[tokio::test(flavor = "multi_thread")]
async fn a_user_signed_in_as_amplify_does_reaches_every_route_and_refreshed_tokens_work() {
    let stack = start("srp").await;
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/python");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/srp_sign_in.py");
    let out = Command::new(python)
        .args([
            script,
            &cognito_endpoint(),
            &stack.local.pool_id,
            &stack.local.client_id,
            "bayko@example.com",
            LOCAL_PASSWORD,
        ])
        .output()
        .expect("python runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let tokens: Vec<&str> = stdout.lines().collect();
    assert_eq!(tokens.len(), 2, "an SRP access token and a refreshed one");

    for token in tokens {
        let (status, groups) = stack.call("GET", "/api/message_groups", Some(token), None).await;
        assert_eq!(status, 200, "{groups}");
        assert_eq!(groups[0]["handle"], "andrewbrown", "bayko sees the seeded message group with andrewbrown");
        let group = cruddur_devkit::seed::MESSAGE_GROUP_UUID;
        let (status, messages) = stack.call("GET", &format!("/api/messages/{group}"), Some(token), None).await;
        assert_eq!((status, messages.as_array().map(Vec::len)), (200, Some(20)));
        let (status, short) = stack.call("GET", "/api/users/@andrewbrown/short", Some(token), None).await;
        assert_eq!((status, short["display_name"].as_str()), (200, Some("Andrew Brown")));
        let (status, sent) = stack
            .call(
                "POST",
                "/api/messages",
                Some(token),
                Some(json!({"message": "signed in with SRP", "message_group_uuid": group})),
            )
            .await;
        assert_eq!((status, sent["handle"].as_str()), (200, Some("bayko")));
    }
}

/// The local pool is shaped like the template's in what security depends
/// on: the handle (preferred_username) cannot be changed after sign-up.
/// (moto records the schema but does not enforce it; real Cognito does.)
#[tokio::test(flavor = "multi_thread")]
async fn the_local_pool_makes_the_handle_immutable_like_the_template() {
    let stack = start("schema").await;
    let pool = stack.cognito.describe_user_pool().user_pool_id(&stack.local.pool_id).send().await.unwrap();
    let schema = pool.user_pool.unwrap().schema_attributes.unwrap_or_default();
    let handle = schema.iter().find(|a| a.name() == Some("preferred_username")).expect("preferred_username");
    assert_eq!(handle.mutable(), Some(false));
    assert_eq!(handle.required(), Some(true));
}

/// What API Gateway does for a server on the internet, the local API does
/// for one on a laptop: bodies over 10 MB are refused (413), a client that
/// never finishes its headers is cut off, and when the pool's keys cannot be
/// fetched every token is refused promptly instead of hanging.
#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_slow_clients_and_unreachable_keys_are_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stack = start("limits").await;
    let andrew = stack.token("andrewbrown").await.access_token;
    let big = json!({"message": "x".repeat(cruddur_local_api::server::MAX_BODY), "handle": "bayko"});
    let (status, body) = stack.call("POST", "/api/messages", Some(&andrew), Some(big)).await;
    assert_eq!((status, body), (413, json!(["payload_too_large"])));

    // Half a request, then silence: the server closes the connection.
    let address = stack.api.base.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"GET /api/message_groups HTTP/1.1\r\nHost: localhost\r\n").await.unwrap();
    let started = std::time::Instant::now();
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(15), slow.read_to_end(&mut buffer)).await;
    assert!(read.is_ok(), "the connection was still open after 15 s");
    assert!(started.elapsed() >= std::time::Duration::from_secs(4), "closed after {:?}", started.elapsed());

    // The keys' URL does not answer: 401, quickly, and the server stays up.
    let keyless = start_with("keyless", &["--jwks-url", "http://127.0.0.1:9/keys.json"]).await;
    let token = keyless.token("andrewbrown").await.access_token;
    let started = std::time::Instant::now();
    let (status, body) = keyless.call("GET", "/api/message_groups", Some(&token), None).await;
    assert_eq!((status, body), (401, json!(["generic_401"])));
    assert!(started.elapsed() < std::time::Duration::from_secs(6), "answered after {:?}", started.elapsed());
    let (status, _) = keyless.call("GET", "/api/message_groups", Some(&token), None).await;
    assert_eq!(status, 401, "still up, still refusing");
}
