//! What API Gateway does between the HTTP request and the function: match a
//! route, build the HTTP API (v2) event with the authorizer's claims, and turn
//! the function's answer back into HTTP.

use std::net::SocketAddr;

use cruddur_core::api::ROUTES;
use cruddur_core::auth::Claims;
use cruddur_devkit::events::{percent_decode, ApiEvent};
use hyper::http::request::Parts;
use lambda_http::{Body, Response};
use serde_json::{Map, Value};

/// A matched route: its key (`GET /api/messages/{message_group_uuid}`) and
/// the path variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub key: &'static str,
    pub params: Map<String, Value>,
}

/// Matches method and path against the contract's routes, as API Gateway
/// does: `{name}` matches one whole, non-empty path segment, and where
/// several routes match, the one with fewer variables wins
/// (`/api/messages/counter` over `/api/messages/{message_group_uuid}`).
pub fn match_route(method: &str, path: &str) -> Option<Route> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let matches = ROUTES.iter().map(|r| r.key).filter_map(|key| {
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
    });
    matches.min_by_key(|route| route.params.len())
}

/// The API Gateway HTTP API (payload 2.0) event for this request, built by
/// the one event builder; `domain` is this server's own `host:port`.
pub fn event(
    parts: &Parts,
    body: &[u8],
    route: &Route,
    claims: Map<String, Value>,
    peer: SocketAddr,
    domain: &str,
) -> ApiEvent {
    let mut event = ApiEvent::new(route.key, parts.uri.path())
        .query(parts.uri.query().unwrap_or(""))
        .path_params(route.params.clone())
        .claims(Some(claims));
    for (name, value) in &parts.headers {
        event = event.append_header(name.as_str(), &String::from_utf8_lossy(value.as_bytes()));
    }
    let event = event.connection(peer.ip(), domain, "http");
    if body.is_empty() {
        event
    } else {
        event.body(body)
    }
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

/// Claims as API Gateway passes them: every value a string (numbers and
/// booleans printed, arrays as `[a b]`).
pub fn stringify_claims(claims: &Claims) -> Map<String, Value> {
    claims
        .iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Array(items) => {
                    let parts: Vec<String> =
                        items.iter().map(|i| i.as_str().map(str::to_owned).unwrap_or_else(|| i.to_string())).collect();
                    format!("[{}]", parts.join(" "))
                }
                other => other.to_string(),
            };
            (k.clone(), Value::String(s))
        })
        .collect()
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

    #[test]
    fn claims_become_strings_as_api_gateway_passes_them() {
        let claims: Claims =
            serde_json::from_str(r#"{"sub":"abc","exp":1700000000,"admin":true,"groups":["a","b"]}"#).unwrap();
        let s = stringify_claims(&claims);
        assert_eq!(s["sub"], "abc");
        assert_eq!(s["exp"], "1700000000");
        assert_eq!(s["admin"], "true");
        assert_eq!(s["groups"], "[a b]");
    }
}
