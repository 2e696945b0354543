//! The one test client: the functions' handlers driven with events built from
//! the samples, a method per route (as zero2prod's `TestApp`), and the answer
//! read one way.

use cruddur_core::api::{self, App, NEXT_CURSOR_HEADER, REPLAYED_HEADER};
use cruddur_core::Store;
use serde_json::Value;

use crate::events::ApiEvent;

/// What a route answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    /// The body as JSON (a string holding the text if it was not JSON).
    pub body: Value,
    /// The `x-next-cursor` header.
    pub next_cursor: Option<String>,
    pub content_type: Option<String>,
    /// `Idempotent-Replayed: true`: an earlier request with the same
    /// Idempotency-Key produced this answer.
    pub replayed: bool,
}

impl Answer {
    /// This answer, after checking it is a 200 (the failure shows it whole).
    #[track_caller]
    pub fn ok(self) -> Answer {
        assert_eq!(self.status, 200, "expected 200: {self:?}");
        self
    }

    /// `(status, body)`, for one-line assertions.
    pub fn pair(&self) -> (u16, Value) {
        (self.status, self.body.clone())
    }
}

/// The app the functions run, over `store`.
pub struct TestApp {
    pub app: App,
    pub store: Store,
}

impl TestApp {
    pub fn new(store: Store) -> Self {
        TestApp { app: App::new(store.clone()), store }
    }

    /// The app create-message runs on AWS: each message it stores is pushed
    /// with `push` before the answer.
    pub fn pushing(store: Store, push: cruddur_core::realtime::Delivery) -> Self {
        TestApp { app: App::new(store.clone()).with_push(push), store }
    }

    /// This app, deleting accounts from `directory`.
    pub fn with_directory(self, directory: std::sync::Arc<dyn cruddur_core::api::Directory>) -> Self {
        TestApp { app: self.app.with_directory(directory), store: self.store }
    }

    /// DELETE /api/me as `sub`.
    pub async fn delete_my_account(&self, sub: &str) -> Answer {
        self.call(ApiEvent::sample("delete-my-account.json").caller(Some(sub))).await
    }

    /// Any event, through the handler of its route.
    pub async fn call(&self, event: ApiEvent) -> Answer {
        let request = event.request().unwrap_or_else(|e| panic!("not an HTTP API event: {e}"));
        self.answer(request).await
    }

    /// Any event, as Lambda hands it over with `time_left` until the
    /// invocation's deadline (the Lambda context's `deadline`).
    pub async fn call_with_deadline(&self, event: ApiEvent, time_left: std::time::Duration) -> Answer {
        use lambda_http::RequestExt;
        let request = event.request().unwrap_or_else(|e| panic!("not an HTTP API event: {e}"));
        self.answer(request.with_lambda_context(lambda_context(time_left))).await
    }

    async fn answer(&self, request: lambda_http::Request) -> Answer {
        let route = api::route_key(&request).map(str::to_owned);
        // Boxed: a test awaiting many calls would otherwise hold every
        // handler's (large, in debug builds) future on its thread's stack.
        let response = match Box::pin(api::dispatch(&self.app, request)).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(header("content-type").as_deref(), Some("application/json"), "every response is JSON");
        let bytes = response.body().as_ref();
        // Every answer of a route is one docs/openapi.yaml describes (a
        // request naming no route is the dispatch's 404, not an operation's).
        if let Some(route) = route.filter(|r| api::ROUTES.iter().any(|known| known.key == r)) {
            if let Err(why) =
                crate::contract::check_response(&route, response.status().as_u16(), response.headers(), bytes)
            {
                panic!("an answer outside the contract: {why}");
            }
        }
        Answer {
            status: response.status().as_u16(),
            body: serde_json::from_slice(bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned())),
            next_cursor: header(NEXT_CURSOR_HEADER),
            content_type: header("content-type"),
            replayed: header(REPLAYED_HEADER).as_deref() == Some("true"),
        }
    }

    /// GET /api/message_groups as `sub`, with this raw query string.
    pub async fn list_message_groups(&self, sub: &str, query: &str) -> Answer {
        self.call(ApiEvent::sample("list-message-groups.json").caller(Some(sub)).query(query)).await
    }

    /// GET /api/messages/{group} as `sub`, with this raw query string.
    pub async fn list_messages(&self, sub: &str, group: &str, query: &str) -> Answer {
        self.call(messages_event(group).caller(Some(sub)).query(query)).await
    }

    /// POST /api/messages as `sub` with this JSON body.
    pub async fn create_message(&self, sub: &str, body: &Value) -> Answer {
        self.call(create_message_event().caller(Some(sub)).json_body(body)).await
    }

    /// POST /api/messages as `sub` with this JSON body and `Idempotency-Key: key`.
    pub async fn create_message_with_key(&self, sub: &str, key: &str, body: &Value) -> Answer {
        self.call(create_message_event().caller(Some(sub)).json_body(body).header("Idempotency-Key", key)).await
    }

    /// POST /api/messages as `sub`: a reply of `text` in the sample message group.
    pub async fn reply(&self, sub: &str, text: &str) -> Answer {
        self.create_message(sub, &reply(text)).await
    }

    /// GET /api/messages/counter as `sub`.
    pub async fn message_counter(&self, sub: &str) -> Answer {
        self.call(ApiEvent::sample("message-counter.json").caller(Some(sub))).await
    }

    /// POST /api/message_groups/{group}/read as `sub`.
    pub async fn mark_read(&self, sub: &str, group: &str) -> Answer {
        self.call(mark_read_event(group).caller(Some(sub))).await
    }

    /// PATCH /api/messages/{group}/{message} as `sub`, with the new `text`.
    pub async fn edit_message(&self, sub: &str, group: &str, message: &str, text: &str) -> Answer {
        self.call(edit_message_event(group, message).json_body(&serde_json::json!({"message": text})).caller(Some(sub)))
            .await
    }

    /// DELETE /api/messages/{group}/{message} as `sub`.
    pub async fn delete_message(&self, sub: &str, group: &str, message: &str) -> Answer {
        self.call(delete_message_event(group, message).caller(Some(sub))).await
    }

    /// POST /api/users/{handle}/block as `sub` (`handle` as in the path: `@bayko`).
    pub async fn block(&self, sub: &str, handle: &str) -> Answer {
        self.call(block_event("block-user.json", handle).caller(Some(sub))).await
    }

    /// DELETE /api/users/{handle}/block as `sub`.
    pub async fn unblock(&self, sub: &str, handle: &str) -> Answer {
        self.call(block_event("unblock-user.json", handle).caller(Some(sub))).await
    }

    /// GET /api/blocks as `sub`, with this raw query string.
    pub async fn blocks(&self, sub: &str, query: &str) -> Answer {
        self.call(ApiEvent::sample("list-blocks.json").caller(Some(sub)).query(query)).await
    }

    /// GET /api/me/export as `sub`, with this raw query string.
    pub async fn export(&self, sub: &str, query: &str) -> Answer {
        self.call(ApiEvent::sample("export-my-data.json").caller(Some(sub)).query(query)).await
    }

    /// GET /api/users/{handle}/short as `sub` (`handle` as in the path: `@bayko`).
    pub async fn users_short(&self, sub: &str, handle: &str) -> Answer {
        self.call(users_short_event(handle).caller(Some(sub))).await
    }
}

/// The body of a reply of `text` in the sample message group.
pub fn reply(text: &str) -> Value {
    serde_json::json!({"message": text, "message_group_uuid": crate::fixtures::sample::GROUP})
}

/// GET /api/messages/{group}, from the sample event.
pub fn messages_event(group: &str) -> ApiEvent {
    ApiEvent::sample("list-messages.json")
        .path(&format!("/api/messages/{group}"))
        .path_param("message_group_uuid", group)
}

/// POST /api/message_groups/{group}/read, from the sample event.
pub fn mark_read_event(group: &str) -> ApiEvent {
    ApiEvent::sample("mark-read.json")
        .path(&format!("/api/message_groups/{group}/read"))
        .path_param("message_group_uuid", group)
}

/// PATCH /api/messages/{group}/{message}, from the sample event (its body
/// replaced later).
pub fn edit_message_event(group: &str, message: &str) -> ApiEvent {
    message_path(ApiEvent::sample("edit-message.json"), group, message)
}

/// DELETE /api/messages/{group}/{message}, from the sample event.
pub fn delete_message_event(group: &str, message: &str) -> ApiEvent {
    message_path(ApiEvent::sample("delete-message.json"), group, message)
}

fn message_path(event: ApiEvent, group: &str, message: &str) -> ApiEvent {
    event
        .path(&format!("/api/messages/{group}/{message}"))
        .path_param("message_group_uuid", group)
        .path_param("message_uuid", message)
}

/// POST /api/messages, from the sample event (its body replaced later).
pub fn create_message_event() -> ApiEvent {
    ApiEvent::sample("create-message-reply.json")
}

/// GET /api/users/{handle}/short, from the sample event.
pub fn users_short_event(handle: &str) -> ApiEvent {
    ApiEvent::sample("users-short.json").path(&format!("/api/users/{handle}/short")).path_param("handle", handle)
}

/// POST or DELETE /api/users/{handle}/block, from the sample event `sample`.
pub fn block_event(sample: &str, handle: &str) -> ApiEvent {
    ApiEvent::sample(sample).path(&format!("/api/users/{handle}/block")).path_param("handle", handle)
}

/// GET /api/message_groups, from the sample event.
pub fn message_groups_event() -> ApiEvent {
    ApiEvent::sample("list-message-groups.json")
}

/// A Lambda context whose deadline is `time_left` from now.
pub fn lambda_context(time_left: std::time::Duration) -> lambda_http::Context {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut context = lambda_http::Context::default();
    context.deadline = (now + time_left).as_millis() as u64;
    context
}
