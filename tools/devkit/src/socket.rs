//! The one WebSocket client of the tests and the benchmark: connects as a
//! browser does (the access token in the query string), reads the events the
//! server pushes, and can close cleanly or vanish without a word.

use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// What a connection did next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// A text frame holding a JSON object.
    Event(Value),
    /// Nothing within the time given.
    Silence,
    /// A frame that is not an event (not JSON, not an object, binary).
    Garbage(String),
    /// The connection ended (a close frame, an error, or the stream's end).
    Closed(String),
}

/// An open connection.
pub struct Socket {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The uuids of the message events already returned: delivery is at
    /// least once (the send's push, then the stream's), and this client,
    /// as the contract tells clients to, drops a repeat.
    seen: std::collections::HashSet<String>,
    /// How many repeats it dropped.
    pub repeats: usize,
    /// Events about the conversation rather than its messages (`read`,
    /// `typing`), set aside as they arrive so that waiting for messages is
    /// not thrown by them; [`Socket::event_of`] takes them.
    aside: Vec<Value>,
}

/// The event types [`Socket::next`] sets aside.
const SET_ASIDE: &[&str] = &["read", "typing"];

impl Socket {
    /// Connects to `url` (`ws://host:port`), with `?token=` when a token is
    /// given. A refusal is the HTTP status the server answered instead of
    /// switching protocols (0 when there was no answer).
    pub async fn connect(url: &str, token: Option<&str>) -> Result<Socket, u16> {
        let url = match token {
            Some(token) => format!("{}/?token={token}", url.trim_end_matches('/')),
            None => url.to_owned(),
        };
        match tokio_tungstenite::connect_async(url.as_str()).await {
            Ok((stream, _)) => Ok(Socket { stream, seen: Default::default(), repeats: 0, aside: Vec::new() }),
            Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(_) => Err(0),
        }
    }

    /// What the server does next within `within`: an event (a text frame
    /// holding JSON), nothing, a frame that is not an event, or the end of
    /// the connection. Pings and pongs are not events and are passed over;
    /// so is a message event already returned (a repeat, counted).
    pub async fn next(&mut self, within: Duration) -> Next {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return Next::Silence,
                Ok(None) => return Next::Closed("the stream ended".into()),
                Ok(Some(Err(e))) => return Next::Closed(e.to_string()),
                Ok(Some(Ok(frame))) => frame,
            };
            return match frame {
                // An event is one docs/asyncapi.yaml describes; anything
                // else is garbage, which no test expects of the server.
                Message::Text(text) => match serde_json::from_str(text.as_str()) {
                    Ok(value @ Value::Object(_)) => match crate::contract::check_event(&value) {
                        Ok(()) if self.repeat(&value) => continue,
                        Ok(()) if SET_ASIDE.iter().any(|kind| value["type"] == *kind) => {
                            self.aside.push(value);
                            continue;
                        }
                        Ok(()) => Next::Event(value),
                        Err(why) => Next::Garbage(format!("an event outside the contract: {why}")),
                    },
                    _ => Next::Garbage(text.as_str().to_owned()),
                },
                Message::Close(frame) => Next::Closed(format!("close frame {frame:?}")),
                Message::Binary(bytes) => Next::Garbage(format!("a binary frame of {} bytes", bytes.len())),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
        }
    }

    /// The first `kind` event (`read`, `typing`) set aside or arriving
    /// within `within`, taken.
    pub async fn event_of(&mut self, kind: &str, within: Duration) -> Result<Value, String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(at) = self.aside.iter().position(|e| e["type"] == kind) {
                return Ok(self.aside.remove(at));
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Next::Silence if left.is_zero() => return Err(format!("no {kind} event within {within:?}")),
                Next::Silence => {}
                Next::Event(other) => return Err(format!("waiting for a {kind} event, got {other}")),
                other => return Err(format!("waiting for a {kind} event, got {other:?}")),
            }
        }
    }

    /// The `read` and `typing` events set aside and not taken yet, taken.
    pub fn set_aside(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.aside)
    }

    /// Counts these messages as seen (a client that reloaded them over
    /// HTTP): their events are repeats from now on.
    pub fn have(&mut self, uuids: &[&str]) {
        self.seen.extend(uuids.iter().map(|u| u.to_string()));
    }

    /// Whether `event` is a message event already returned (counted).
    fn repeat(&mut self, event: &Value) -> bool {
        let Some(uuid) = event["uuid"].as_str().filter(|_| event["type"] == "message") else { return false };
        let repeat = !self.seen.insert(uuid.to_owned());
        self.repeats += usize::from(repeat);
        repeat
    }

    /// The next event, or why there is none (silence, garbage or the end).
    pub async fn next_event(&mut self, within: Duration) -> Result<Value, Next> {
        match self.next(within).await {
            Next::Event(event) => Ok(event),
            other => Err(other),
        }
    }

    /// The first event of each message in `uuids`, in arrival order, within
    /// `within` in all. Delivery is at least once: a repeat of a message
    /// already seen is passed over; an event of any other message, garbage,
    /// or the end of the connection is a failure.
    pub async fn messages(&mut self, uuids: &[&str], within: Duration) -> Result<Vec<Value>, String> {
        let deadline = tokio::time::Instant::now() + within;
        let mut seen: Vec<Value> = Vec::new();
        while seen.len() < uuids.len() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event =
                self.next_event(left).await.map_err(|n| format!("waiting for {uuids:?}, got {n:?} after {seen:?}"))?;
            let uuid = event["uuid"].as_str().unwrap_or_default().to_owned();
            if seen.iter().any(|e| e["uuid"] == uuid.as_str()) {
                continue;
            }
            if !uuids.contains(&uuid.as_str()) {
                return Err(format!("an event of another message: {event} (waiting for {uuids:?})"));
            }
            seen.push(event);
        }
        Ok(seen)
    }

    /// Checks that nothing at all arrives for `within` (no event, no
    /// garbage, and the connection stays open), but repeats of the messages
    /// in `already` (delivery is at least once).
    pub async fn quiet(&mut self, within: Duration, already: &[&str]) -> Result<(), Next> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Next::Silence => return Ok(()),
                Next::Event(e) if e["uuid"].as_str().is_some_and(|u| already.contains(&u)) => continue,
                other => return Err(other),
            }
        }
    }

    /// Sends a text frame (a client's message to the API, such as a ping).
    pub async fn send(&mut self, text: &str) -> Result<(), String> {
        use futures_util::SinkExt;
        self.stream.send(Message::text(text)).await.map_err(|e| e.to_string())
    }

    /// Closes with a close frame, as a browser tab that navigates away.
    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
        // Read until the server's close frame answers ours.
        let _ = self.next(Duration::from_secs(5)).await;
    }

    /// Drops the connection without a close frame (a laptop that lost its
    /// network, a killed tab): the server learns of it only when it writes.
    pub fn vanish(self) {
        drop(self.stream);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::SinkExt;

    /// A server that sends `frames`, then closes.
    async fn server(frames: Vec<Message>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut socket = tokio_tungstenite::accept_async(stream).await.unwrap();
            for frame in frames {
                socket.send(frame).await.unwrap();
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            let _ = socket.close(None).await;
        });
        url
    }

    const A: &str = "9b8e6c2e-1f0a-4a7e-8d0e-3c1f5b2a7d44";
    const B: &str = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f";

    /// A message event of docs/asyncapi.yaml, with this uuid.
    fn event(uuid: &str) -> Message {
        Message::text(
            serde_json::json!({
                "type": "message", "uuid": uuid, "display_name": "Andrew Brown", "handle": "andrewbrown",
                "message": "hi", "created_at": "2026-11-24T09:15:02.123456Z",
                "message_group_uuid": "5ae290ed-55d1-47a0-bc6d-fe2bc2700399",
            })
            .to_string(),
        )
    }

    #[tokio::test]
    async fn silence_garbage_events_and_closure_are_told_apart() {
        let url = server(vec![
            event(A),
            Message::text("not json"),
            Message::text("[1,2]"),
            Message::binary(vec![1u8, 2, 3]),
            Message::text(r#"{"type":"message","uuid":"a"}"#),
            event(A),
        ])
        .await;
        let mut socket = Socket::connect(&url, None).await.unwrap();
        let within = Duration::from_secs(5);
        assert_eq!(socket.messages(&[A], within).await.unwrap()[0]["uuid"], A);
        assert_eq!(socket.next(within).await, Next::Garbage("not json".into()));
        assert_eq!(socket.next(within).await, Next::Garbage("[1,2]".into()));
        assert!(matches!(socket.next(within).await, Next::Garbage(_)));
        // JSON that is not an event of docs/asyncapi.yaml is garbage too.
        assert!(matches!(socket.next(within).await, Next::Garbage(g) if g.contains("outside the contract")));
        // A repeat of a message already seen is not noise; then silence.
        assert_eq!(socket.quiet(Duration::from_millis(100), &[A]).await, Ok(()));
        assert!(matches!(socket.next(within).await, Next::Closed(_)), "the server closed");

        let url = server(vec![Message::text("garbage")]).await;
        let mut socket = Socket::connect(&url, None).await.unwrap();
        assert_eq!(socket.quiet(Duration::from_millis(100), &[]).await, Err(Next::Garbage("garbage".into())));
        let url = server(vec![event(B)]).await;
        let mut socket = Socket::connect(&url, None).await.unwrap();
        let other = socket.messages(&[A], within).await;
        assert!(other.is_err_and(|e| e.contains("another message")), "an unexpected message fails");
        let url = server(vec![]).await;
        let mut socket = Socket::connect(&url, None).await.unwrap();
        assert!(
            matches!(socket.quiet(Duration::from_secs(5), &[]).await, Err(Next::Closed(_))),
            "a close is not silence"
        );
    }
}
