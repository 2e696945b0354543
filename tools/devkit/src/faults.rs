//! A fault-injecting HTTP proxy between the SDK and the local DynamoDB server.
//!
//! Faults: throttling (400 ThrottlingException), server errors (500), a
//! connection dropped before the request reaches the server, a connection
//! dropped after the server applied it (the answer is lost), slow answers,
//! and the two answers DynamoDB gives concurrent transactions, which DynamoDB
//! Local never gives (it applies transactions one at a time): a
//! TransactWriteItems cancelled for `TransactionConflict`, and
//! `TransactionInProgressException`.
//!
//! A retried TransactWriteItems whose ClientRequestToken already succeeded is
//! answered by the engine itself, as DynamoDB does: the proxy only forwards.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;

use crate::net::{read_body, serve, HttpResponse, Upstream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Throttle,
    ServerError,
    /// Close the connection without forwarding: nothing is applied.
    DropBefore,
    /// Forward, then close the connection without the answer.
    DropAfter,
    /// Wait this long, then forward.
    Slow(Duration),
    /// Cancel a TransactWriteItems as DynamoDB does when another transaction
    /// holds one of its items: `TransactionCanceledException`, the last item
    /// `TransactionConflict`, the others `None`. Nothing is applied.
    Conflict,
    /// `TransactionInProgressException`: a transaction with this
    /// ClientRequestToken is still being applied. Nothing is applied.
    InProgress,
}

#[derive(Debug, Clone, Default)]
struct Plan {
    fault: Option<Fault>,
    /// How many more matching requests get the fault (None: all of them).
    remaining: Option<usize>,
    /// Only requests whose X-Amz-Target ends with this (e.g. "TransactWriteItems").
    only: Option<&'static str>,
}

#[derive(Default)]
struct State {
    plan: Mutex<Plan>,
    /// Faults injected so far.
    injected: Mutex<usize>,
    /// Requests still being handled (slow ones may outlive their client).
    in_flight: Mutex<usize>,
    /// The operation of every request received (`GetItem`, `Query`...).
    seen: Mutex<Vec<String>>,
}

pub struct FaultProxy {
    pub url: String,
    state: Arc<State>,
}

impl FaultProxy {
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let state = Arc::new(State::default());
        let upstream = Upstream::new(upstream).expect("upstream URL");
        serve(listener, (state.clone(), upstream), handle);
        FaultProxy { url, state }
    }

    /// Inject `fault` into the next `count` matching requests (None: all).
    pub fn inject(&self, fault: Fault, count: Option<usize>, only: Option<&'static str>) {
        *self.state.plan.lock().unwrap() = Plan { fault: Some(fault), remaining: count, only };
    }

    pub fn heal(&self) {
        *self.state.plan.lock().unwrap() = Plan::default();
    }

    pub fn injected(&self) -> usize {
        *self.state.injected.lock().unwrap()
    }

    /// The operations of the requests received since the last call (the
    /// DynamoDB round trips a piece of code made), in order.
    pub fn take_requests(&self) -> Vec<String> {
        std::mem::take(&mut *self.state.seen.lock().unwrap())
    }

    /// Waits until requests the proxy still holds (slow ones) are done.
    pub async fn settle(&self) {
        for _ in 0..600 {
            if *self.state.in_flight.lock().unwrap() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn dynamodb_error(status: StatusCode, kind: &str) -> HttpResponse {
    let body =
        format!(r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{kind}","message":"injected by the test proxy"}}"#);
    dynamodb_answer(status, kind, body)
}

/// DynamoDB's answer to a transaction of `items` items cancelled because the
/// last one conflicts with another transaction.
fn conflict(items: usize) -> HttpResponse {
    let kind = "TransactionCanceledException";
    let codes: Vec<&str> =
        (0..items.max(1)).map(|i| if i + 1 == items.max(1) { "TransactionConflict" } else { "None" }).collect();
    let reasons: Vec<serde_json::Value> = codes
        .iter()
        .map(|code| match *code {
            "None" => serde_json::json!({"Code": "None"}),
            _ => serde_json::json!({"Code": code, "Message": "Transaction is ongoing for the item"}),
        })
        .collect();
    let body = serde_json::json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
        "Message": format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", codes.join(", ")),
        "CancellationReasons": reasons,
    });
    dynamodb_answer(StatusCode::BAD_REQUEST, kind, body.to_string())
}

fn dynamodb_answer(status: StatusCode, kind: &str, body: String) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert("content-type", "application/x-amz-json-1.0".parse().unwrap());
    response.headers_mut().insert("x-amzn-errortype", kind.parse().unwrap());
    response
}

async fn handle(
    (state, upstream): (Arc<State>, Upstream),
    _peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<HttpResponse, std::io::Error> {
    // Counted down on drop too: a client that gives up closes the
    // connection, and hyper then drops this future mid-way.
    struct InFlight<'a>(&'a State);
    impl Drop for InFlight<'_> {
        fn drop(&mut self) {
            if let Ok(mut n) = self.0.in_flight.lock() {
                *n -= 1;
            }
        }
    }
    *state.in_flight.lock().unwrap() += 1;
    let _in_flight = InFlight(&state);
    handle_inner(&state, &upstream, request).await
}

async fn handle_inner(
    state: &State,
    upstream: &Upstream,
    request: Request<Incoming>,
) -> Result<HttpResponse, std::io::Error> {
    let target = request.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let operation = target.rsplit('.').next().unwrap_or("").to_owned();
    state.seen.lock().unwrap().push(operation);
    let fault = {
        let mut plan = state.plan.lock().unwrap();
        let matches = plan.fault.is_some() && plan.only.is_none_or(|o| target.ends_with(o));
        let active = matches && plan.remaining.is_none_or(|n| n > 0);
        if active {
            if let Some(n) = plan.remaining.as_mut() {
                *n -= 1;
            }
            plan.fault
        } else {
            None
        }
    };
    if fault.is_some() {
        *state.injected.lock().unwrap() += 1;
    }
    let (parts, body) = request.into_parts();
    let body = read_body(body).await;

    match fault {
        Some(Fault::Throttle) => return Ok(dynamodb_error(StatusCode::BAD_REQUEST, "ThrottlingException")),
        Some(Fault::ServerError) => {
            return Ok(dynamodb_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError"))
        }
        Some(Fault::DropBefore) => return Err(std::io::Error::other("injected: connection dropped")),
        Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
        Some(Fault::Conflict) => {
            let items = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["TransactItems"].as_array().map(Vec::len))
                .unwrap_or(1);
            return Ok(conflict(items));
        }
        Some(Fault::InProgress) => {
            return Ok(dynamodb_error(StatusCode::BAD_REQUEST, "TransactionInProgressException"))
        }
        Some(Fault::DropAfter) | None => {}
    }

    let response = upstream.forward(parts, body).await.map_err(std::io::Error::other)?;
    if fault == Some(Fault::DropAfter) {
        return Err(std::io::Error::other("injected: answer lost"));
    }
    Ok(response)
}
