//! The contract documents (`docs/openapi.yaml`, `docs/asyncapi.yaml`),
//! embedded at build time, and the one validator of what the API answers
//! and what the socket sends: every answer the test client and the
//! end-to-end client get, every frame the WebSocket client and the
//! `@connections` stand-in see, goes through [`check_response`] or
//! [`check_event`]. The schemas are JSON Schema 2020-12 (OpenAPI 3.1's
//! dialect), checked by the `jsonschema` crate with formats asserted.

use std::collections::HashMap;
use std::sync::LazyLock;

use hyper::HeaderMap;
use jsonschema::{Registry, Validator};
use serde_json::Value;

/// The HTTP contract, as served by the local API at `/openapi.yaml`.
pub const OPENAPI: &str = include_str!("../../../docs/openapi.yaml");
/// The WebSocket contract, as served by the local API at `/asyncapi.yaml`.
pub const ASYNCAPI: &str = include_str!("../../../docs/asyncapi.yaml");

/// Where the documents are registered for the validators' `$ref`s (never
/// fetched: every reference resolves inside the two documents).
const BASE: &str = "https://contract.cruddur.invalid/";

/// Response headers that are HTTP's, not the contract's (and CORS, which
/// `tests/template.rs` and the end-to-end suite check against the template).
const TRANSPORT_HEADERS: &[&str] =
    &["content-type", "content-length", "cache-control", "date", "vary", "connection", "transfer-encoding"];

/// The OpenAPI document as JSON.
pub fn openapi() -> &'static Value {
    &CONTRACT.openapi
}

/// The AsyncAPI document as JSON.
pub fn asyncapi() -> &'static Value {
    &CONTRACT.asyncapi
}

/// Every operation of the OpenAPI document as an API Gateway route key
/// (`GET /api/messages/{message_group_uuid}`), sorted.
pub fn documented_routes() -> Vec<String> {
    let mut keys: Vec<String> = CONTRACT.operations.keys().cloned().collect();
    keys.sort();
    keys
}

/// The statuses the document gives the operation of `route` (a route key).
pub fn documented_statuses(route: &str) -> Vec<u16> {
    let mut statuses: Vec<u16> =
        CONTRACT.operations.get(route).map(|o| o.keys().copied().collect()).unwrap_or_default();
    statuses.sort_unstable();
    statuses
}

/// Whether an answer of the operation `route` (its route key) is one the
/// document describes: its status is documented for the route, its content
/// type is the documented one, its body validates against that status's
/// schema, and every header it carries beyond HTTP's own is documented for
/// it (and its value validates). `Err` says what differs.
pub fn check_response(route: &str, status: u16, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    let operation = CONTRACT.operations.get(route).ok_or_else(|| format!("{route} is not in docs/openapi.yaml"))?;
    let documented = operation
        .get(&status)
        .ok_or_else(|| format!("{route} answered {status}, a status docs/openapi.yaml does not give it"))?;
    let media_type = headers
        .get("content-type")
        .map(|c| String::from_utf8_lossy(c.as_bytes()).split(';').next().unwrap_or("").trim().to_owned());
    if media_type.as_deref() != Some(documented.media_type.as_str()) {
        return Err(format!("{route} {status}: content type {media_type:?}, documented {:?}", documented.media_type));
    }
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| format!("{route} {status}: the body is not JSON ({e}): {}", String::from_utf8_lossy(body)))?;
    failures(&documented.body, &body).map_err(|why| format!("{route} {status}: the body {body} {why}"))?;
    for (name, value) in headers {
        let (name, value) = (name.as_str(), String::from_utf8_lossy(value.as_bytes()));
        if TRANSPORT_HEADERS.contains(&name) || name.starts_with("access-control-") {
            continue;
        }
        let schema = documented
            .headers
            .get(name)
            .ok_or_else(|| format!("{route} {status}: header {name} is not documented for this answer"))?;
        failures(schema, &Value::String(value.clone().into_owned()))
            .map_err(|why| format!("{route} {status}: header {name}: {value:?} {why}"))?;
    }
    Ok(())
}

/// Whether a frame the server sent on the socket is one of the events
/// docs/asyncapi.yaml describes (chosen by its `type`), field for field.
pub fn check_event(frame: &Value) -> Result<(), String> {
    let kind = frame.get("type").and_then(Value::as_str).unwrap_or("");
    let validator = CONTRACT
        .events
        .get(kind)
        .ok_or_else(|| format!("the frame {frame} has a type ({kind:?}) no event of docs/asyncapi.yaml has"))?;
    failures(validator, frame).map_err(|why| format!("the {kind:?} frame {frame} {why}"))
}

/// The `type`s of the events the server sends, sorted.
pub fn documented_events() -> Vec<String> {
    let mut kinds: Vec<String> = CONTRACT.events.keys().cloned().collect();
    kinds.sort();
    kinds
}

fn failures(validator: &Validator, instance: &Value) -> Result<(), String> {
    let errors: Vec<String> =
        validator.iter_errors(instance).map(|e| format!("at '{}': {e}", e.instance_path())).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("does not match the contract: {}", errors.join("; ")))
    }
}

/// One documented answer of an operation.
struct Answer {
    media_type: String,
    body: Validator,
    /// Documented response headers (lower case) and their values' schemas.
    headers: HashMap<String, Validator>,
}

struct Contract {
    openapi: Value,
    asyncapi: Value,
    /// Route key -> status -> the documented answer.
    operations: HashMap<String, HashMap<u16, Answer>>,
    /// Event `type` -> its payload's validator.
    events: HashMap<String, Validator>,
}

static CONTRACT: LazyLock<Contract> = LazyLock::new(|| {
    let openapi = parse_yaml(OPENAPI, "docs/openapi.yaml");
    let asyncapi = parse_yaml(ASYNCAPI, "docs/asyncapi.yaml");
    let registry = Registry::new()
        .add(format!("{BASE}openapi.yaml"), openapi.clone())
        .and_then(|r| r.add(format!("{BASE}asyncapi.yaml"), asyncapi.clone()))
        .and_then(|r| r.prepare())
        .unwrap_or_else(|e| panic!("the contract documents as JSON Schema resources: {e}"));
    let compile = |document: &str, pointer: &str| -> Validator {
        // A pointer in a URI fragment: `{` and `}` (path templates) percent-encoded.
        let fragment = pointer.replace('{', "%7B").replace('}', "%7D");
        let schema = serde_json::json!({ "$ref": format!("{BASE}{document}#{fragment}") });
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .with_registry(&registry)
            .build(&schema)
            .unwrap_or_else(|e| panic!("docs/{document}#{pointer} is not a usable schema: {e}"))
    };

    let mut operations = HashMap::new();
    for (path, item) in openapi["paths"].as_object().into_iter().flatten() {
        // A path item's other keys (`parameters`, `summary`) are no operations.
        let methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
        for (method, operation) in item.as_object().into_iter().flatten().filter(|(m, _)| methods.contains(&m.as_str()))
        {
            let mut answers = HashMap::new();
            for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                let status: u16 = status.parse().unwrap_or_else(|_| panic!("{method} {path}: status {status}"));
                // A response may be a `$ref` to components/responses.
                let (pointer, response) =
                    follow(&openapi, pointer_of(&["paths", path, method, "responses"], status), response);
                let content = response["content"]
                    .as_object()
                    .filter(|c| c.len() == 1)
                    .unwrap_or_else(|| panic!("{method} {path} {status}: one content type (every answer is JSON)"));
                let (media_type, _) = content.iter().next().unwrap_or_else(|| unreachable!());
                let body = compile("openapi.yaml", &format!("{pointer}/content/{}/schema", escape(media_type)));
                let mut headers = HashMap::new();
                for (name, header) in response["headers"].as_object().into_iter().flatten() {
                    let (at, _) = follow(&openapi, format!("{pointer}/headers/{}", escape(name)), header);
                    headers.insert(name.to_ascii_lowercase(), compile("openapi.yaml", &format!("{at}/schema")));
                }
                answers.insert(status, Answer { media_type: media_type.clone(), body, headers });
            }
            operations.insert(format!("{} {path}", method.to_ascii_uppercase()), answers);
        }
    }

    // The events: the messages of the operations the API sends, and the
    // replies to those it receives.
    let mut events = HashMap::new();
    for operation in asyncapi["operations"].as_object().into_iter().flatten().map(|(_, o)| o) {
        let sent = match operation["action"].as_str() {
            Some("send") => &operation["messages"],
            _ => &operation["reply"]["messages"],
        };
        for message in sent.as_array().into_iter().flatten() {
            let (pointer, message) = follow(&asyncapi, String::new(), message);
            let name = message["name"].as_str().unwrap_or_else(|| panic!("{pointer}: a message has a name")).to_owned();
            events.insert(name, compile("asyncapi.yaml", &format!("{pointer}/payload")));
        }
    }
    Contract { openapi, asyncapi, operations, events }
});

fn parse_yaml(text: &str, name: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("{name} is not YAML: {e}"))
}

/// `value` found at `pointer`, or, when it is a local `$ref`, what it refers
/// to (followed until it is not), with that object's pointer.
fn follow<'a>(document: &'a Value, pointer: String, value: &'a Value) -> (String, &'a Value) {
    match value.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) {
        Some(target) => {
            let found = document.pointer(target).unwrap_or_else(|| panic!("a $ref to #{target}, which is not there"));
            follow(document, target.to_owned(), found)
        }
        None => (pointer, value),
    }
}

fn pointer_of(parents: &[&str], last: u16) -> String {
    let mut pointer: String = parents.iter().map(|p| format!("/{}", escape(p))).collect();
    pointer.push_str(&format!("/{last}"));
    pointer
}

/// A JSON Pointer reference token (RFC 6901).
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(n, v)| (hyper::header::HeaderName::from_static(n), v.parse().unwrap())).collect()
    }

    #[test]
    fn the_documents_load_and_a_documented_answer_passes() {
        assert!(documented_routes().contains(&"POST /api/messages".to_owned()));
        assert_eq!(
            documented_events(),
            ["closing", "error", "message", "message_deleted", "message_edited", "pong", "read", "typing"]
        );
        let json = headers(&[("content-type", "application/json")]);
        check_response("GET /api/messages/counter", 200, &json, br#"{"count":1,"conversations":1}"#).unwrap();
        check_response("POST /api/messages", 422, &json, br#"["message_blank"]"#).unwrap();
        check_event(&serde_json::json!({"type": "pong"})).unwrap();
    }

    #[test]
    fn an_undocumented_field_status_header_or_code_fails() {
        let json = headers(&[("content-type", "application/json")]);
        let counter = "GET /api/messages/counter";
        let extra = check_response(counter, 200, &json, br#"{"count":1,"conversations":1,"total":2}"#);
        assert!(extra.unwrap_err().contains("total"));
        assert!(check_response(counter, 200, &json, br#"{"count":-1,"conversations":1}"#).is_err());
        assert!(check_response(counter, 400, &json, br#"["invalid_limit"]"#).unwrap_err().contains("400"));
        assert!(check_response("POST /api/messages", 422, &json, br#"["message_too_rude"]"#).is_err());
        let with_header = headers(&[("content-type", "application/json"), ("x-debug", "1")]);
        assert!(check_response(counter, 200, &with_header, br#"{"count":1,"conversations":1}"#)
            .unwrap_err()
            .contains("x-debug"));
        let text = headers(&[("content-type", "text/plain")]);
        assert!(check_response(counter, 200, &text, br#"{"count":1,"conversations":1}"#).is_err());
        assert!(check_event(&serde_json::json!({"type": "pong", "at": 1})).is_err());
        assert!(check_event(&serde_json::json!({"type": "typing"})).is_err());
        assert!(check_event(&serde_json::json!({"type": "closing", "reason": "bored"})).is_err());
    }

    #[test]
    fn a_message_event_uses_the_http_apis_fields() {
        let event = serde_json::json!({
            "type": "message",
            "uuid": "9b8e6c2e-1f0a-4a7e-8d0e-3c1f5b2a7d44",
            "display_name": "Andrew Brown",
            "handle": "andrewbrown",
            "message": "hi",
            "created_at": "2026-11-24T09:15:02.123456Z",
            "message_group_uuid": "5ae290ed-55d1-47a0-bc6d-fe2bc2700399",
            "unread": {"count": 1, "conversations": 1},
        });
        check_event(&event).unwrap();
        let mut bad = event.clone();
        bad["created_at"] = "yesterday".into();
        assert!(check_event(&bad).is_err());
        let mut bad = event.clone();
        bad["uuid"] = "not-a-uuid".into();
        assert!(check_event(&bad).is_err());
    }
}
