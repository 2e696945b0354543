//! One async function per HTTP route: an API Gateway HTTP API request in, a
//! response out. The Lambda binaries, the local API server and the tests all
//! call these, so each route has exactly one implementation.
//!
//! Every outcome is a response with a JSON body (errors are the contract's
//! array of codes); these functions never fail and never panic on input.

mod request;
mod response;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use tracing::Instrument;

pub use self::request::{caller_sub, idempotency_key, new_message, page_request, route_key, IDEMPOTENCY_KEY_HEADER};
use self::response::{json, list, paged, LogLevel};
pub use self::response::{
    AccountDeletedJson, ApiError, BlockJson, BlockedUserJson, DeletedJson, ExportJson, MarkedReadJson,
    MessageGroupJson, MessageJson, UnreadCountsJson, UserShortJson, NEXT_CURSOR_HEADER,
};
use crate::config::Config;
use crate::domain::{CognitoSub, Timestamp, UserSummary};
pub use crate::domain::{NewMessage, Recipient};
use crate::error::Error;
use crate::realtime::{Delivery, Event};
use crate::store::Store;

/// How long a warm function trusts its memory of who a `sub` is.
const CALLER_TTL: Duration = Duration::from_secs(60);
const CALLER_CACHE_MAX: usize = 1024;

/// What every route needs, built once per process (outside the handler).
#[derive(Debug)]
pub struct App {
    store: Store,
    callers: CallerCache,
    /// The push of what a request did (a message sent, edited or deleted,
    /// a read) to the members' open connections (for messages the stream's
    /// delivery is the guarantee).
    push: Option<Delivery>,
    /// The user pool, for deleting an account (`DELETE /api/me` only).
    directory: Option<std::sync::Arc<dyn Directory>>,
}

/// The user pool's side of deleting an account: the Cognito admin API in
/// the function that deletes accounts (its own crate, so no other function
/// ships the Cognito SDK), the local pool in the tests and the local stack.
pub trait Directory: Send + Sync + std::fmt::Debug {
    /// Deletes the pool's account `username`; one that is already gone is
    /// no error. `Unavailable` when the pool does not answer.
    fn delete_user<'a>(&'a self, username: &'a str) -> Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 'a>>;
}

impl App {
    pub fn new(store: Store) -> Self {
        App { store, callers: CallerCache::default(), push: None, directory: None }
    }

    /// This app, deleting accounts from `directory` (the user pool).
    pub fn with_directory(self, directory: std::sync::Arc<dyn Directory>) -> Self {
        App { directory: Some(directory), ..self }
    }

    /// This app, pushing each message it stores to the members' open
    /// connections before it answers (within [`Config::push_budget`]).
    pub fn with_push(self, push: Delivery) -> Self {
        App { push: Some(push), ..self }
    }

    /// Tells the other member that `reader` read (when the marker moved).
    async fn push_read(&self, reader: &UserSummary, read: Option<crate::store::ReadMark>) {
        if let (Some(push), Some(mark)) = (&self.push, read) {
            push.push(&Event::Read { mark, reader: reader.clone() }).await;
        }
    }

    /// The app for the environment's configuration (`DDB_MESSAGE_TABLE`,
    /// the SDK's standard chain, time budgets).
    pub async fn from_env() -> Result<Self, crate::config::ConfigError> {
        Ok(App::new(Store::from_config(&Config::from_env()?).await))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The caller's profile, from the `sub` claim: 401 without usable claims,
    /// 404 `user_not_found` when the account has no profile yet.
    async fn caller(&self, request: &Request) -> Result<UserSummary, ApiError> {
        let sub = caller_sub(request)?;
        if let Some(user) = self.callers.get(&sub) {
            return Ok(user);
        }
        let user = self
            .store
            .user_by_cognito_sub(&sub)
            .await?
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "user_not_found"))?;
        self.callers.put(sub, user.clone());
        Ok(user)
    }
}

/// A small, bounded, time-limited memory of `sub` -> profile, saving one
/// read per request on a warm function.
#[derive(Debug, Default)]
struct CallerCache {
    entries: Mutex<HashMap<CognitoSub, (Instant, UserSummary)>>,
}

impl CallerCache {
    fn get(&self, sub: &CognitoSub) -> Option<UserSummary> {
        let entries = self.entries.lock().ok()?;
        let (since, user) = entries.get(sub)?;
        (since.elapsed() < CALLER_TTL).then(|| user.clone())
    }

    fn forget(&self, sub: &CognitoSub) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(sub);
        }
    }

    fn put(&self, sub: CognitoSub, user: UserSummary) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CALLER_CACHE_MAX {
                entries.retain(|_, (since, _)| since.elapsed() < CALLER_TTL);
                if entries.len() >= CALLER_CACHE_MAX {
                    entries.clear();
                }
            }
            entries.insert(sub, (Instant::now(), user));
        }
    }
}

/// Runs one route inside a span carrying the route and the request id, turns
/// a refusal into its JSON response, and logs the outcome: status and error
/// code, never bodies, message text, emails or tokens.
async fn respond<F>(route: &'static str, request: &Request, work: F) -> Result<Response<Body>, Infallible>
where
    F: Future<Output = Result<Response<Body>, ApiError>>,
{
    let span = tracing::info_span!("request", route, request_id = request::request_id(request).unwrap_or("-"));
    let deadline_ms = request.lambda_context_ref().map(|c| c.deadline);
    async move {
        let started = Instant::now();
        let outcome = crate::deadline::within(deadline_ms, work)
            .await
            .unwrap_or_else(|| Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "generic_503")));
        let response = match outcome {
            Ok(response) => response,
            Err(refusal) => {
                tracing::info!(status = refusal.status.as_u16(), code = refusal.code(), "refused");
                refusal.into_response()
            }
        };
        tracing::info!(status = response.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "done");
        Ok(response)
    }
    .instrument(span)
    .await
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let (answer, level) = response::from_core(&e);
        // The whole cause chain, never a body or item (SDK errors carry
        // neither in their Display).
        match level {
            LogLevel::Quiet => {}
            LogLevel::Warn => tracing::warn!(error = %e.chain(), "database unavailable"),
            LogLevel::Error => tracing::error!(error = %e.chain(), "internal error"),
        }
        answer
    }
}

/// GET /api/message_groups — the caller's message groups, newest first.
pub async fn list_message_groups(app: &App, request: Request) -> Result<Response<Body>, Infallible> {
    respond("list_message_groups", &request, async {
        let caller = app.caller(&request).await?;
        let page = page_request(&request)?;
        let page = app.store.list_message_groups(caller.uuid, page).await?;
        let items: Vec<MessageGroupJson> = page.items.iter().map(MessageGroupJson::from).collect();
        Ok(list(&items, page.next.map(|c| c.encode())))
    })
    .await
}

/// GET /api/messages/{message_group_uuid} — one message group, oldest first.
pub async fn list_messages(app: &App, request: Request) -> Result<Response<Body>, Infallible> {
    respond("list_messages", &request, async {
        let caller = app.caller(&request).await?;
        let group = request::group_in_path(&request)?;
        let page = page_request(&request)?;
        let (page, read) = app.store.read_messages(caller.uuid, group, page).await?;
        app.push_read(&caller, read).await;
        let items: Vec<MessageJson> = page.items.iter().map(MessageJson::from).collect();
        Ok(list(&items, page.next.map(|c| c.encode())))
    })
    .await
}

/// POST /api/messages — a reply (`message_group_uuid`) or a new message group
/// (`handle`). The sender is the caller; the body names no identity. With an
/// `Idempotency-Key` header, a repeat of the same request answers the first
/// answer again (with `Idempotent-Replayed: true`) and writes nothing.
pub async fn create_message(app: &App, request: Request) -> Result<Response<Body>, Infallible> {
    respond("create_message", &request, async {
        let caller = app.caller(&request).await?;
        let key = idempotency_key(&request)?;
        let new = new_message(request.body())?;
        let started = matches!(new.recipient, Recipient::Handle(_));
        let sent = app.store.send(&caller, new, Timestamp::now(), key.as_ref()).await?;
        let message = &sent.message;
        tracing::info!(
            message_group_uuid = %message.group,
            message_uuid = %message.uuid,
            replayed = sent.replayed,
            "message stored"
        );
        let mut body = MessageJson::from(message);
        if started {
            body.message_group_uuid = Some(message.group.to_string());
        }
        // Pushed before answering: the other member sees it now, not at the
        // stream's next poll. A replay was pushed by the first request.
        if let (Some(push), false) = (&app.push, sent.replayed) {
            push.push(&Event::New(message.clone())).await;
        }
        app.push_read(&caller, sent.read).await;
        let mut response = json(StatusCode::OK, &body);
        if sent.replayed {
            response.headers_mut().insert(REPLAYED_HEADER, lambda_http::http::HeaderValue::from_static("true"));
        }
        Ok(response)
    })
    .await
}

/// Set on an answer that an earlier request with the same Idempotency-Key
/// produced.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// GET /api/messages/counter — the caller's unread messages in all their
/// message groups, and in how many groups: one read.
pub async fn message_counter(app: &App, request: Request) -> Result<Response<Body>, Infallible> {
    respond("message_counter", &request, async {
        let caller = app.caller(&request).await?;
        let counts = app.store.unread_counts(caller.uuid).await?;
        Ok(json(StatusCode::OK, &UnreadCountsJson::from(counts)))
    })
    .await
}

/// POST /api/message_groups/{message_group_uuid}/read — marks a message
/// group read for the caller (a member), for clients that show messages
/// without fetching its newest page.
pub async fn mark_read(app: &App, request: Request) -> Result<Response<Body>, Infallible> {
    respond("mark_read", &request, async {
        let caller = app.caller(&request).await?;
        let group = request::group_in_path(&request)?;
        let read = app.store.mark_read(caller.uuid, group).await?;
        app.push_read(&caller, read).await;
        Ok(json(StatusCode::OK, &MarkedReadJson { message_group_uuid: group.to_string(), unread: 0 }))
    })
    .await
}

/// PATCH /api/messages/{message_group_uuid}/{message_uuid} — the sender
/// replaces a message's text (the rules and 422 codes of sending); the
/// message with `edited_at`, pushed to both members as `message_edited`.
pub async fn edit_message(app: &App, request: Request) -> Result<Response<Body>, Infallible> {
    respond("edit_message", &request, async {
        let caller = app.caller(&request).await?;
        let group = request::group_in_path(&request)?;
        let uuid = request::message_in_path(&request)?;
        let text = request::edited_text(request.body())?;
        let message = app.store.edit_message(caller.uuid, group, uuid, text, Timestamp::now()).await?;
        tracing::info!(message_group_uuid = %group, message_uuid = %uuid, "message edited");
        if let Some(push) = &app.push {
            push.push(&Event::Edited(message.clone())).await;
        }
        Ok(json(StatusCode::OK, &MessageJson::from(&message)))
    })
    .await
}

/// DELETE /api/messages/{message_group_uuid}/{message_uuid} — the sender
/// deletes a message: its text leaves the table, a tombstone keeps its
/// place; pushed to both members as `message_deleted`. Again: the same answer.
pub async fn delete_message(app: &App, request: Request) -> Result<Response<Body>, Infallible> {
    respond("delete_message", &request, async {
        let caller = app.caller(&request).await?;
        let group = request::group_in_path(&request)?;
        let uuid = request::message_in_path(&request)?;
        let tombstone = app.store.delete_message(caller.uuid, group, uuid, Timestamp::now()).await?;
        tracing::info!(message_group_uuid = %group, message_uuid = %uuid, "message deleted");
        if let Some(push) = &app.push {
            push.push(&Event::Deleted(tombstone)).await;
        }
        Ok(json(StatusCode::OK, &DeletedJson { uuid: uuid.to_string(), deleted: true }))
    })
    .await
}

/// GET /api/users/@{handle}/short — who the "new message" page writes to.
pub async fn users_short(app: &App, request: Request) -> Result<Response<Body>, Infallible> {
    respond("users_short", &request, async {
        // Any signed-in account may look a handle up, with or without a profile.
        caller_sub(&request)?;
        let handle = request::handle_in_path(&request)?;
        let user = app
            .store
            .user_by_handle(&handle)
            .await?
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "user_not_found"))?;
        Ok(json(StatusCode::OK, &UserShortJson::from(&user)))
    })
    .await
}

/// POST /api/users/@{handle}/block — the caller blocks a user: neither can
/// write to the other until the caller unblocks, and nothing of the blocked
/// user reaches the caller's connections. Again: the same answer.
pub async fn block_user(app: &App, request: Request) -> Result<Response<Body>, Infallible> {
    respond("block_user", &request, async {
        let caller = app.caller(&request).await?;
        let handle = request::handle_in_path(&request)?;
        app.store.block(&caller, &handle, Timestamp::now()).await?;
        tracing::info!("user blocked");
        Ok(json(StatusCode::OK, &BlockJson { handle: handle.as_str(), blocked: true }))
    })
    .await
}

/// DELETE /api/users/@{handle}/block — the caller lifts their block (if any).
pub async fn unblock_user(app: &App, request: Request) -> Result<Response<Body>, Infallible> {
    respond("unblock_user", &request, async {
        let caller = app.caller(&request).await?;
        let handle = request::handle_in_path(&request)?;
        app.store.unblock(&caller, &handle).await?;
        tracing::info!("user unblocked");
        Ok(json(StatusCode::OK, &BlockJson { handle: handle.as_str(), blocked: false }))
    })
    .await
}

/// GET /api/blocks — the users the caller blocks, newest block first.
pub async fn list_blocks(app: &App, request: Request) -> Result<Response<Body>, Infallible> {
    respond("list_blocks", &request, async {
        let caller = app.caller(&request).await?;
        let page = page_request(&request)?;
        let page = app.store.blocks(caller.uuid, page).await?;
        let items: Vec<BlockedUserJson> = page.items.iter().map(BlockedUserJson::from).collect();
        Ok(list(&items, page.next.map(|c| c.encode())))
    })
    .await
}

/// GET /api/me/export — one page of the caller's data: their profile (first
/// page), message groups and every message they sent or received.
pub async fn export_my_data(app: &App, request: Request) -> Result<Response<Body>, Infallible> {
    respond("export_my_data", &request, async {
        let caller = app.caller(&request).await?;
        let page = page_request(&request)?;
        let page = app.store.export(caller.uuid, page).await?;
        Ok(paged(&ExportJson::from(&page), page.next.map(|c| c.encode())))
    })
    .await
}

/// DELETE /api/me — deletes the caller's account: the Cognito user, the
/// profile and its link; the handle is held 30 days; their connections are
/// closed; their side of each conversation and their messages' sender
/// fields show `deleted` / "Deleted user" (the other members keep the
/// history). A request cut short is completed by the next one (the token
/// still passes API Gateway until it expires); once done, the caller is
/// unknown (404).
pub async fn delete_my_account(app: &App, request: Request) -> Result<Response<Body>, Infallible> {
    respond("delete_my_account", &request, async {
        let sub = caller_sub(&request)?;
        // Found even while leaving: this route resumes a deletion.
        let (user, _) = app
            .store
            .cognito_link(&sub)
            .await?
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "user_not_found"))?;
        let directory =
            app.directory.as_ref().ok_or_else(|| Error::internal("no user pool to delete accounts from"))?;
        app.callers.forget(&sub);
        let now = Timestamp::now();
        app.store.begin_account_deletion(user.uuid, now).await?;
        tracing::info!("account deletion begun");
        let username = request::caller_username(&request).unwrap_or_else(|| sub.to_string());
        directory.delete_user(&username).await?;
        if let Some(push) = &app.push {
            push.close_all(user.uuid).await?;
        }
        app.store.finish_account_deletion(user.uuid).await?;
        tracing::info!("account deleted");
        Ok(json(StatusCode::OK, &AccountDeletedJson { deleted: true }))
    })
    .await
}

/// What serves a route: a handler above, boxed (each async fn has its own
/// future type).
pub type Handler =
    for<'a> fn(&'a App, Request) -> Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send + 'a>>;

/// One HTTP route, declared once: its API Gateway route key, the function
/// that serves it on Lambda (the folder under `functions/`, which is also
/// the binary's name) and its handler. The dispatch, the local API's
/// matching and the tests read this; `tests/template.rs` checks the
/// template against it.
#[derive(Clone, Copy)]
pub struct Route {
    pub key: &'static str,
    pub function: &'static str,
    pub handler: Handler,
}

/// A [`Route`] from its key, function and handler.
macro_rules! route {
    ($key:literal, $function:literal, $handler:ident) => {
        Route { key: $key, function: $function, handler: |app, request| Box::pin($handler(app, request)) }
    };
}

/// Every HTTP route.
pub const ROUTES: &[Route] = &[
    route!("GET /api/message_groups", "list-message-groups", list_message_groups),
    route!("GET /api/messages/{message_group_uuid}", "list-messages", list_messages),
    route!("POST /api/messages", "create-message", create_message),
    route!("GET /api/users/{handle}/short", "users-short", users_short),
    route!("GET /api/messages/counter", "message-counter", message_counter),
    route!("POST /api/message_groups/{message_group_uuid}/read", "mark-read", mark_read),
    route!("PATCH /api/messages/{message_group_uuid}/{message_uuid}", "edit-message", edit_message),
    route!("DELETE /api/messages/{message_group_uuid}/{message_uuid}", "delete-message", delete_message),
    route!("POST /api/users/{handle}/block", "block-user", block_user),
    route!("DELETE /api/users/{handle}/block", "unblock-user", unblock_user),
    route!("GET /api/blocks", "list-blocks", list_blocks),
    route!("GET /api/me/export", "export-my-data", export_my_data),
    route!("DELETE /api/me", "delete-my-account", delete_my_account),
];

/// Serves a request by its route key (`requestContext.routeKey`), as API
/// Gateway would pick the function: for the local API server and tests.
/// An unknown route is 404 `not_found`.
pub async fn dispatch(app: &App, request: Request) -> Result<Response<Body>, Infallible> {
    let key = request::route_key(&request);
    match ROUTES.iter().find(|route| Some(route.key) == key) {
        Some(route) => (route.handler)(app, request).await,
        None => Ok(ApiError::new(StatusCode::NOT_FOUND, "not_found").into_response()),
    }
}

/// CORS as the deployed API (template.yaml's `CorsConfiguration`) and the
/// local API server both apply it; `tests/template.rs` checks they agree.
pub mod cors {
    /// The Cruddur frontend's dev server.
    pub const DEFAULT_ALLOWED_ORIGIN: &str = "http://localhost:3000";
    /// Named one by one: a `*` does not cover `Authorization`.
    pub const ALLOWED_HEADERS: &[&str] = &["authorization", "content-type", super::IDEMPOTENCY_KEY_HEADER];
    pub const ALLOWED_METHODS: &[&str] = &["GET", "POST", "PATCH", "DELETE", "OPTIONS"];
    /// The frontend may read the next page's cursor.
    pub const EXPOSED_HEADERS: &[&str] = &[super::NEXT_CURSOR_HEADER, super::REPLAYED_HEADER];
    pub const MAX_AGE_SECS: u32 = 600;
}
