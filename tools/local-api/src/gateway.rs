//! What API Gateway does between the HTTP request and the function: match a
//! route, build the HTTP API (v2) event with the authorizer's claims, and turn
//! the function's answer back into HTTP.

use std::net::SocketAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cruddur_core::api::ROUTES;
use hyper::http::request::Parts;
use lambda_http::{Body, Response};
use serde_json::{json, Map, Value};

/// A matched route: its key (`GET /api/messages/{message_group_uuid}`) and
/// the path variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub key: &'static str,
    pub params: Map<String, Value>,
}

/// Matches method and path against the contract's routes, as API Gateway
/// does: `{name}` matches one whole, non-empty path segment.
pub fn match_route(method: &str, path: &str) -> Option<Route> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    ROUTES.iter().find_map(|(key, _)| {
        let (route_method, pattern) = key.split_once(' ')?;
        if route_method != method {
            return None;
        }
        let parts: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
        if parts.len() != segments.len() {
            return None;
        }
        let mut params = Map::new();
        for (part, segment) in parts.iter().zip(&segments) {
            match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if !segment.is_empty() => {
                    params.insert(name.to_owned(), Value::String(percent_decode(segment)));
                }
                Some(_) => return None,
                None if part == segment => {}
                None => return None,
            }
        }
        Some(Route { key, params })
    })
}

/// Path variables arrive percent-decoded in API Gateway events.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Headers API Gateway sets itself, whatever the client sent. lambda_http
/// builds the request URL from `host` and `x-forwarded-proto` with an
/// `unwrap()`, so passing a client's malformed Host through would panic it
/// (found by the fuzz target).
const GATEWAY_HEADERS: &[&str] = &["host", "x-forwarded-proto", "x-forwarded-port", "x-forwarded-for"];

/// The API Gateway HTTP API (payload 2.0) event for this request; `domain` is
/// this server's own `host:port`.
pub fn event(
    parts: &Parts,
    body: &[u8],
    route: &Route,
    claims: Map<String, Value>,
    peer: SocketAddr,
    domain: &str,
) -> Value {
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        if GATEWAY_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            // Repeated headers are joined with commas, as API Gateway does.
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    let port = domain.rsplit(':').next().unwrap_or("80");
    headers.insert("host".into(), Value::String(domain.to_owned()));
    headers.insert("x-forwarded-proto".into(), Value::String("http".into()));
    headers.insert("x-forwarded-port".into(), Value::String(port.to_owned()));
    headers.insert("x-forwarded-for".into(), Value::String(peer.ip().to_string()));
    let user_agent = parts.headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let mut event = json!({
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": parts.uri.path(),
        "rawQueryString": parts.uri.query().unwrap_or(""),
        "headers": headers,
        "requestContext": {
            "accountId": "local",
            "apiId": "local",
            "domainName": domain,
            "domainPrefix": "local",
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": user_agent,
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route.key,
            "stage": "$default",
            "time": "",
            "timeEpoch": now as u64,
            "authorizer": {"jwt": {"claims": claims, "scopes": null}},
        },
        "isBase64Encoded": false,
    });
    if !route.params.is_empty() {
        event["pathParameters"] = Value::Object(route.params.clone());
    }
    if !body.is_empty() {
        match std::str::from_utf8(body) {
            Ok(text) => event["body"] = Value::String(text.to_owned()),
            Err(_) => {
                event["body"] = Value::String(STANDARD.encode(body));
                event["isBase64Encoded"] = Value::Bool(true);
            }
        }
    }
    event
}

/// The function's response as HTTP.
pub fn into_http(response: Response<Body>) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Text(text) => hyper::body::Bytes::from(text),
        Body::Binary(bytes) => hyper::body::Bytes::from(bytes),
        _ => hyper::body::Bytes::new(),
    };
    let mut out = hyper::Response::new(http_body_util::Full::new(bytes));
    *out.status_mut() = parts.status;
    *out.headers_mut() = parts.headers;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_like_api_gateway() {
        let r = match_route("GET", "/api/message_groups").unwrap();
        assert_eq!(r.key, "GET /api/message_groups");
        let r = match_route("GET", "/api/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399").unwrap();
        assert_eq!(r.key, "GET /api/messages/{message_group_uuid}");
        assert_eq!(r.params["message_group_uuid"], "5ae290ed-55d1-47a0-bc6d-fe2bc2700399");
        let r = match_route("GET", "/api/users/%40bayko/short").unwrap();
        assert_eq!(r.params["handle"], "@bayko");
        assert_eq!(match_route("POST", "/api/messages").unwrap().key, "POST /api/messages");
        for (m, p) in
            [("GET", "/api/messages"), ("GET", "/api/messages/"), ("DELETE", "/api/messages"), ("GET", "/nope")]
        {
            assert!(match_route(m, p).is_none(), "{m} {p}");
        }
    }
}
