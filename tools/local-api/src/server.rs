//! The HTTP server: CORS, routing, authorisation, then the handlers; and the
//! contract documents at `/openapi.yaml` and `/asyncapi.yaml`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use cruddur_core::api::{self, cors, ApiError, App};
use cruddur_devkit::net;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ORIGIN};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;

use cruddur_core::auth::Verifier;

use crate::gateway::{self, stringify_claims};

/// API Gateway's payload limit (larger bodies: 413).
pub const MAX_BODY: usize = 10 * 1024 * 1024;

pub struct State {
    pub app: App,
    pub verifier: Verifier,
    /// The one origin CORS allows (the frontend's).
    pub allowed_origin: String,
    /// This server's own `host:port`: the events' Host, as API Gateway's domain.
    pub domain: String,
    /// Host names a request may name (without port): `localhost`,
    /// `127.0.0.1`, `[::1]` and the address the server listens on. Anything
    /// else is refused, so a web page cannot reach this server through a
    /// DNS name of its own that resolves to 127.0.0.1 (DNS rebinding).
    pub allowed_hosts: Vec<String>,
}

/// The host part of a Host header (`localhost:4567` -> `localhost`, `[::1]:80` -> `[::1]`).
fn host_name(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => {
            name
        }
        _ => host,
    }
}

type HttpResponse = Response<Full<Bytes>>;

/// Serves until `shutdown` completes.
pub async fn serve(listener: TcpListener, state: Arc<State>, shutdown: impl std::future::Future<Output = ()>) {
    net::serve_until(listener, state, handle, shutdown).await;
}

impl State {
    /// Whether the request's Host names this machine (see `allowed_hosts`).
    pub fn host_allowed(&self, headers: &hyper::HeaderMap) -> bool {
        let host = headers.get(hyper::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        self.allowed_hosts.iter().any(|allowed| allowed.eq_ignore_ascii_case(host_name(host)))
    }
}

async fn handle(state: Arc<State>, peer: SocketAddr, request: Request<Incoming>) -> Result<HttpResponse, Infallible> {
    if !state.host_allowed(request.headers()) {
        tracing::info!(reason = "host_not_allowed", "refused");
        return Ok(gateway::into_http(ApiError::new(StatusCode::BAD_REQUEST, "invalid_host").into_response()));
    }
    let origin = request.headers().get(ORIGIN).and_then(|o| o.to_str().ok()).map(str::to_owned);
    let allowed = origin.as_deref() == Some(state.allowed_origin.as_str());
    let mut response =
        if request.method() == Method::OPTIONS { preflight(allowed) } else { route(&state, peer, request).await };
    if allowed {
        // On every answer, errors included: without it a browser hides the
        // status and body from the frontend.
        let headers = response.headers_mut();
        if let Ok(origin) = HeaderValue::from_str(&state.allowed_origin) {
            headers.insert("access-control-allow-origin", origin);
        }
        headers.insert("access-control-expose-headers", header_list(cors::EXPOSED_HEADERS));
        headers.insert("vary", HeaderValue::from_static("origin"));
    }
    Ok(response)
}

fn header_list(items: &[&str]) -> HeaderValue {
    HeaderValue::from_str(&items.join(",")).unwrap_or(HeaderValue::from_static(""))
}

/// A preflight needs no token. API Gateway answers it itself.
fn preflight(allowed: bool) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    if allowed {
        let headers = response.headers_mut();
        headers.insert("access-control-allow-methods", header_list(cors::ALLOWED_METHODS));
        headers.insert("access-control-allow-headers", header_list(cors::ALLOWED_HEADERS));
        headers.insert("access-control-max-age", HeaderValue::from(cors::MAX_AGE_SECS));
    }
    response
}

/// The contract documents, as they are in docs/ (no token needed: they are
/// public, like the repository).
fn document(method: &Method, path: &str) -> Option<HttpResponse> {
    let text = match path {
        "/openapi.yaml" => cruddur_devkit::contract::OPENAPI,
        "/asyncapi.yaml" => cruddur_devkit::contract::ASYNCAPI,
        _ => return None,
    };
    if method != Method::GET {
        return None;
    }
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    response.headers_mut().insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("application/yaml"));
    Some(response)
}

async fn route(state: &State, peer: SocketAddr, request: Request<Incoming>) -> HttpResponse {
    if let Some(document) = document(request.method(), request.uri().path()) {
        return document;
    }
    let Some(route) = gateway::match_route(request.method().as_str(), request.uri().path()) else {
        return gateway::into_http(ApiError::new(StatusCode::NOT_FOUND, "not_found").into_response());
    };
    let authorization = request.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let claims = match state.verifier.verify(authorization.as_deref()).await {
        Ok(claims) => claims,
        Err(why) => {
            tracing::info!(route = route.key, reason = ?why, "unauthorized");
            return gateway::into_http(ApiError::unauthorized().into_response());
        }
    };
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return gateway::into_http(
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").into_response(),
            )
        }
    };
    let event = gateway::event(&parts, &body, &route, stringify_claims(&claims), peer, &state.domain);
    // Through lambda_http's own event parsing, as in Lambda.
    let request = match event.request() {
        Ok(request) => request,
        Err(e) => {
            tracing::error!(error = %e, "the event did not parse");
            return gateway::into_http(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "generic_500").into_response());
        }
    };
    match api::dispatch(&state.app, request).await {
        Ok(response) => gateway::into_http(response),
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::host_name;

    #[test]
    fn the_host_name_is_the_host_header_without_its_port() {
        assert_eq!(host_name("localhost:4567"), "localhost");
        assert_eq!(host_name("127.0.0.1"), "127.0.0.1");
        assert_eq!(host_name("[::1]:80"), "[::1]");
        assert_eq!(host_name("evil.example:99999"), "evil.example");
        assert_eq!(host_name(""), "");
    }
}
