//! A Lambda Runtime API endpoint for one function process at a time: the
//! process long-polls `GET .../invocation/next`, the driver hands it an event
//! and times the answer (`POST .../invocation/{id}/response` or `/error`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Mutex};

/// An event to hand to the function.
pub struct Invocation {
    pub request_id: String,
    pub event: Bytes,
}

/// What the function answered, and when the answer arrived.
pub struct Answer {
    pub request_id: String,
    pub ok: bool,
    pub body: Bytes,
    pub at: Instant,
}

/// A function waiting for its next event, since `since`.
pub struct Waiting {
    pub since: Instant,
    reply: oneshot::Sender<Invocation>,
}

impl Waiting {
    /// Hands the event over; when it was handed over, or the event back if
    /// the process that asked is gone.
    pub fn hand(self, invocation: Invocation) -> Result<Instant, Invocation> {
        let at = Instant::now();
        self.reply.send(invocation).map(|_| at)
    }
}

pub struct RuntimeApi {
    pub address: SocketAddr,
    waiting: Mutex<mpsc::Receiver<Waiting>>,
    answers: Mutex<mpsc::Receiver<Answer>>,
}

struct Shared {
    waiting: mpsc::Sender<Waiting>,
    answers: mpsc::Sender<Answer>,
}

impl RuntimeApi {
    pub async fn start() -> std::io::Result<Arc<RuntimeApi>> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (waiting_tx, waiting_rx) = mpsc::channel(4);
        let (answers_tx, answers_rx) = mpsc::channel(4);
        let shared = Arc::new(Shared { waiting: waiting_tx, answers: answers_tx });
        cruddur_devkit::net::serve(listener, shared, handle);
        Ok(Arc::new(RuntimeApi { address, waiting: Mutex::new(waiting_rx), answers: Mutex::new(answers_rx) }))
    }

    /// Forgets requests for events from processes that have been stopped.
    pub async fn drain(&self) {
        let mut waiting = self.waiting.lock().await;
        while waiting.try_recv().is_ok() {}
    }

    /// The next function that asks for an event.
    pub async fn next_waiting(&self) -> Option<Waiting> {
        self.waiting.lock().await.recv().await
    }

    /// The next answer.
    pub async fn next_answer(&self) -> Option<Answer> {
        self.answers.lock().await.recv().await
    }
}

fn respond(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
}

async fn handle(
    shared: Arc<Shared>,
    _peer: std::net::SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    if method == Method::GET && path == "/2018-06-01/runtime/invocation/next" {
        let (reply, handed) = oneshot::channel();
        if shared.waiting.send(Waiting { since: Instant::now(), reply }).await.is_err() {
            return Ok(respond(StatusCode::GONE, Bytes::new()));
        }
        let Ok(invocation) = handed.await else {
            return Ok(respond(StatusCode::GONE, Bytes::new()));
        };
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() + 10_000)
            .unwrap_or(0);
        let mut response = respond(StatusCode::OK, invocation.event);
        let headers = response.headers_mut();
        let mut set = |name: &'static str, value: String| {
            if let Ok(v) = hyper::header::HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        };
        set("lambda-runtime-aws-request-id", invocation.request_id);
        set("lambda-runtime-deadline-ms", deadline.to_string());
        set("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:000000000000:function:bench".into());
        set("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000;Sampled=0".into());
        set("content-type", "application/json".into());
        return Ok(response);
    }
    if method == Method::POST {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        // 2018-06-01/runtime/invocation/{id}/response|error, or .../init/error
        let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let at = Instant::now();
        match parts.as_slice() {
            [_, "runtime", "invocation", id, kind @ ("response" | "error")] => {
                let answer = Answer { request_id: (*id).to_owned(), ok: *kind == "response", body, at };
                let _ = shared.answers.send(answer).await;
                return Ok(respond(StatusCode::ACCEPTED, Bytes::new()));
            }
            [_, "runtime", "init", "error"] => {
                let answer = Answer { request_id: "init".into(), ok: false, body, at };
                let _ = shared.answers.send(answer).await;
                return Ok(respond(StatusCode::ACCEPTED, Bytes::new()));
            }
            _ => {}
        }
    }
    Ok(respond(StatusCode::NOT_FOUND, Bytes::new()))
}
