//! A stand-in of API Gateway's `@connections` management API for the
//! delivery tests: it records every `PostToConnection` (connection id and
//! body) and `DeleteConnection`, and answers each connection as told: 200
//! by default, 410 `GoneException` for a connection that is gone, 429
//! `LimitExceededException` for a full buffer, any other status, or late.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;
use tokio::net::TcpListener;

use crate::events::percent_decode;
use crate::net::{read_body, serve, HttpResponse};

#[derive(Default)]
struct State {
    /// Every post received, in order: (connection id, body as JSON).
    posts: Mutex<Vec<(String, Value)>>,
    /// Why posted frames are not events of docs/asyncapi.yaml.
    undocumented: Mutex<Vec<String>>,
    /// The status each connection answers with (absent: 200).
    answers: Mutex<HashMap<String, u16>>,
    /// How long each connection takes to answer a post (absent: at once).
    delays: Mutex<HashMap<String, Duration>>,
    /// Every connection closed with DeleteConnection, in order.
    deleted: Mutex<Vec<String>>,
}

pub struct ConnectionsStandIn {
    pub url: String,
    state: Arc<State>,
}

impl ConnectionsStandIn {
    pub async fn start() -> ConnectionsStandIn {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let state = Arc::new(State::default());
        serve(listener, state.clone(), handle);
        ConnectionsStandIn { url, state }
    }

    /// Posts to connection `id` answer `status` from now on (410: gone).
    pub fn answer(&self, id: &str, status: u16) {
        self.state.answers.lock().unwrap().insert(id.to_owned(), status);
    }

    /// Posts to connection `id` are answered after `delay` from now on.
    pub fn delay(&self, id: &str, delay: Duration) {
        self.state.delays.lock().unwrap().insert(id.to_owned(), delay);
    }

    /// The connections closed with DeleteConnection so far, sorted.
    pub fn deleted(&self) -> Vec<String> {
        let mut ids = self.state.deleted.lock().unwrap().clone();
        ids.sort();
        ids
    }

    /// The frames of type `closing` posted so far: (connection id, reason), sorted.
    pub fn closing(&self) -> Vec<(String, String)> {
        let mut frames: Vec<(String, String)> = self
            .posts()
            .into_iter()
            .filter(|(_, body)| body["type"] == "closing")
            .map(|(id, body)| (id, body["reason"].as_str().unwrap_or_default().to_owned()))
            .collect();
        frames.sort();
        frames
    }

    /// The posts received so far: (connection id, body). Panics if any was
    /// not an event of docs/asyncapi.yaml (every accessor reads this).
    pub fn posts(&self) -> Vec<(String, Value)> {
        let undocumented = self.state.undocumented.lock().unwrap().clone();
        assert!(undocumented.is_empty(), "the delivery posted frames outside the contract: {undocumented:#?}");
        self.state.posts.lock().unwrap().clone()
    }

    /// The connections that were posted the message with this `uuid`, sorted.
    pub fn posted(&self, uuid: &str) -> Vec<String> {
        let mut ids: Vec<String> =
            self.posts().into_iter().filter(|(_, body)| body["uuid"] == uuid).map(|(id, _)| id).collect();
        ids.sort();
        ids
    }

    /// A management-API client pointed at this stand-in whose posts wait
    /// up to `timeout` each (no attempt limit of its own): for showing what
    /// bounds a caller other than the post budgets.
    pub async fn patient_client(&self, timeout: Duration) -> aws_sdk_apigatewaymanagement::Client {
        let sdk = crate::engines::local_sdk_config(&crate::fixtures::test_config(), &self.url).await;
        aws_sdk_apigatewaymanagement::Client::from_conf(
            aws_sdk_apigatewaymanagement::config::Builder::from(&sdk)
                .endpoint_url(&self.url)
                .timeout_config(aws_config::timeout::TimeoutConfig::builder().operation_timeout(timeout).build())
                .build(),
        )
    }

    /// The delivery's own management-API client (its post budgets), pointed
    /// at this stand-in.
    pub async fn client(&self) -> aws_sdk_apigatewaymanagement::Client {
        let sdk = crate::engines::local_sdk_config(&crate::fixtures::test_config(), &self.url).await;
        cruddur_core::realtime::connections_client(&sdk, &self.url)
    }
}

fn answer(status: StatusCode, kind: Option<&str>) -> HttpResponse {
    let body = match kind {
        Some(kind) => serde_json::json!({ "message": kind }).to_string(),
        None => "{}".to_owned(),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert("content-type", "application/json".parse().unwrap());
    if let Some(kind) = kind {
        response.headers_mut().insert("x-amzn-errortype", kind.parse().unwrap());
    }
    response
}

async fn handle(state: Arc<State>, _peer: SocketAddr, request: Request<Incoming>) -> Result<HttpResponse, String> {
    let Some(id) = request.uri().path().strip_prefix("/@connections/").map(percent_decode) else {
        return Ok(answer(StatusCode::NOT_FOUND, Some("NotFoundException")));
    };
    let status = state.answers.lock().unwrap().get(&id).copied().unwrap_or(200);
    if request.method() == Method::DELETE {
        if status == 410 {
            return Ok(answer(StatusCode::GONE, Some("GoneException")));
        }
        state.deleted.lock().unwrap().push(id);
        return Ok(answer(StatusCode::NO_CONTENT, None));
    }
    let body = read_body(request.into_body()).await;
    let json = serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
    if let Err(why) = crate::contract::check_event(&json) {
        state.undocumented.lock().unwrap().push(why);
    }
    state.posts.lock().unwrap().push((id.clone(), json));
    let delay = state.delays.lock().unwrap().get(&id).copied();
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    Ok(match status {
        200 => answer(StatusCode::OK, None),
        410 => answer(StatusCode::GONE, Some("GoneException")),
        429 => answer(StatusCode::TOO_MANY_REQUESTS, Some("LimitExceededException")),
        other => answer(
            StatusCode::from_u16(other).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Some("InternalServerErrorException"),
        ),
    })
}
