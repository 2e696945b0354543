//! The one WebSocket client of the tests and the benchmark: connects as a
//! browser does (the access token in the query string), reads the events the
//! server pushes, and can close cleanly or vanish without a word.

use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// An open connection.
pub struct Socket {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

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
            Ok((stream, _)) => Ok(Socket { stream }),
            Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(_) => Err(0),
        }
    }

    /// The next event pushed (a text frame, as JSON), or `None` when none
    /// comes within `within` or the connection ends.
    pub async fn next_event(&mut self, within: Duration) -> Option<Value> {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()??.ok()?;
            match frame {
                Message::Text(text) => return serde_json::from_str(text.as_str()).ok(),
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Closes with a close frame, as a browser tab that navigates away.
    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
        // Read until the server's close frame answers ours.
        let _ = self.next_event(Duration::from_secs(2)).await;
    }

    /// Drops the connection without a close frame (a laptop that lost its
    /// network, a killed tab): the server learns of it only when it writes.
    pub fn vanish(self) {
        drop(self.stream);
    }
}
