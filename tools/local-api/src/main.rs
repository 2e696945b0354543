//! `cruddur-local-api`: the messaging API on localhost with real token checks.
//! See the crate docs and the README ("Run it locally").

use std::sync::Arc;

use clap::Parser;
use cruddur_core::api::{cors, App};
use cruddur_core::auth::{Verifier, VerifierSettings};
use cruddur_core::realtime::Delivery;
use cruddur_local_api::server::{serve, State};
use cruddur_local_api::stream::Feed;
use cruddur_local_api::websocket::{self, Gateway};

#[derive(Parser)]
#[command(
    name = "cruddur-local-api",
    version,
    about = "The Cruddur messaging API on localhost, verifying Cognito access tokens"
)]
struct Args {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// 0 picks a free port (the chosen one is printed).
    #[arg(long, default_value_t = 4567)]
    port: u16,
    /// The frontend's origin, allowed by CORS.
    #[arg(long, default_value = cors::DEFAULT_ALLOWED_ORIGIN)]
    allow_origin: String,
    /// The Cognito user pool whose access tokens are accepted.
    #[arg(long, env = "CRUDDUR_USER_POOL_ID")]
    user_pool_id: String,
    /// Allowed app client ids (comma-separated or repeated).
    #[arg(long, env = "CRUDDUR_CLIENT_ID", value_delimiter = ',', required = true)]
    client_id: Vec<String>,
    /// The pool's region [default: $AWS_REGION, else us-east-1].
    #[arg(long)]
    region: Option<String>,
    /// Where the signing keys are [default: the local Cognito's JWKS when
    /// AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER (or AWS_ENDPOINT_URL) is
    /// set, else the pool's public JWKS on AWS].
    #[arg(long)]
    jwks_url: Option<String>,
    /// The WebSocket API's port (0 picks a free one; the URL is printed).
    #[arg(long, default_value_t = 4568)]
    ws_port: u16,
    /// How often the table's stream is read, per shard (Lambda's event
    /// source mapping polls four times a second).
    #[arg(long, default_value_t = 250)]
    stream_poll_ms: u64,
    /// How long a new WebSocket connection takes to become live after its
    /// `$connect` wrote its record; posts in between answer 410 (API
    /// Gateway's own gap, widened to test that race).
    #[arg(long, default_value_t = 0)]
    live_after_ms: u64,
    /// Only the stream delivers new messages: the send does not push them
    /// itself (the baseline of `scripts/bench --realtime-only`).
    #[arg(long)]
    no_push: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    cruddur_core::telemetry::init();
    let args = Args::parse();
    let region = args
        .region
        .or_else(|| std::env::var("AWS_REGION").ok())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "us-east-1".to_owned());
    let issuer = format!("https://cognito-idp.{region}.amazonaws.com/{}", args.user_pool_id);
    let local_cognito = cruddur_devkit::engines::env_url(&[cruddur_devkit::engines::COGNITO_ENV, "AWS_ENDPOINT_URL"]);
    let jwks_url = args.jwks_url.unwrap_or_else(|| match &local_cognito {
        Some(endpoint) => format!("{}/{}/.well-known/jwks.json", endpoint.trim_end_matches('/'), args.user_pool_id),
        None => format!("{issuer}/.well-known/jwks.json"),
    });
    let verifier = Verifier::new(VerifierSettings { issuer, audiences: args.client_id, jwks_url });
    let listener = match tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "error: cannot listen on {}:{}: {e} (is something else using the port? --port changes it)",
                args.host, args.port
            );
            return std::process::ExitCode::FAILURE;
        }
    };
    let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let app = match App::from_env().await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut allowed_hosts: Vec<String> = ["localhost", "127.0.0.1", "[::1]"].map(str::to_owned).to_vec();
    let ws_listener = match tokio::net::TcpListener::bind((args.host.as_str(), args.ws_port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "error: cannot listen on {}:{}: {e} (is something else using the port? --ws-port changes it)",
                args.host, args.ws_port
            );
            return std::process::ExitCode::FAILURE;
        }
    };
    let ws_address = ws_listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    if !["0.0.0.0", "::", "[::]"].contains(&args.host.as_str()) {
        allowed_hosts.push(args.host.clone());
    }
    // The delivery code with the same management-API client as on AWS,
    // pointed at this process's @connections endpoint.
    let config = match cruddur_core::Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let sdk = config.sdk_config().await;
    let management = cruddur_core::realtime::connections_client(&sdk, &format!("http://{ws_address}"));
    // The send pushes each message itself, as create-message does on AWS.
    let app = if args.no_push {
        app
    } else {
        let push = Delivery::push_only(app.store().clone(), management.clone(), config.push_budget);
        app.with_push(push)
    };
    // DELETE /api/me deletes the account from the local pool, as the
    // function does from the stack's.
    let cognito = match &local_cognito {
        Some(endpoint) => cruddur_devkit::engines::local_cognito(&config, endpoint).await,
        None => aws_sdk_cognitoidentityprovider::Client::new(&sdk),
    };
    let directory = delete_my_account::CognitoDirectory::new(cognito, args.user_pool_id.clone());
    let app = app.with_directory(std::sync::Arc::new(directory));
    let typing = Delivery::push_only(app.store().clone(), management.clone(), config.push_budget);
    let delivery = Delivery::new(app.store().clone(), management);
    let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
    let poll = std::time::Duration::from_millis(args.stream_poll_ms.max(1));
    let feed = match Feed::start(app.store().client(), streams, app.store().table(), delivery, poll).await {
        Ok(feed) => feed,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    tokio::spawn(feed.run());

    let state =
        Arc::new(State { app, verifier, allowed_origin: args.allow_origin, domain: address.clone(), allowed_hosts });
    let live_after = std::time::Duration::from_millis(args.live_after_ms);
    let gateway = Arc::new(Gateway::new(state.clone(), ws_address.clone(), live_after, typing));
    tokio::spawn(websocket::serve(ws_listener, gateway, std::future::pending()));
    // Scripts and tests wait for these lines.
    println!("cruddur-local-api listening on http://{address}");
    println!("cruddur-local-api websocket on ws://{ws_address}");
    serve(listener, state, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    std::process::ExitCode::SUCCESS
}
