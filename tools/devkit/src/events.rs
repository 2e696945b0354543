//! The one builder of the events Lambda hands the functions: API Gateway HTTP
//! API (payload 2.0) requests, Cognito trigger events, the WebSocket API's
//! authorizer and route events, and batches from the table's stream.
//!
//! Tests start from the sample events in `events/` (the fixtures) and change
//! fields; the local API builds the event of each real HTTP request with
//! [`ApiEvent::new`]. Either way the JSON goes through lambda_http's own
//! deserialisation, as in Lambda.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayWebsocketProxyRequest,
};
use lambda_http::aws_lambda_events::cognito::{CognitoEventUserPoolsPostConfirmation, CognitoEventUserPoolsPreSignup};
use lambda_http::aws_lambda_events::dynamodb::{Event as StreamEvent, EventRecord};
use serde_json::{json, Map, Value};

/// The files of `events/`, embedded at build time (`build.rs`): a binary
/// built from the devkit reads no source tree.
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/events.rs"));
}

/// The names of the sample events (`*.json` in `events/`), in order.
pub fn sample_names() -> Vec<&'static str> {
    embedded::FILES.iter().map(|(name, _)| *name).filter(|n| n.ends_with(".json")).collect()
}

/// A file of `events/` by name (`list-messages.json`, `expected.tsv`), as
/// embedded at build time.
pub fn sample_text(name: &str) -> &'static str {
    embedded::FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
        .unwrap_or_else(|| panic!("events/{name} is not a sample event (rebuild after adding one)"))
}

/// A sample event's JSON, by file name (`list-messages.json`).
pub fn sample_json(name: &str) -> Value {
    serde_json::from_str(sample_text(name)).unwrap_or_else(|e| panic!("events/{name}: {e}"))
}

/// What a sample event must get (`events/expected.tsv`, the one list that
/// tests/functions.rs and scripts/sam-local both check against).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// An HTTP API event: the response's status.
    Status(u16),
    /// A Cognito trigger lets the sign-up through (the event comes back).
    Accepted,
    /// A Cognito trigger refuses it (an error reaches Cognito).
    Refused,
    /// The WebSocket authorizer allows the connection (an Allow policy).
    Allowed,
    /// The WebSocket authorizer denies it (a Deny policy).
    Denied,
    /// A stream batch was handled with no record reported as failed, and
    /// each record's message was posted to exactly these connections (of
    /// the fixture's, those that took it: a gone one may be tried too),
    /// sorted.
    Delivered(Vec<String>),
}

/// One line of `events/expected.tsv`.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// The file in `events/`.
    pub event: String,
    /// The template's logical id of the function that receives it.
    pub function: String,
    pub expected: Expected,
}

/// Every line of `events/expected.tsv`, in file order.
pub fn expectations() -> Vec<Expectation> {
    let text = sample_text("expected.tsv");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let (event, function, expected, posted_to) = match cols[..] {
                [event, function, expected] => (event, function, expected, None),
                [event, function, "delivered", posted_to] => (event, function, "delivered", Some(posted_to)),
                _ => panic!("events/expected.tsv: three tab-separated columns expected (four for delivered): {line:?}"),
            };
            let expected = match expected {
                "accepted" => Expected::Accepted,
                "refused" => Expected::Refused,
                "allowed" => Expected::Allowed,
                "denied" => Expected::Denied,
                "delivered" => {
                    let mut ids: Vec<String> = posted_to.unwrap_or("").split_whitespace().map(str::to_owned).collect();
                    ids.sort();
                    Expected::Delivered(ids)
                }
                status => Expected::Status(
                    status.parse().unwrap_or_else(|_| panic!("events/expected.tsv: bad status {status:?}")),
                ),
            };
            Expectation { event: event.to_owned(), function: function.to_owned(), expected }
        })
        .collect()
}

/// Headers API Gateway sets itself, whatever the client sent. lambda_http
/// builds the request URL from `host` and `x-forwarded-proto` with an
/// `unwrap()`, so a client's malformed Host passed through would panic it
/// (found by the fuzz target).
pub const GATEWAY_HEADERS: &[&str] = &["host", "x-forwarded-proto", "x-forwarded-port", "x-forwarded-for"];

/// An API Gateway HTTP API (v2) request event.
#[derive(Debug, Clone)]
pub struct ApiEvent(Value);

impl ApiEvent {
    /// The event API Gateway sends for `route` (`GET /api/messages/{message_group_uuid}`)
    /// requested at `raw_path`, with no identity, headers or body yet.
    pub fn new(route: &str, raw_path: &str) -> Self {
        let method = route.split(' ').next().unwrap_or("GET");
        ApiEvent(json!({
            "version": "2.0",
            "routeKey": route,
            "rawPath": raw_path,
            "rawQueryString": "",
            "headers": {},
            "requestContext": {
                "accountId": "local",
                "apiId": "local",
                "domainName": "localhost",
                "domainPrefix": "local",
                "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": ""},
                "requestId": uuid::Uuid::new_v4().to_string(),
                "routeKey": route,
                "stage": "$default",
                "time": "",
                "timeEpoch": std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0),
            },
            "isBase64Encoded": false,
        }))
    }

    /// A sample event from `events/`, as a starting point.
    pub fn sample(name: &str) -> Self {
        ApiEvent(sample_json(name))
    }

    /// The raw path (and the request context's copy of it).
    pub fn path(mut self, raw_path: &str) -> Self {
        self.0["rawPath"] = json!(raw_path);
        self.0["requestContext"]["http"]["path"] = json!(raw_path);
        self
    }

    /// One path variable, as the route's `{name}` matched it (decoded).
    pub fn path_param(mut self, name: &str, value: &str) -> Self {
        if !self.0["pathParameters"].is_object() {
            self.0["pathParameters"] = json!({});
        }
        self.0["pathParameters"][name] = json!(value);
        self
    }

    pub fn path_params(mut self, params: Map<String, Value>) -> Self {
        if params.is_empty() {
            self.0.as_object_mut().map(|o| o.remove("pathParameters"));
        } else {
            self.0["pathParameters"] = Value::Object(params);
        }
        self
    }

    /// The query string: the raw text as sent (`limit=5&cursor=...`), and
    /// its parameters decoded, as API Gateway passes both.
    pub fn query(mut self, raw: &str) -> Self {
        self.0["rawQueryString"] = json!(raw);
        let mut params = Map::new();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (k, v) = (percent_decode(k), percent_decode(v));
            match params.get_mut(&k) {
                // Repeated parameters are joined with commas, as API Gateway does.
                Some(Value::String(existing)) => {
                    existing.push(',');
                    existing.push_str(&v);
                }
                _ => {
                    params.insert(k, Value::String(v));
                }
            }
        }
        if let Some(event) = self.0.as_object_mut() {
            if params.is_empty() {
                event.remove("queryStringParameters");
            } else {
                event.insert("queryStringParameters".into(), Value::Object(params));
            }
        }
        self
    }

    /// `(name, value)` pairs as the query string, each value percent-encoded.
    pub fn query_pairs(self, pairs: &[(&str, &str)]) -> Self {
        let raw: Vec<String> =
            pairs.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect();
        self.query(&raw.join("&"))
    }

    /// The JWT authorizer's claims (strings, as API Gateway passes them);
    /// `None` removes the authorizer context altogether.
    pub fn claims(mut self, claims: Option<Map<String, Value>>) -> Self {
        match claims {
            Some(claims) => self.0["requestContext"]["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}}),
            None => {
                self.0["requestContext"].as_object_mut().map(|c| c.remove("authorizer"));
            }
        }
        self
    }

    /// The caller: an access token's claims with this `sub` (`None`: no
    /// authorizer context at all).
    pub fn caller(self, sub: Option<&str>) -> Self {
        let claims = sub.map(|sub| {
            let mut claims = Map::new();
            claims.insert("sub".into(), json!(sub));
            claims.insert("token_use".into(), json!("access"));
            claims
        });
        self.claims(claims)
    }

    /// API Gateway's id of this request (logs carry it).
    pub fn request_id(mut self, id: &str) -> Self {
        self.0["requestContext"]["requestId"] = json!(id);
        self
    }

    /// Sets a header (replacing one of that name).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if !self.0["headers"].is_object() {
            self.0["headers"] = json!({});
        }
        self.0["headers"][name.to_ascii_lowercase()] = json!(value);
        self
    }

    /// Adds a header as a client sent it: a repeated one is joined to the
    /// earlier value with a comma, as API Gateway does.
    pub fn append_header(self, name: &str, value: &str) -> Self {
        let joined = match self.0["headers"].get(name.to_ascii_lowercase()) {
            Some(Value::String(existing)) => format!("{existing},{value}"),
            _ => value.to_owned(),
        };
        self.header(name, &joined)
    }

    /// A body: text as is, anything else base64-encoded (`isBase64Encoded`).
    pub fn body(mut self, body: &[u8]) -> Self {
        match std::str::from_utf8(body) {
            Ok(text) => {
                self.0["body"] = json!(text);
                self.0["isBase64Encoded"] = json!(false);
            }
            Err(_) => return self.binary_body(body),
        }
        self
    }

    /// No body at all.
    pub fn without_body(mut self) -> Self {
        self.0.as_object_mut().map(|o| o.remove("body"));
        self.0["isBase64Encoded"] = json!(false);
        self
    }

    /// A body sent base64-encoded, whatever its bytes.
    pub fn binary_body(mut self, body: &[u8]) -> Self {
        self.0["body"] = json!(STANDARD.encode(body));
        self.0["isBase64Encoded"] = json!(true);
        self
    }

    /// A JSON body.
    pub fn json_body(self, body: &Value) -> Self {
        self.header("content-type", "application/json").body(body.to_string().as_bytes())
    }

    /// What API Gateway fills in from the connection: the caller's address,
    /// this API's domain (`host:port`), the user agent; and the headers it
    /// sets itself (`host`, `x-forwarded-*`) replace the client's.
    pub fn connection(mut self, peer: std::net::IpAddr, domain: &str, proto: &str) -> Self {
        if let Some(headers) = self.0["headers"].as_object_mut() {
            headers.retain(|name, _| !GATEWAY_HEADERS.contains(&name.as_str()));
        }
        let user_agent = self.0["headers"]["user-agent"].as_str().unwrap_or("").to_owned();
        let port = domain.rsplit_once(':').map(|(_, p)| p).unwrap_or(if proto == "https" { "443" } else { "80" });
        let context = &mut self.0["requestContext"];
        context["domainName"] = json!(domain);
        context["http"]["sourceIp"] = json!(peer.to_string());
        context["http"]["userAgent"] = json!(user_agent);
        self.header("host", domain)
            .header("x-forwarded-proto", proto)
            .header("x-forwarded-port", port)
            .header("x-forwarded-for", &peer.to_string())
    }

    pub fn json(&self) -> &Value {
        &self.0
    }

    pub fn into_json(self) -> Value {
        self.0
    }

    /// The request as the function sees it: the JSON parsed by lambda_http.
    pub fn request(&self) -> Result<lambda_http::Request, String> {
        lambda_http::request::from_str(&self.0.to_string()).map_err(|e| e.to_string())
    }
}

/// Any JSON object as an event API Gateway could send: it sets `host`,
/// `x-forwarded-proto` and `requestContext.domainName` itself, and `rawPath`
/// (always present, starting with '/') and `rawQueryString` arrive
/// URL-encoded. (lambda_http 1.3.2 unwraps a URL built from them: a
/// malformed Host panics it. The fuzz target found that; this is what it
/// feeds the parsers, and what the local API guarantees with
/// [`ApiEvent::connection`].)
pub fn with_gateway_guarantees(mut event: Map<String, Value>) -> Value {
    const DOMAIN: &str = "abcdef1234.execute-api.us-east-1.amazonaws.com";
    if let Some(Value::Object(headers)) = event.get_mut("headers") {
        headers.insert("host".into(), DOMAIN.into());
        headers.insert("x-forwarded-proto".into(), "https".into());
    }
    if let Some(Value::Object(context)) = event.get_mut("requestContext") {
        context.insert("domainName".into(), DOMAIN.into());
    }
    if !event.get("rawPath").is_some_and(Value::is_string) {
        event.insert("rawPath".into(), "/".into());
    }
    for (field, prefix) in [("rawPath", "/"), ("rawQueryString", "")] {
        if let Some(raw) = event.get(field).and_then(Value::as_str) {
            let mut fixed = if raw.starts_with(prefix) { String::new() } else { prefix.to_owned() };
            for b in raw.bytes() {
                if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?".contains(&b) {
                    fixed.push(b as char);
                } else {
                    fixed.push_str(&format!("%{b:02X}"));
                }
            }
            event.insert(field.into(), fixed.into());
        }
    }
    Value::Object(event)
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; anything else (a lone `%`, `+`) stays as it is.
pub fn percent_decode(s: &str) -> String {
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

/// A Cognito PostConfirmation event for this account, from the sample event.
pub fn post_confirmation(sub: &str, handle: &str, name: &str, email: &str) -> CognitoEventUserPoolsPostConfirmation {
    let mut event = sample_json("post-confirmation.json");
    event["userName"] = json!(sub);
    let attributes = &mut event["request"]["userAttributes"];
    attributes["sub"] = json!(sub);
    attributes["preferred_username"] = json!(handle);
    attributes["name"] = json!(name);
    attributes["email"] = json!(email);
    serde_json::from_value(event).unwrap_or_else(|e| panic!("a PostConfirmation event: {e}"))
}

/// A Cognito PreSignUp event for this handle, from the sample event.
pub fn pre_sign_up(handle: &str, name: &str, email: &str) -> CognitoEventUserPoolsPreSignup {
    let mut event = sample_json("pre-sign-up.json");
    let attributes = &mut event["request"]["userAttributes"];
    attributes["preferred_username"] = json!(handle);
    attributes["name"] = json!(name);
    attributes["email"] = json!(email);
    serde_json::from_value(event).unwrap_or_else(|e| panic!("a PreSignUp event: {e}"))
}

/// Where an API Gateway WebSocket connection is, as its events say it.
#[derive(Debug, Clone)]
pub struct WebSocketConnection<'a> {
    /// API Gateway's id of the connection.
    pub id: &'a str,
    /// The API's host (`{api-id}.execute-api.{region}.amazonaws.com`; locally `127.0.0.1:4568`).
    pub domain: &'a str,
    pub source_ip: &'a str,
}

impl WebSocketConnection<'_> {
    fn fill(&self, event: &mut Value) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let request_id = uuid::Uuid::new_v4().simple().to_string();
        let context = &mut event["requestContext"];
        context["connectionId"] = json!(self.id);
        context["domainName"] = json!(self.domain);
        context["identity"]["sourceIp"] = json!(self.source_ip);
        context["requestId"] = json!(request_id);
        context["extendedRequestId"] = json!(request_id);
        context["connectedAt"] = json!(now);
        context["requestTimeEpoch"] = json!(now);
        for headers in ["headers", "multiValueHeaders"] {
            if let Some(map) = event[headers].as_object_mut() {
                map.remove("Host");
            }
        }
        event["headers"]["Host"] = json!(self.domain);
        event["multiValueHeaders"]["Host"] = json!([self.domain]);
    }
}

/// The `$connect` authorizer's REQUEST event (from
/// `events/websocket-authorizer.json`) for this connection, with `?token=`
/// when a token is given.
pub fn websocket_authorizer(
    connection: &WebSocketConnection<'_>,
    token: Option<&str>,
) -> ApiGatewayCustomAuthorizerRequestTypeRequest {
    let mut event = sample_json("websocket-authorizer.json");
    connection.fill(&mut event);
    match token {
        Some(token) => {
            event["queryStringParameters"] = json!({ "token": token });
            event["multiValueQueryStringParameters"] = json!({ "token": [token] });
        }
        None => {
            event["queryStringParameters"] = json!({});
            event["multiValueQueryStringParameters"] = json!({});
        }
    }
    serde_json::from_value(event).unwrap_or_else(|e| panic!("an authorizer event: {e}"))
}

/// The WebSocket API's two routes with a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebSocketRoute {
    Connect,
    Disconnect,
}

/// A `$connect` or `$disconnect` event (from `events/websocket-connect.json`
/// or `websocket-disconnect.json`) for this connection, carrying the
/// authorizer's `context` as API Gateway passes it to every route.
pub fn websocket_route(
    route: WebSocketRoute,
    connection: &WebSocketConnection<'_>,
    context: &Map<String, Value>,
) -> ApiGatewayWebsocketProxyRequest {
    let mut event = sample_json(match route {
        WebSocketRoute::Connect => "websocket-connect.json",
        WebSocketRoute::Disconnect => "websocket-disconnect.json",
    });
    connection.fill(&mut event);
    event["requestContext"]["authorizer"] = Value::Object(context.clone());
    serde_json::from_value(event).unwrap_or_else(|e| panic!("a WebSocket route event: {e}"))
}

/// A client frame `body` routed to a function (`typing`), from
/// `events/websocket-typing.json`, for this connection with the authorizer's
/// `context`.
pub fn websocket_frame(
    connection: &WebSocketConnection<'_>,
    context: &Map<String, Value>,
    body: &str,
) -> ApiGatewayWebsocketProxyRequest {
    let mut event = sample_json("websocket-typing.json");
    connection.fill(&mut event);
    event["requestContext"]["authorizer"] = Value::Object(context.clone());
    event["body"] = json!(body);
    serde_json::from_value(event).unwrap_or_else(|e| panic!("a WebSocket frame event: {e}"))
}

/// A batch of stream records as Lambda's event source mapping hands it to
/// the function (the envelope of `events/deliver-messages.json`).
pub fn stream_batch(records: Vec<EventRecord>) -> StreamEvent {
    let mut event: StreamEvent =
        serde_json::from_value(sample_json("deliver-messages.json")).unwrap_or_else(|e| panic!("a stream event: {e}"));
    event.records = records;
    event
}

/// A stream record like `events/deliver-messages.json`'s, of `event_name`
/// (`INSERT`, `MODIFY`, `REMOVE`) for `item` (plain JSON, as
/// `Store::scan_all` reads it: strings and numbers), with sequence number
/// `sequence`: what DynamoDB Streams hands the delivery for that write.
pub fn stream_record(event_name: &str, item: &Value, sequence: u64) -> EventRecord {
    fn attribute(v: &Value) -> Value {
        match v {
            Value::Number(n) => json!({ "N": n.to_string() }),
            Value::Bool(b) => json!({ "BOOL": b }),
            Value::Null => json!({ "NULL": true }),
            Value::String(s) => json!({ "S": s }),
            other => json!({ "S": other.to_string() }),
        }
    }
    let image: Map<String, Value> =
        item.as_object().map(|o| o.iter().map(|(k, v)| (k.clone(), attribute(v))).collect()).unwrap_or_default();
    let keys: Map<String, Value> =
        image.iter().filter(|(k, _)| *k == "pk" || *k == "sk").map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut record = sample_json("deliver-messages.json")["Records"][0].clone();
    record["eventID"] = json!(uuid::Uuid::new_v4().simple().to_string());
    record["eventName"] = json!(event_name);
    record["dynamodb"]["Keys"] = Value::Object(keys);
    record["dynamodb"]["NewImage"] = Value::Object(image);
    record["dynamodb"]["SequenceNumber"] = json!(format!("{sequence:024}"));
    serde_json::from_value(record).unwrap_or_else(|e| panic!("a stream record: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_keeps_what_is_not_an_escape() {
        assert_eq!(percent_decode("%40bayko"), "@bayko");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn an_event_with_gateway_guarantees_parses_whatever_host_and_path_it_had() {
        let mut event = sample_json("list-message-groups.json");
        event["headers"]["host"] = json!("evil:99999");
        event["rawPath"] = json!("no slash/é?");
        event["rawQueryString"] = json!("a=ü b");
        let Value::Object(event) = event else { unreachable!() };
        let fixed = with_gateway_guarantees(event).to_string();
        assert!(lambda_http::request::from_str(&fixed).is_ok(), "{fixed}");
    }

    #[test]
    fn query_pairs_round_trip_through_lambda_http() {
        let request = ApiEvent::new("GET /api/message_groups", "/api/message_groups")
            .query_pairs(&[("limit", "5"), ("cursor", "a b&c=d")])
            .request()
            .unwrap();
        use lambda_http::RequestExt;
        let q = request.query_string_parameters();
        assert_eq!(q.first("limit"), Some("5"));
        assert_eq!(q.first("cursor"), Some("a b&c=d"));
    }
}
