//! The WebSocket API on localhost, as API Gateway runs it:
//!
//! - `GET /?token=...` with `Upgrade: websocket`: no token is 401 (API
//!   Gateway refuses a missing identity source itself); otherwise the
//!   authorizer's event goes to `cruddur_core::realtime::authorize` (the code
//!   the authorizer function runs), a Deny is 403, then the `$connect` event
//!   to `realtime::connect`; only then does the protocol switch (101).
//! - A close frame from the client runs `$disconnect` (`realtime::disconnect`).
//!   A client that vanishes without one is only forgotten here, as API
//!   Gateway may never learn of it: its record stays until a post to it
//!   answers 410 Gone (which removes it) or TTL.
//! - The management API at `/@connections/{id}`: POST sends the body as a
//!   text frame (410 GoneException when the connection is not open), DELETE
//!   closes it, GET answers whether it is open. The delivery code posts here
//!   through the same `aws-sdk-apigatewaymanagement` client it uses on AWS
//!   (requests are not signature-checked: this is a loopback server).
//!
//! - A client's text frame is routed by its `action` as the template's
//!   routes do: `{"action":"ping"}` is answered `{"type":"pong"}`, anything
//!   else the unknown-action error frame; the connection stays open.
//!
//! Not emulated: API Gateway's 10-minute idle and 2-hour limits.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use cruddur_core::realtime;
use cruddur_devkit::events::{self, percent_decode, WebSocketConnection, WebSocketRoute};
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONNECTION, UPGRADE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::server::State;

type HttpResponse = Response<Full<Bytes>>;

/// API Gateway's limit on one WebSocket message (128 KB).
pub const MAX_MESSAGE: usize = 128 * 1024;

/// What the management API asks of an open connection; the answer says
/// whether it was written to the socket.
enum Order {
    Send(String, oneshot::Sender<bool>),
    Close,
}

/// The WebSocket server's state: the HTTP API's (store, verifier, hosts)
/// and the connections open here.
pub struct Gateway {
    pub api: Arc<State>,
    /// This server's `host:port` (the events' domain name).
    pub domain: String,
    open: Mutex<HashMap<String, mpsc::UnboundedSender<Order>>>,
    /// How long a new connection takes, after `$connect` wrote its record,
    /// to become live (the 101 and the socket): posts to it in between
    /// answer 410, as API Gateway's do in its own (shorter) gap. Zero in
    /// `scripts/dev`; the test of that race widens it.
    live_after: std::time::Duration,
    /// The `typing` route's function (post-only, as on AWS).
    typing: realtime::Delivery,
}

impl Gateway {
    pub fn new(api: Arc<State>, domain: String, live_after: std::time::Duration, typing: realtime::Delivery) -> Self {
        Gateway { api, domain, open: Mutex::new(HashMap::new()), live_after, typing }
    }

    fn sender(&self, id: &str) -> Option<mpsc::UnboundedSender<Order>> {
        self.open.lock().ok()?.get(id).cloned()
    }

    fn forget(&self, id: &str) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(id);
        }
    }
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    cruddur_devkit::net::serve_until(listener, gateway, handle, shutdown).await;
}

fn answer(status: StatusCode, body: Value) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    response
}

/// The management API's answer for a connection that is not open.
fn gone() -> HttpResponse {
    let mut response = answer(StatusCode::GONE, json!({ "message": null }));
    response.headers_mut().insert("x-amzn-errortype", HeaderValue::from_static("GoneException"));
    response
}

async fn handle(
    gateway: Arc<Gateway>,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<HttpResponse, Infallible> {
    if !gateway.api.host_allowed(request.headers()) {
        return Ok(answer(StatusCode::BAD_REQUEST, json!({ "message": "invalid host" })));
    }
    if let Some(id) = request.uri().path().strip_prefix("/@connections/") {
        let id = percent_decode(id);
        return Ok(manage(&gateway, id, request).await);
    }
    let upgrade = request.headers().get(UPGRADE).and_then(|v| v.to_str().ok());
    if request.method() == Method::GET && upgrade.is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
        return Ok(open(gateway, peer, request).await);
    }
    Ok(answer(StatusCode::NOT_FOUND, json!({ "message": "Not Found" })))
}

async fn manage(gateway: &Gateway, id: String, request: Request<Incoming>) -> HttpResponse {
    let Some(connection) = gateway.sender(&id) else { return gone() };
    match *request.method() {
        Method::POST => {
            let body = match Limited::new(request.into_body(), MAX_MESSAGE).collect().await {
                Ok(body) => body.to_bytes(),
                Err(_) => return answer(StatusCode::PAYLOAD_TOO_LARGE, json!({ "message": "PayloadTooLarge" })),
            };
            let Ok(text) = String::from_utf8(body.to_vec()) else {
                return answer(StatusCode::BAD_REQUEST, json!({ "message": "the data is not UTF-8 text" }));
            };
            let (written, was_written) = oneshot::channel();
            if connection.send(Order::Send(text, written)).is_err() {
                return gone();
            }
            match was_written.await {
                Ok(true) => answer(StatusCode::OK, json!({})),
                _ => gone(),
            }
        }
        Method::DELETE => {
            let _ = connection.send(Order::Close);
            answer(StatusCode::NO_CONTENT, json!({}))
        }
        Method::GET => answer(StatusCode::OK, json!({ "connectionId": id })),
        _ => answer(StatusCode::METHOD_NOT_ALLOWED, json!({ "message": "Method Not Allowed" })),
    }
}

/// A connection id shaped like API Gateway's (`L0SM9cOFvHcCIhw=`).
fn new_connection_id() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    base64::engine::general_purpose::STANDARD.encode(bytes.get(..11).unwrap_or_default())
}

fn status_only(status: StatusCode) -> HttpResponse {
    answer(status, json!({ "message": status.canonical_reason().unwrap_or("") }))
}

/// `$connect`: the authorizer, the route, then the switch to WebSocket.
async fn open(gateway: Arc<Gateway>, peer: SocketAddr, mut request: Request<Incoming>) -> HttpResponse {
    let Some(key) = request.headers().get("sec-websocket-key").map(|k| derive_accept_key(k.as_bytes())) else {
        return status_only(StatusCode::BAD_REQUEST);
    };
    let token = request.uri().query().unwrap_or("").split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == realtime::TOKEN_PARAMETER && !value.is_empty()).then(|| percent_decode(value))
    });
    let Some(token) = token else {
        tracing::info!(reason = "no token", "connection refused");
        return status_only(StatusCode::UNAUTHORIZED);
    };
    let id = new_connection_id();
    let source_ip = peer.ip().to_string();
    let connection = WebSocketConnection { id: &id, domain: &gateway.domain, source_ip: &source_ip };
    let store = gateway.api.app.store();
    let event = events::websocket_authorizer(&connection, Some(&token));
    let decision = match realtime::authorize(&gateway.api.verifier, store, event).await {
        Ok(decision) => decision,
        Err(e) => {
            tracing::error!(error = %e.chain(), "the authorizer failed");
            return status_only(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    let allowed = decision
        .policy_document
        .statement
        .iter()
        .all(|s| matches!(s.effect, lambda_http::aws_lambda_events::iam::IamPolicyEffect::Allow))
        && !decision.policy_document.statement.is_empty();
    if !allowed {
        return status_only(StatusCode::FORBIDDEN);
    }
    let mut context = decision.context.as_object().cloned().unwrap_or_default();
    if let Some(principal) = decision.principal_id {
        context.insert("principalId".to_owned(), Value::String(principal));
    }
    let connected =
        realtime::connect(store, events::websocket_route(WebSocketRoute::Connect, &connection, &context)).await;
    if connected.status_code != 200 {
        return status_only(StatusCode::from_u16(connected.status_code as u16).unwrap_or(StatusCode::BAD_GATEWAY));
    }

    if !gateway.live_after.is_zero() {
        tokio::time::sleep(gateway.live_after).await;
    }
    let (orders, inbox) = mpsc::unbounded_channel();
    if let Ok(mut open) = gateway.open.lock() {
        open.insert(id.clone(), orders);
    }
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => {
                let socket = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
                run(&gateway, &id, &source_ip, context, socket, inbox).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "the upgrade did not complete");
                gateway.forget(&id);
            }
        }
    });

    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&key) {
        headers.insert("sec-websocket-accept", accept);
    }
    response
}

/// One open connection: writes what the management API sends, reads until
/// the client closes (then `$disconnect`) or vanishes (then only forgotten).
async fn run<S>(
    gateway: &Gateway,
    id: &str,
    source_ip: &str,
    context: serde_json::Map<String, Value>,
    mut socket: WebSocketStream<S>,
    mut inbox: mpsc::UnboundedReceiver<Order>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let clean = loop {
        tokio::select! {
            order = inbox.recv() => match order {
                Some(Order::Send(text, written)) => {
                    let ok = socket.send(Message::text(text)).await.is_ok();
                    let _ = written.send(ok);
                    if !ok {
                        break false;
                    }
                }
                Some(Order::Close) | None => {
                    let _ = socket.close(None).await;
                    break true;
                }
            },
            frame = socket.next() => match frame {
                Some(Ok(Message::Close(_))) => break true,
                // Routed by `action` as API Gateway does (ping -> pong,
                // anything else -> the unknown-action error frame).
                // `typing` goes to its route's function, which answers (an
                // error frame) through @connections, as on AWS; run apart, so
                // this loop can write what it posts.
                Some(Ok(Message::Text(text))) if realtime::is_typing_frame(text.as_str()) => {
                    let connection = WebSocketConnection { id, domain: &gateway.domain, source_ip };
                    let event = events::websocket_frame(&connection, &context, text.as_str());
                    let typing = gateway.typing.clone();
                    tokio::spawn(async move { realtime::typing(&typing, event).await });
                }
                Some(Ok(Message::Text(text))) => {
                    let answer = realtime::answer_to_client_frame(text.as_str());
                    if socket.send(Message::text(answer)).await.is_err() {
                        break false;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    if socket.send(Message::text(realtime::UNKNOWN_ACTION_FRAME)).await.is_err() {
                        break false;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break false,
            },
        }
    };
    gateway.forget(id);
    if clean {
        // Answers the client's close frame (or finishes ours).
        let _ = socket.close(None).await;
        let connection = WebSocketConnection { id, domain: &gateway.domain, source_ip };
        let event = events::websocket_route(WebSocketRoute::Disconnect, &connection, &context);
        realtime::disconnect(gateway.api.app.store(), event).await;
    } else {
        tracing::info!(connection = id, "the client vanished without closing");
    }
}
