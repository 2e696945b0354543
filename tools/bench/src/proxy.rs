//! A counting HTTP proxy in front of the local DynamoDB server: every request a
//! function makes passes through it, so requests per API call are counted the
//! same way for Rust and for Python (by `X-Amz-Target`, e.g. `DynamoDB_20120810.Query`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;

#[derive(Default)]
pub struct Counts {
    by_target: Mutex<BTreeMap<String, u64>>,
}

impl Counts {
    /// The counts so far, and reset to zero.
    pub fn take(&self) -> BTreeMap<String, u64> {
        self.by_target.lock().map(|mut m| std::mem::take(&mut *m)).unwrap_or_default()
    }
}

pub struct Proxy {
    pub address: SocketAddr,
    pub counts: Arc<Counts>,
}

pub async fn start(upstream: &str) -> std::io::Result<Proxy> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let counts = Arc::new(Counts::default());
    let upstream: Uri = upstream.parse().map_err(|e| std::io::Error::other(format!("{e}")))?;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    crate::serve::serve(listener, (counts.clone(), client, upstream), forward);
    Ok(Proxy { address, counts })
}

async fn forward(
    (counts, client, upstream): (Arc<Counts>, Client<HttpConnector, Full<Bytes>>, Uri),
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let target = request.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("other");
    let operation = target.rsplit('.').next().unwrap_or(target).to_owned();
    if let Ok(mut m) = counts.by_target.lock() {
        *m.entry(operation).or_default() += 1;
    }
    let (mut parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
    let authority = upstream.authority().map(|a| a.as_str()).unwrap_or("127.0.0.1");
    parts.uri = match format!("http://{authority}{path}").parse() {
        Ok(uri) => uri,
        Err(_) => return Ok(Response::new(Full::new(Bytes::new()))),
    };
    let upstream_request = Request::from_parts(parts, Full::new(body));
    match client.request(upstream_request).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            Ok(Response::from_parts(parts, Full::new(body)))
        }
        Err(_) => {
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            Ok(response)
        }
    }
}
