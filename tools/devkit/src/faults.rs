//! A fault-injecting HTTP proxy between the SDK and the local DynamoDB server.
//!
//! Faults: throttling (400 ThrottlingException), server errors (500), a
//! connection dropped before the request reaches the server, a connection
//! dropped after the server applied it (the answer is lost), a request held
//! before it reaches the server (never applied if its client gives up
//! first), a request applied at once whose answer is held (applied whether
//! or not its client waits for it), and the two answers DynamoDB gives concurrent transactions, which DynamoDB
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

use cruddur_core::{Config, Store};

use crate::client::TestApp;
use crate::engines::{dynamodb_endpoint, local_store};
use crate::fixtures::{sample_fixture, test_config};
use crate::net::{read_body, serve, HttpResponse, Upstream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Throttle,
    ServerError,
    /// Close the connection without forwarding: nothing is applied.
    DropBefore,
    /// Forward, then close the connection without the answer.
    DropAfter,
    /// Hold the request this long, then forward it. A client that gives up
    /// first closes the connection, and the request is never forwarded:
    /// nothing is applied.
    Slow(Duration),
    /// Forward at once (the engine applies it), then hold the answer this
    /// long: applied whether or not the client is still waiting.
    LateAnswer(Duration),
    /// Cancel a TransactWriteItems as DynamoDB does when another transaction
    /// holds one of its items: `TransactionCanceledException`, the last item
    /// `TransactionConflict`, the others `None`; any other write gets
    /// `TransactionConflictException`. Nothing is applied.
    Conflict,
    /// Cancel a TransactWriteItems as DynamoDB does when the condition of its
    /// first item failed (`ConditionalCheckFailed`, without the item; the
    /// others `None`), as if another writer had just changed that item; any
    /// other write gets `ConditionalCheckFailedException`. Nothing is applied.
    ConditionFailed,
    /// `TransactionInProgressException`: a transaction with this
    /// ClientRequestToken is still being applied. Nothing is applied.
    InProgress,
    /// For a stream's GetRecords: its shard iterator has expired
    /// (`ExpiredIteratorException`), and stays expired: every later
    /// GetRecords with that iterator gets the same answer.
    ExpiredIterator,
}

#[derive(Debug, Clone, Default)]
struct Plan {
    fault: Option<Fault>,
    /// How many more matching requests pass untouched before the fault starts.
    skip: usize,
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
    /// Shard iterators expired by [`Fault::ExpiredIterator`].
    expired: Mutex<std::collections::HashSet<String>>,
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
        self.inject_after(0, fault, count, only);
    }

    /// Let the next `skip` matching requests through, then inject `fault`
    /// into the `count` after them (None: all).
    pub fn inject_after(&self, skip: usize, fault: Fault, count: Option<usize>, only: Option<&'static str>) {
        *self.state.plan.lock().unwrap() = Plan { fault: Some(fault), skip, remaining: count, only };
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

    /// Waits until requests the proxy still holds (slow ones) are done, and
    /// the forwards of those it let through have landed.
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

/// DynamoDB's answer to a transaction of `items` items cancelled because one
/// of them (the last for a conflict, the first for a failed condition) could
/// not be applied.
fn cancelled(items: usize, code: &'static str) -> HttpResponse {
    let kind = "TransactionCanceledException";
    let n = items.max(1);
    let codes: Vec<&str> = (0..n)
        .map(|i| {
            let culprit = if code == "TransactionConflict" { n - 1 } else { 0 };
            if i == culprit {
                code
            } else {
                "None"
            }
        })
        .collect();
    let reasons: Vec<serde_json::Value> = codes
        .iter()
        .map(|code| match *code {
            "None" => serde_json::json!({"Code": "None"}),
            "TransactionConflict" => {
                serde_json::json!({"Code": code, "Message": "Transaction is ongoing for the item"})
            }
            _ => serde_json::json!({"Code": code, "Message": "The conditional request failed"}),
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

/// Counts a request (or a forward) in flight until dropped: a client that
/// gives up closes the connection, and hyper then drops the handler mid-way.
struct InFlight(Arc<State>);

impl InFlight {
    fn new(state: &Arc<State>) -> Self {
        *state.in_flight.lock().unwrap() += 1;
        InFlight(state.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut n) = self.0.in_flight.lock() {
            *n -= 1;
        }
    }
}

async fn handle(
    (state, upstream): (Arc<State>, Upstream),
    _peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<HttpResponse, std::io::Error> {
    let _in_flight = InFlight::new(&state);
    handle_inner(&state, &upstream, request).await
}

async fn handle_inner(
    state: &Arc<State>,
    upstream: &Upstream,
    request: Request<Incoming>,
) -> Result<HttpResponse, std::io::Error> {
    let target = request.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let operation = target.rsplit('.').next().unwrap_or("").to_owned();
    state.seen.lock().unwrap().push(operation);
    let fault = {
        let mut plan = state.plan.lock().unwrap();
        let matches = plan.fault.is_some() && plan.only.is_none_or(|o| target.ends_with(o));
        let skipped = matches && plan.skip > 0;
        if skipped {
            plan.skip -= 1;
        }
        let active = matches && !skipped && plan.remaining.is_none_or(|n| n > 0);
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
    if target.ends_with("GetRecords") {
        let iterator = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["ShardIterator"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let mut expired = state.expired.lock().unwrap();
        if fault == Some(Fault::ExpiredIterator) {
            expired.insert(iterator.clone());
        }
        if expired.contains(&iterator) {
            return Ok(dynamodb_error(StatusCode::BAD_REQUEST, "ExpiredIteratorException"));
        }
    }

    match fault {
        Some(Fault::Throttle) => return Ok(dynamodb_error(StatusCode::BAD_REQUEST, "ThrottlingException")),
        Some(Fault::ServerError) => {
            return Ok(dynamodb_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError"))
        }
        Some(Fault::DropBefore) => return Err(std::io::Error::other("injected: connection dropped")),
        Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
        Some(fault @ (Fault::Conflict | Fault::ConditionFailed)) if !target.ends_with("TransactWriteItems") => {
            let code = if fault == Fault::Conflict {
                "TransactionConflictException"
            } else {
                "ConditionalCheckFailedException"
            };
            return Ok(dynamodb_error(StatusCode::BAD_REQUEST, code));
        }
        Some(fault @ (Fault::Conflict | Fault::ConditionFailed)) => {
            let items = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["TransactItems"].as_array().map(Vec::len))
                .unwrap_or(1);
            let code = if fault == Fault::Conflict { "TransactionConflict" } else { "ConditionalCheckFailed" };
            return Ok(cancelled(items, code));
        }
        Some(Fault::InProgress) => {
            return Ok(dynamodb_error(StatusCode::BAD_REQUEST, "TransactionInProgressException"))
        }
        Some(Fault::ExpiredIterator) => return Ok(dynamodb_error(StatusCode::BAD_REQUEST, "ExpiredIteratorException")),
        Some(Fault::DropAfter) | Some(Fault::LateAnswer(_)) | None => {}
    }

    // Once forwarded, a request reaches the engine whatever its client does
    // meanwhile (its own task outlives this handler).
    let upstream = upstream.clone();
    let forwarding = InFlight::new(state);
    let forwarded = tokio::spawn(async move {
        let _forwarding = forwarding;
        upstream.forward(parts, body).await
    });
    let response = forwarded.await.map_err(std::io::Error::other)?.map_err(std::io::Error::other)?;
    match fault {
        Some(Fault::DropAfter) => Err(std::io::Error::other("injected: answer lost")),
        Some(Fault::LateAnswer(d)) => {
            tokio::time::sleep(d).await;
            Ok(response)
        }
        _ => Ok(response),
    }
}

/// The reliability tests' stack: a fresh table with the sample fixture,
/// reached through a [`FaultProxy`]; the functions' app over it; and a store
/// straight to the engine, for checking what was written.
pub struct FaultStack {
    pub proxy: FaultProxy,
    /// Through the proxy.
    pub app: TestApp,
    /// Straight to the engine.
    pub direct: Store,
    /// The budgets the app's client runs with.
    pub config: Config,
}

impl FaultStack {
    /// With the tests' generous time budgets ([`test_config`]): the injected
    /// faults decide each outcome, never the machine's load.
    pub async fn start() -> FaultStack {
        Self::with_budgets(test_config()).await
    }

    /// With `budgets`' SDK time budgets and attempts (its table name is
    /// replaced by a fresh one): for the tests about the budgets themselves.
    pub async fn with_budgets(budgets: Config) -> FaultStack {
        let config = Config { table: test_config().table, ..budgets };
        let proxy = FaultProxy::start(&dynamodb_endpoint()).await;
        let through = local_store(&config, &proxy.url).await;
        if let Err(e) =
            cruddur_core::store::MESSAGES_TABLE.create_without_stream(through.client(), through.table()).await
        {
            panic!("cannot create a test table through the fault proxy: {e}");
        }
        sample_fixture(&through).await;
        let direct = local_store(&config, &dynamodb_endpoint()).await;
        proxy.take_requests();
        FaultStack { proxy, app: TestApp::new(through), direct, config }
    }
}
