//! The one accept loop and the one forwarding proxy of the local servers (the
//! local API, the bench's Runtime API and counting proxy, the fault proxy).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;

pub type HttpResponse = Response<Full<Bytes>>;

/// Connections served at once; further ones are closed at accept until one
/// ends (no local server here needs more, and a flood cannot exhaust memory).
pub const MAX_CONNECTIONS: usize = 256;
/// A client must send a request's headers within this time (slowloris).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves HTTP/1 on `listener` until `shutdown` completes (a task per
/// connection, TCP_NODELAY, at most [`MAX_CONNECTIONS`] at once, headers
/// within [`HEADER_READ_TIMEOUT`]), answering each request with
/// `handler(state, peer, request)`; an `Err` closes that connection without an
/// answer. A handler may switch a connection's protocol (101, WebSocket). Connections still open at shutdown are closed.
pub async fn serve_until<S, F, Fut, E>(listener: TcpListener, state: S, handler: F, shutdown: impl Future<Output = ()>)
where
    S: Clone + Send + Sync + 'static,
    F: Fn(S, SocketAddr, Request<Incoming>) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<HttpResponse, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    tokio::pin!(shutdown);
    let mut connections = tokio::task::JoinSet::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                // Full: close this connection at once rather than queue it.
                let Ok(slot) = slots.clone().try_acquire_owned() else { continue };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                connections.spawn(async move {
                    let service = service_fn(move |request| handler(state.clone(), peer, request));
                    let _ = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_READ_TIMEOUT)
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                    drop(slot);
                });
                // Forget connections that have ended.
                while connections.try_join_next().is_some() {}
            }
        }
    }
    connections.shutdown().await;
}

/// [`serve_until`] in the background, for as long as the process runs.
pub fn serve<S, F, Fut, E>(listener: TcpListener, state: S, handler: F)
where
    S: Clone + Send + Sync + 'static,
    F: Fn(S, SocketAddr, Request<Incoming>) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<HttpResponse, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    tokio::spawn(serve_until(listener, state, handler, std::future::pending()));
}

/// A whole request or response body (empty if the peer broke off).
pub async fn read_body(body: Incoming) -> Bytes {
    body.collect().await.map(|b| b.to_bytes()).unwrap_or_default()
}

/// One upstream server that requests are forwarded to, unchanged but for
/// the address: the proxies put their own logic around [`Upstream::forward`].
#[derive(Clone)]
pub struct Upstream {
    client: Client<HttpConnector, Full<Bytes>>,
    authority: String,
}

impl Upstream {
    /// `url`: `http://host:port`.
    pub fn new(url: &str) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let authority = uri.authority().map(|a| a.as_str().to_owned()).ok_or_else(|| format!("{url}: no host"))?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Ok(Upstream { client: Client::builder(TokioExecutor::new()).build(connector), authority })
    }

    /// Sends the request on and reads the whole answer.
    pub async fn forward(&self, mut parts: hyper::http::request::Parts, body: Bytes) -> Result<HttpResponse, String> {
        let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
        parts.uri = format!("http://{}{path}", self.authority).parse().map_err(|e| format!("{e}"))?;
        let response =
            self.client.request(Request::from_parts(parts, Full::new(body))).await.map_err(|e| e.to_string())?;
        let (parts, body) = response.into_parts();
        Ok(Response::from_parts(parts, Full::new(read_body(body).await)))
    }
}
