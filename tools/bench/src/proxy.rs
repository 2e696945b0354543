//! A counting HTTP proxy in front of the local DynamoDB engine: every request a
//! function makes passes through it, so requests per API call are counted the
//! same way for Rust and for Python (by `X-Amz-Target`, e.g. `DynamoDB_20120810.Query`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use cruddur_devkit::net::{read_body, serve, HttpResponse, Upstream};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
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
    let upstream = Upstream::new(upstream).map_err(std::io::Error::other)?;
    serve(listener, (counts.clone(), upstream), forward);
    Ok(Proxy { address, counts })
}

async fn forward(
    (counts, upstream): (Arc<Counts>, Upstream),
    _peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<HttpResponse, Infallible> {
    let target = request.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("other");
    let operation = target.rsplit('.').next().unwrap_or(target).to_owned();
    if let Ok(mut m) = counts.by_target.lock() {
        *m.entry(operation).or_default() += 1;
    }
    let (parts, body) = request.into_parts();
    let body = read_body(body).await;
    Ok(upstream.forward(parts, body).await.unwrap_or_else(|_| {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::BAD_GATEWAY;
        response
    }))
}
