//! `cruddur-local-api`: the messaging API on localhost with real token checks.
//! See the crate docs and the README ("Run it locally").

use std::sync::Arc;

use clap::Parser;
use cruddur_core::api::{cors, App};
use cruddur_local_api::auth::{Verifier, VerifierSettings};
use cruddur_local_api::server::{serve, State};

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
    let jwks_url = args.jwks_url.unwrap_or_else(|| match local_cognito {
        Some(endpoint) => format!("{}/{}/.well-known/jwks.json", endpoint.trim_end_matches('/'), args.user_pool_id),
        None => format!("{issuer}/.well-known/jwks.json"),
    });
    let verifier = match Verifier::new(VerifierSettings { issuer, audiences: args.client_id, jwks_url }) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
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
    if !["0.0.0.0", "::", "[::]"].contains(&args.host.as_str()) {
        allowed_hosts.push(args.host.clone());
    }
    let state =
        Arc::new(State { app, verifier, allowed_origin: args.allow_origin, domain: address.clone(), allowed_hosts });
    // Scripts and tests wait for this line.
    println!("cruddur-local-api listening on http://{address}");
    serve(listener, state, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    std::process::ExitCode::SUCCESS
}
