//! Realtime delivery over an API Gateway WebSocket API.
//!
//! - [`authorize`]: the `$connect` route's Lambda REQUEST authorizer. The
//!   access token comes in the query string (`?token=`: browsers cannot set
//!   headers on a WebSocket) and is checked by [`crate::auth::Verifier`], the
//!   same code the local API checks HTTP requests with. Only a valid access
//!   token of the pool and app client, of a user with a profile, is allowed;
//!   the policy's context carries the user to the connection's routes.
//! - [`connect`] / [`disconnect`]: record the connection under its user
//!   (expiring with TTL) and remove it.
//! - [`Delivery`]: fed by the table's stream, posts each new message to
//!   every open connection of both members through the API Gateway
//!   management API. What fails for one connection stays with it: a
//!   connection that is gone (410) is removed; one that cannot take a frame
//!   (a full buffer, too slow, an error) is closed, and so is one whose
//!   token has expired, so the client reconnects and reloads.
//!
//! Delivery is at least once (a record that could not be read is retried,
//! and with it the connections already served): clients deduplicate by the
//! message's `uuid`.

use std::collections::HashMap;

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
    ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest,
};
use aws_lambda_events::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_apigatewaymanagement::error::DisplayErrorContext;
use aws_sdk_apigatewaymanagement::operation::delete_connection::DeleteConnectionError;
use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use serde::Serialize;
use serde_json::Value;

use crate::api::{MessageJson, UnreadCountsJson};
use crate::auth::Verifier;
use crate::config::{Config, ConfigError};
use crate::domain::{CognitoSub, ConnectionId, GroupUuid, Message, Timestamp, UserSummary, UserUuid};
use crate::error::Result;
use crate::store::{OpenConnection, ReadMark, Store, MESSAGE_PREFIX};

/// The query string parameter that carries the access token on `$connect`
/// (the authorizer's identity source: `route.request.querystring.token`).
pub const TOKEN_PARAMETER: &str = "token";

/// The `type` of the event a new message is pushed as.
pub const MESSAGE_EVENT: &str = "message";
/// The `type`s of the events of a message's edit, a message's delete, a
/// member's read, a member's typing.
pub const MESSAGE_EDITED_EVENT: &str = "message_edited";
pub const MESSAGE_DELETED_EVENT: &str = "message_deleted";
pub const READ_EVENT: &str = "read";
pub const TYPING_EVENT: &str = "typing";

/// The keepalive: a client frame `{"action":"ping"}` (the API's
/// `RouteSelectionExpression` is `$request.body.action`) is answered
/// [`PONG_FRAME`] by API Gateway itself (template.yaml's ping route, a MOCK
/// integration). API Gateway closes a connection after 10 idle minutes and
/// sends no pings of its own.
pub const PING_ACTION: &str = "ping";
pub const PONG_FRAME: &str = r#"{"type":"pong"}"#;
/// The answer to any other client frame (the `$default` route); the
/// connection stays open.
pub const UNKNOWN_ACTION_FRAME: &str = r#"{"type":"error","error":"unknown_action"}"#;

/// What API Gateway answers a client's frame with, by its `action` (the
/// local WebSocket answers with this; on AWS the template's routes do).
pub fn answer_to_client_frame(frame: &str) -> &'static str {
    let parsed = serde_json::from_str::<Value>(frame).ok();
    match parsed.as_ref().and_then(|v| v.get("action")).and_then(Value::as_str) {
        Some(PING_ACTION) => PONG_FRAME,
        _ => UNKNOWN_ACTION_FRAME,
    }
}

/// Whether a client frame is a `typing` action (routed to [`typing`]).
pub fn is_typing_frame(frame: &str) -> bool {
    let parsed = serde_json::from_str::<Value>(frame).ok();
    parsed.as_ref().and_then(|v| v.get("action")).and_then(Value::as_str) == Some(TYPING_ACTION)
}

/// A client frame `{"action":"typing","message_group_uuid":"<uuid>"}`:
/// the template's `typing` route to the websocket-typing function.
pub const TYPING_ACTION: &str = "typing";

/// At most one `typing` event per sender and message group this often (the
/// rest are dropped quietly).
pub const TYPING_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// The error frames a `typing` frame can get (the connection stays open).
pub const TYPING_BAD_GROUP_FRAME: &str = r#"{"type":"error","error":"invalid_message_group_uuid"}"#;
pub const TYPING_NOT_MEMBER_FRAME: &str = r#"{"type":"error","error":"not_member"}"#;
pub const TYPING_UNAVAILABLE_FRAME: &str = r#"{"type":"error","error":"unavailable"}"#;

/// The `typing` route: a member's typing is forwarded to the other member's
/// connections as a `typing` event, at most once per [`TYPING_EVERY`] per
/// sender and group (a conditional write of a short-lived marker decides,
/// so it holds across concurrent invocations); never stored otherwise,
/// never replayed. A malformed group, or one the sender is not in, gets an
/// error frame on the sender's connection and nothing is forwarded.
/// `delivery` is a post-only one ([`Delivery::push_only`]).
pub async fn typing(delivery: &Delivery, request: ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
    let Some((user, id)) = connection_of(&request) else {
        tracing::warn!("a frame without the authorizer's user: ignored");
        return status(403);
    };
    let group = request
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str::<Value>(b).ok())
        .and_then(|v| v.get("message_group_uuid").and_then(Value::as_str).and_then(|s| GroupUuid::parse(s).ok()));
    let Some(group) = group else {
        delivery.tell(&id, TYPING_BAD_GROUP_FRAME).await;
        return status(200);
    };
    let now = Timestamp::now();
    let decided = async {
        let Some((typist, other)) = delivery.store.members_of(user, group).await? else { return Ok(None) };
        // Blocked: nothing is claimed (costs no write), nothing forwarded.
        let claimed = match other {
            Some(_) => delivery.store.claim_typing(group, user, now, TYPING_EVERY).await?,
            None => true,
        };
        Ok::<_, crate::error::Error>(Some((typist, other, claimed)))
    };
    match decided.await {
        Ok(None) => delivery.tell(&id, TYPING_NOT_MEMBER_FRAME).await,
        Ok(Some((_, _, false))) => tracing::info!("typing within the throttle: dropped"),
        Ok(Some((typist, Some(other), true))) => delivery.push(&Event::Typing { group, typist, other }).await,
        // A block stands between them: told to nobody, as if dropped.
        Ok(Some((_, None, true))) => tracing::info!("typing in a blocked conversation: dropped"),
        Err(e) => {
            tracing::warn!(error = %e.chain(), "cannot decide on a typing frame");
            delivery.tell(&id, TYPING_UNAVAILABLE_FRAME).await;
        }
    }
    status(200)
}

/// The event source mapping's filter (template.yaml's `FilterCriteria`
/// pattern, compared by tests/template.rs): items whose partition key is a
/// message's, new or changed (an edit, a delete). [`message_record`]
/// applies the same rule in the function.
pub const STREAM_FILTER_PATTERN: &str =
    r#"{"eventName":["INSERT","MODIFY"],"dynamodb":{"Keys":{"pk":{"S":[{"prefix":"MSG#"}]}}}}"#;

/// Names of the authorizer context's entries (API Gateway passes them to
/// every route of the connection as `requestContext.authorizer`).
const USER_CONTEXT: &str = "user_uuid";
const SUB_CONTEXT: &str = "sub";
/// The access token's `exp` (epoch seconds): the connection is closed then.
const TOKEN_EXPIRY_CONTEXT: &str = "token_exp";

/// Why a connection attempt is refused (logged by kind, never the token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No token, or one the verifier refused.
    Token(crate::auth::AuthError),
    /// A valid token of a user who has no profile.
    NoProfile,
}

/// The `$connect` authorizer's decision: a policy allowing or denying this
/// connection (`methodArn`), with the user in the context when allowed. A
/// store that cannot answer is an error (API Gateway then refuses with 500).
pub async fn authorize(
    verifier: &Verifier,
    store: &Store,
    request: ApiGatewayCustomAuthorizerRequestTypeRequest,
) -> Result<ApiGatewayCustomAuthorizerResponse> {
    let resource = request.method_arn.clone().unwrap_or_default();
    let token = request.query_string_parameters.first(TOKEN_PARAMETER);
    match allowed_user(verifier, store, token).await? {
        Ok(Allowed { sub, user, token_expires_at }) => {
            tracing::info!(decision = "allow", "connect authorized");
            let mut response = policy(IamPolicyEffect::Allow, resource);
            response.principal_id = Some(sub.to_string());
            // API Gateway passes context values to the routes as strings.
            response.context = serde_json::json!({
                USER_CONTEXT: user.to_string(),
                SUB_CONTEXT: sub.to_string(),
                TOKEN_EXPIRY_CONTEXT: token_expires_at.to_string(),
            });
            Ok(response)
        }
        Err(refusal) => {
            tracing::info!(decision = "deny", reason = ?refusal, "connect refused");
            let mut response = policy(IamPolicyEffect::Deny, resource);
            response.principal_id = Some("anonymous".to_owned());
            Ok(response)
        }
    }
}

/// [`authorize`] within the invocation's deadline (Lambda's, less
/// [`crate::deadline::MARGIN`]); an error is logged here (API Gateway then
/// refuses the connection with 500).
pub async fn authorize_within(
    deadline_ms: u64,
    verifier: &Verifier,
    store: &Store,
    request: ApiGatewayCustomAuthorizerRequestTypeRequest,
) -> Result<ApiGatewayCustomAuthorizerResponse> {
    let decided = crate::deadline::within(Some(deadline_ms), authorize(verifier, store, request))
        .await
        .unwrap_or_else(|| Err(crate::error::Error::unavailable("the invocation's deadline came first")));
    if let Err(e) = &decided {
        tracing::error!(error = %e.chain(), "cannot decide on a connection");
    }
    decided
}

/// A connection the authorizer lets in: whose, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    pub sub: CognitoSub,
    pub user: UserUuid,
    /// The access token's `exp`, epoch seconds.
    pub token_expires_at: i64,
}

/// The user a token belongs to, or why it is refused.
pub async fn allowed_user(
    verifier: &Verifier,
    store: &Store,
    token: Option<&str>,
) -> Result<std::result::Result<Allowed, Refusal>> {
    let claims = match verifier.verify(token).await {
        Ok(claims) => claims,
        // Not the token's fault: a server problem (API Gateway answers 500
        // for an authorizer error; the client retries), never a 403 that
        // tells the user their token is bad.
        Err(crate::auth::AuthError::KeysUnavailable) => {
            return Err(crate::error::Error::unavailable("the user pool's signing keys cannot be fetched"))
        }
        Err(why) => return Ok(Err(Refusal::Token(why))),
    };
    let Some(sub) = claims.get("sub").and_then(Value::as_str).and_then(|s| CognitoSub::parse(s).ok()) else {
        return Ok(Err(Refusal::Token(crate::auth::AuthError::Malformed)));
    };
    // The verifier refuses a token without a valid `exp`; as claims reach
    // here it is a string (API Gateway's form) or a number.
    let Some(token_expires_at) = claim_seconds(claims.get("exp")) else {
        return Ok(Err(Refusal::Token(crate::auth::AuthError::Malformed)));
    };
    match store.user_by_cognito_sub(&sub).await? {
        Some(user) => Ok(Ok(Allowed { sub, user: user.uuid, token_expires_at })),
        None => Ok(Err(Refusal::NoProfile)),
    }
}

/// Epoch seconds from a claim or context value (a number or a string of one).
fn claim_seconds(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn policy(effect: IamPolicyEffect, resource: String) -> ApiGatewayCustomAuthorizerResponse {
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".to_owned()];
    statement.effect = effect;
    statement.resource = vec![resource];
    let mut document = ApiGatewayCustomAuthorizerPolicy::default();
    document.version = Some("2012-10-17".to_owned());
    document.statement = vec![statement];
    let mut response = ApiGatewayCustomAuthorizerResponse::default();
    response.policy_document = document;
    response
}

/// The connection and its user, as the authorizer's context gave them.
fn connection_of(request: &ApiGatewayWebsocketProxyRequest) -> Option<(UserUuid, ConnectionId)> {
    let context = &request.request_context;
    let user = context.authorizer.fields.get(USER_CONTEXT).and_then(Value::as_str)?;
    let user = UserUuid::parse(user).ok()?;
    let id = ConnectionId::parse(context.connection_id.as_deref()?).ok()?;
    Some((user, id))
}

/// The expiry of the token the connection was opened with, from the
/// authorizer's context (absent from connections authorized before it was kept).
fn token_expiry_of(request: &ApiGatewayWebsocketProxyRequest) -> Option<i64> {
    claim_seconds(request.request_context.authorizer.fields.get(TOKEN_EXPIRY_CONTEXT))
}

fn status(code: i64) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = code;
    response
}

/// `$connect` (after the authorizer allowed it): records the connection
/// under its user. Any answer but 2xx makes API Gateway refuse it.
pub async fn connect(store: &Store, request: ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
    let Some((user, id)) = connection_of(&request) else {
        tracing::warn!("a connection without the authorizer's user: refused");
        return status(403);
    };
    match store.add_connection_until(user, &id, Timestamp::now(), token_expiry_of(&request)).await {
        Ok(()) => {
            tracing::info!(connection = %id, "connected");
            status(200)
        }
        Err(e) => {
            tracing::error!(error = %e.chain(), "cannot record the connection");
            status(500)
        }
    }
}

/// `$disconnect`: forgets the connection (API Gateway ignores the answer).
pub async fn disconnect(store: &Store, request: ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
    let Some((user, id)) = connection_of(&request) else {
        tracing::warn!("a disconnection without the authorizer's user: nothing to remove");
        return status(200);
    };
    match store.remove_connection(user, &id).await {
        Ok(()) => {
            tracing::info!(connection = %id, "disconnected");
            status(200)
        }
        Err(e) => {
            tracing::error!(error = %e.chain(), "cannot remove the connection (TTL will)");
            status(500)
        }
    }
}

/// What a stream record is to the delivery (the rule of
/// [`STREAM_FILTER_PATTERN`]): an item under `MSG#` written (`INSERT`: a
/// new message) or changed (`MODIFY`: an edit or a delete); `None` for
/// anything else.
pub fn message_record(record: &EventRecord) -> Option<Stored> {
    let key: Option<HashMap<String, Value>> = serde_dynamo::from_item(record.change.keys.clone()).ok();
    let is_message =
        key.as_ref().and_then(|k| k.get("pk")).and_then(Value::as_str).is_some_and(|pk| pk.starts_with(MESSAGE_PREFIX));
    match record.event_name.as_str() {
        "INSERT" if is_message => Some(Stored::New),
        "MODIFY" if is_message => Some(Stored::Changed),
        _ => None,
    }
}

/// A message record's kind ([`message_record`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New,
    Changed,
}

/// The event a client receives for a new or edited message: the message as
/// `GET /api/messages` returns it, its message group, and in the
/// recipient's copy of a new one their new unread counts.
#[derive(Debug, Serialize)]
pub struct MessageEvent<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(flatten)]
    pub message: MessageJson<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread: Option<UnreadCountsJson>,
}

/// `message_deleted`: which message of which group is now a tombstone.
#[derive(Debug, Serialize)]
struct DeletedEvent {
    #[serde(rename = "type")]
    kind: &'static str,
    message_group_uuid: String,
    uuid: String,
}

/// `read`: the other member has read the group up to `read_at`.
#[derive(Debug, Serialize)]
struct ReadEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message_group_uuid: String,
    handle: &'a str,
    read_at: String,
}

/// `typing`: the other member is typing in the group.
#[derive(Debug, Serialize)]
struct TypingEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message_group_uuid: String,
    handle: &'a str,
    display_name: &'a str,
}

/// What a delivery tells the members' open connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new message: both members; the recipient's copy carries their
    /// unread counts.
    New(Message),
    /// A message's new text: both members.
    Edited(Message),
    /// A message's tombstone: both members.
    Deleted(Message),
    /// A member's read marker moved: the other member.
    Read { mark: ReadMark, reader: UserSummary },
    /// A member is typing: the other member (never stored, never replayed).
    Typing { group: GroupUuid, typist: UserSummary, other: UserUuid },
}

impl Event {
    /// The event's `type`, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::New(_) => MESSAGE_EVENT,
            Event::Edited(_) => MESSAGE_EDITED_EVENT,
            Event::Deleted(_) => MESSAGE_DELETED_EVENT,
            Event::Read { .. } => READ_EVENT,
            Event::Typing { .. } => TYPING_EVENT,
        }
    }

    /// The frame every connection gets (a new message's recipient's copy
    /// adds its counts, [`MessageEvent::unread`]).
    fn frame(&self, unread: Option<UnreadCountsJson>) -> Result<Vec<u8>> {
        let message_frame = |kind, message: &Message, unread| {
            let mut json = MessageJson::from(message);
            json.message_group_uuid = Some(message.group.to_string());
            serde_json::to_vec(&MessageEvent { kind, message: json, unread })
        };
        let frame = match self {
            Event::New(message) => message_frame(MESSAGE_EVENT, message, unread),
            Event::Edited(message) => message_frame(MESSAGE_EDITED_EVENT, message, None),
            Event::Deleted(message) => serde_json::to_vec(&DeletedEvent {
                kind: MESSAGE_DELETED_EVENT,
                message_group_uuid: message.group.to_string(),
                uuid: message.uuid.to_string(),
            }),
            Event::Read { mark, reader } => serde_json::to_vec(&ReadEvent {
                kind: READ_EVENT,
                message_group_uuid: mark.group.to_string(),
                handle: reader.handle.as_str(),
                read_at: mark.read.at.to_string(),
            }),
            Event::Typing { group, typist, .. } => serde_json::to_vec(&TypingEvent {
                kind: TYPING_EVENT,
                message_group_uuid: group.to_string(),
                handle: typist.handle.as_str(),
                display_name: typist.display_name.as_str(),
            }),
        };
        frame.map_err(|e| crate::error::Error::internal_from("cannot write an event", e))
    }
}

fn message_uuid_of(event: &Event) -> String {
    match event {
        Event::New(m) | Event::Edited(m) | Event::Deleted(m) => m.uuid.to_string(),
        _ => String::new(),
    }
}

/// Posts under way at once in one invocation (API Gateway's management
/// API is called per connection; this bounds the sockets and memory a
/// large fan-out takes).
pub const MAX_CONCURRENT_POSTS: usize = 16;

/// The open connections per user that get pushes: the newest ones; older
/// connections beyond it are closed (`too_many_connections`), so one user
/// cannot make a delivery fan out without bound.
pub const MAX_CONNECTIONS_PER_USER: usize = 10;

/// A 410 for a connection younger than this does not remove its record:
/// `$connect` writes the record a moment before API Gateway makes the
/// socket live, and a post in between answers 410 for a connection that is
/// about to work. (An old one answering 410 is gone for good.)
pub const YOUNG_CONNECTION_SECS: i64 = 5;

/// The management API's time budget per post, first attempt and one retry
/// included: a connection that cannot take a frame within it is closed, so
/// one slow client never holds a batch (and the other users on its shard).
pub const POST_ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1000);
pub const POST_OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(2500);
pub const POST_ATTEMPTS: u32 = 2;

/// The `type` of the frame a connection gets just before the backend closes
/// it, with a `reason` (see [`CloseReason`]).
pub const CLOSING_EVENT: &str = "closing";

/// Why the backend closes a connection. The client reads it from the
/// `closing` frame (when it could still take one): reconnect (with a fresh
/// token for `token_expired`), then reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The access token it was opened with has expired.
    TokenExpired,
    /// The user has more open connections than [`MAX_CONNECTIONS_PER_USER`]; this is one of the oldest.
    TooManyConnections,
    /// Posting to it kept failing (its buffer is full, it answered too
    /// slowly, or the management API failed for it): it missed frames.
    Unresponsive,
    /// Its user has no profile any more (the account was removed): no
    /// pushes, and a new connection is refused (403).
    AccountRemoved,
}

impl CloseReason {
    /// Every reason (tests compare them with docs/asyncapi.yaml).
    pub const ALL: [CloseReason; 4] =
        [Self::TokenExpired, Self::TooManyConnections, Self::Unresponsive, Self::AccountRemoved];

    /// Whether the connection gets a `closing` frame with this reason
    /// first: not when it is closed for not taking frames.
    pub fn is_told(self) -> bool {
        match self {
            Self::TokenExpired | Self::TooManyConnections | Self::AccountRemoved => true,
            Self::Unresponsive => false,
        }
    }
}

#[derive(Serialize)]
struct ClosingEvent {
    #[serde(rename = "type")]
    kind: &'static str,
    reason: CloseReason,
}

/// What one record's delivery did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Frames posted.
    pub posted: usize,
    /// Connections found gone (and removed).
    pub gone: usize,
    /// Connections closed by the backend (token expired, too many, unresponsive).
    pub closed: usize,
    /// Connections that could be neither posted to nor closed (their
    /// records stay: the next message tries again).
    pub failed: usize,
}

impl std::ops::AddAssign for Delivered {
    fn add_assign(&mut self, other: Self) {
        self.posted += other.posted;
        self.gone += other.gone;
        self.closed += other.closed;
        self.failed += other.failed;
    }
}

/// What happens to one connection for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Post,
    Close(CloseReason),
}

/// The management API client the delivery posts with: `base`'s region and
/// credentials, the stage URL `endpoint`, and the post budgets above.
pub fn connections_client(base: &aws_config::SdkConfig, endpoint: &str) -> aws_sdk_apigatewaymanagement::Client {
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(POST_ATTEMPT_TIMEOUT)
        .operation_attempt_timeout(POST_ATTEMPT_TIMEOUT)
        .operation_timeout(POST_OPERATION_TIMEOUT)
        .build();
    aws_sdk_apigatewaymanagement::Client::from_conf(
        aws_sdk_apigatewaymanagement::config::Builder::from(base)
            .endpoint_url(endpoint)
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(POST_ATTEMPTS))
            .build(),
    )
}

/// What a [`Delivery`] does about a connection besides posting to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// The stream's delivery: it closes connections (expired, too many,
    /// unresponsive, account removed) and removes the records of gone ones.
    Managed,
    /// The sender's push: it posts to the connections the stream's
    /// delivery would post to and changes nothing else (its grants are
    /// reads and `POST @connections` only), within `budget`
    /// ([`Config::push_budget`]: its caller waits for it); the stream's
    /// delivery of the same message, moments later, does the rest.
    PostOnly { budget: std::time::Duration },
}

/// Posts new messages to the members' open connections.
#[derive(Debug, Clone)]
pub struct Delivery {
    store: Store,
    connections: aws_sdk_apigatewaymanagement::Client,
    lifecycle: Lifecycle,
}

impl Delivery {
    /// The stream's delivery ([`Lifecycle::Managed`]).
    pub fn new(store: Store, connections: aws_sdk_apigatewaymanagement::Client) -> Self {
        Delivery { store, connections, lifecycle: Lifecycle::Managed }
    }

    /// The sender's push ([`Lifecycle::PostOnly`]), for [`Delivery::push`]
    /// within `budget` ([`Config::push_budget`]).
    pub fn push_only(
        store: Store,
        connections: aws_sdk_apigatewaymanagement::Client,
        budget: std::time::Duration,
    ) -> Self {
        Delivery { store, connections, lifecycle: Lifecycle::PostOnly { budget } }
    }

    /// For a Lambda function: the table from [`Config`], the management API
    /// at `WEBSOCKET_ENDPOINT` (the WebSocket API's stage URL,
    /// `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`).
    pub async fn from_env() -> std::result::Result<Self, ConfigError> {
        let (store, connections, _) = Self::parts_from_env().await?;
        Ok(Delivery::new(store, connections))
    }

    /// [`Delivery::from_env`], for the sending function's push
    /// (`PUSH_BUDGET_MS`).
    pub async fn push_only_from_env() -> std::result::Result<Self, ConfigError> {
        let (store, connections, config) = Self::parts_from_env().await?;
        Ok(Delivery::push_only(store, connections, config.push_budget))
    }

    async fn parts_from_env() -> std::result::Result<(Store, aws_sdk_apigatewaymanagement::Client, Config), ConfigError>
    {
        let config = Config::from_env()?;
        let endpoint = std::env::var("WEBSOCKET_ENDPOINT").unwrap_or_default();
        let endpoint = endpoint.trim();
        if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
            return Err(ConfigError {
                name: "WEBSOCKET_ENDPOINT",
                value: endpoint.to_owned(),
                why: "expected the WebSocket API's stage URL (https://...)",
            });
        }
        let sdk = config.sdk_config().await;
        Ok((Store::from_config(&config).await, connections_client(&sdk, endpoint), config))
    }

    /// The push of what a request just did (a message stored, edited or
    /// deleted, a read, typing): [`Delivery::deliver`] within the push's
    /// budget (a stream's delivery has none: it runs to its invocation's
    /// deadline); whatever is not done by then is dropped (the stream's
    /// delivery posts every message change anyway, at least once; a read
    /// or typing is shown by the next one, or by reloading). Never fails:
    /// what goes wrong is logged.
    pub async fn push(&self, event: &Event) {
        let done = match self.lifecycle {
            Lifecycle::PostOnly { budget } => tokio::time::timeout(budget, self.deliver(event)).await,
            Lifecycle::Managed => Ok(self.deliver(event).await),
        };
        let kind = event.kind();
        match done {
            Ok(Ok(done)) => tracing::info!(event = kind, posted = done.posted, failed = done.failed, "pushed"),
            Ok(Err(e)) => tracing::warn!(event = kind, error = %e.chain(), "push failed"),
            Err(_) => tracing::warn!(event = kind, "push budget spent; the rest is dropped"),
        }
    }

    /// A batch from the stream, in order, within the invocation's deadline
    /// (`deadline_ms`, Lambda's; none: no deadline). Records that are not
    /// messages are passed over; a new message is delivered as `message`,
    /// a changed one as `message_edited` or `message_deleted`. What fails
    /// for one connection stays with it (see [`Delivery::deliver`]); a
    /// record fails only when it cannot be delivered at all (the table
    /// cannot be read for it), or the deadline comes first. At the first
    /// such record the batch stops and reports it: Lambda retries from it
    /// (the records after it too), keeping each message group's order.
    pub async fn handle(&self, event: StreamEvent, deadline_ms: Option<u64>) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        for record in event.records {
            let Some(stored) = message_record(&record) else { continue };
            let image = serde_dynamo::from_item::<_, crate::store::MessageItem>(record.change.new_image.clone());
            let message =
                match image.map_err(|e| e.to_string()).and_then(|i| Message::try_from(i).map_err(|e| e.chain())) {
                    Ok(message) => message,
                    Err(e) => {
                        // Retrying cannot make it parse: logged and passed over.
                        tracing::error!(error = %e, "a message's image does not parse; not delivered");
                        continue;
                    }
                };
            let event = match (stored, message.content.is_deleted(), message.edited_at.is_some()) {
                (Stored::New, _, _) => Event::New(message),
                (Stored::Changed, true, _) => Event::Deleted(message),
                (Stored::Changed, false, true) => Event::Edited(message),
                // Changed, but neither edited nor deleted: nothing a client shows.
                (Stored::Changed, false, false) => continue,
            };
            let (kind, uuid) = (event.kind(), message_uuid_of(&event));
            let failed = match crate::deadline::within(deadline_ms, self.deliver(&event)).await {
                Some(Ok(done)) => {
                    tracing::info!(
                        event = kind,
                        message = %uuid,
                        posted = done.posted,
                        gone = done.gone,
                        closed = done.closed,
                        failed = done.failed,
                        "delivered"
                    );
                    false
                }
                Some(Err(e)) => {
                    tracing::warn!(event = kind, message = %uuid, error = %e.chain(), "delivery failed; the record is retried");
                    true
                }
                None => {
                    tracing::warn!(event = kind, message = %uuid, "the deadline came first; the batch resumes here");
                    true
                }
            };
            if failed {
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = record.change.sequence_number.clone();
                response.batch_item_failures.push(failure);
                break;
            }
        }
        response
    }

    /// Posts `event` to the open connections it concerns: a message's
    /// (new, edited, deleted) to both members of its group (read from the
    /// table: the sender must be one), a read or typing to the other member.
    /// An error only when the table cannot be read for it; each
    /// connection's own outcome stays with that connection: posted; gone
    /// (410: its record removed, unless it is younger than
    /// [`YOUNG_CONNECTION_SECS`]); or, when the post fails within its budget
    /// (429 for a full buffer, a 5xx, a timeout, a connection error), closed
    /// as unresponsive with `DeleteConnection` and its record removed, so
    /// the client reconnects and reloads what it missed. Connections whose
    /// token has expired, and those beyond the newest
    /// [`MAX_CONNECTIONS_PER_USER`], get a `closing` frame and are closed,
    /// not posted to.
    pub async fn deliver(&self, event: &Event) -> Result<Delivered> {
        let now = Timestamp::now();
        // Who gets it, and for a new message's recipient the count it adds.
        let members: Vec<(UserUuid, Option<(GroupUuid, u32)>)> = match event {
            Event::New(message) | Event::Edited(message) | Event::Deleted(message) => {
                let sender = message.sender.uuid;
                let Some((group, recipient_unread)) =
                    self.store.message_group_and_other_unread(sender, message.group).await?
                else {
                    tracing::warn!(message = %message.uuid, "the sender is not in the message's group; not delivered");
                    return Ok(Delivered::default());
                };
                // While a block stands, only the sender's own connections hear of it.
                let Some(recipient_unread) = recipient_unread else {
                    return self.deliver_to(vec![(sender, None)], event, now).await;
                };
                let counts = matches!(event, Event::New(_)).then_some((message.group, recipient_unread));
                vec![(group.other.uuid, counts), (sender, None)]
            }
            Event::Read { mark, .. } => vec![(mark.other, None)],
            Event::Typing { other, .. } => vec![(*other, None)],
        };
        self.deliver_to(members, event, now).await
    }

    /// [`Delivery::deliver`] of `event` to `members` (each with the count
    /// a new message adds for them).
    async fn deliver_to(
        &self,
        members: Vec<(UserUuid, Option<(GroupUuid, u32)>)>,
        event: &Event,
        now: Timestamp,
    ) -> Result<Delivered> {
        let mut jobs = Vec::new();
        for (member, counts) in members {
            let connections = self.store.open_connections(member, now).await?;
            // Newest first; the cap counts the connections still valid.
            let mut live = 0;
            let plans: Vec<(OpenConnection, Plan)> = connections
                .into_iter()
                .map(|c| {
                    let plan = plan_for(&c, live, now);
                    if plan != Plan::Close(CloseReason::TokenExpired) {
                        live += 1;
                    }
                    (c, plan)
                })
                .collect();
            if plans.is_empty() {
                continue;
            }
            // A connection outlives its user's profile only until the next
            // event: read beside the counts, so it costs no extra wait.
            let posts = plans.iter().any(|(_, plan)| *plan == Plan::Post);
            let (profile, unread) = tokio::try_join!(self.store.profile(member), async {
                match counts {
                    Some(known) if posts => {
                        self.store.unread_counts_knowing(member, Some(known)).await.map(|c| Some(c.into()))
                    }
                    _ => Ok(None),
                }
            })?;
            let plans = if profile.is_some() {
                plans
            } else {
                plans.into_iter().map(|(c, _)| (c, Plan::Close(CloseReason::AccountRemoved))).collect()
            };
            let body = event.frame(unread)?;
            for (connection, plan) in plans {
                jobs.push((member, connection, plan, body.clone()));
            }
        }
        Ok(self.run_all(jobs, now).await)
    }

    /// Runs each connection's plan, [`MAX_CONCURRENT_POSTS`] at a time.
    async fn run_all(&self, jobs: Vec<(UserUuid, OpenConnection, Plan, Vec<u8>)>, now: Timestamp) -> Delivered {
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_POSTS));
        let mut running = tokio::task::JoinSet::new();
        for (member, connection, plan, body) in jobs {
            let this = self.clone();
            let slots = slots.clone();
            running.spawn(async move {
                let Ok(_slot) = slots.acquire_owned().await else { return Delivered::default() };
                this.run_one(member, connection, plan, body, now).await
            });
        }
        let mut done = Delivered::default();
        while let Some(joined) = running.join_next().await {
            match joined {
                Ok(one) => done += one,
                Err(e) => tracing::error!(error = %e, "a connection's delivery ended abnormally"),
            }
        }
        done
    }

    /// One connection's outcome for one message; never an error (what
    /// fails here concerns this connection only, and is logged).
    async fn run_one(
        &self,
        member: UserUuid,
        connection: OpenConnection,
        plan: Plan,
        body: Vec<u8>,
        now: Timestamp,
    ) -> Delivered {
        let id = &connection.id;
        let closed = |done: bool| {
            if done {
                Delivered { closed: 1, ..Delivered::default() }
            } else {
                Delivered { failed: 1, ..Delivered::default() }
            }
        };
        let managed = matches!(self.lifecycle, Lifecycle::Managed);
        if let Plan::Close(reason) = plan {
            return if managed { closed(self.close(member, id, reason).await) } else { Delivered::default() };
        }
        match self.post(id, body).await {
            Ok(_) => Delivered { posted: 1, ..Delivered::default() },
            Err(e) if !managed => {
                tracing::info!(connection = %id, error = %DisplayErrorContext(&e), "cannot push to a connection; left to the stream's delivery");
                Delivered { failed: 1, ..Delivered::default() }
            }
            Err(e) if matches!(e.as_service_error(), Some(PostToConnectionError::GoneException(_))) => {
                if now.unix_seconds() - connection.connected_at.unix_seconds() < YOUNG_CONNECTION_SECS {
                    tracing::info!(connection = %id, "410 for a connection just opened; its record is kept");
                    return Delivered::default();
                }
                tracing::info!(connection = %id, "the connection is gone; removed");
                self.forget(member, id).await;
                Delivered { gone: 1, ..Delivered::default() }
            }
            Err(e) => {
                tracing::warn!(connection = %id, error = %DisplayErrorContext(&e), "cannot post to a connection; closing it");
                closed(self.close(member, id, CloseReason::Unresponsive).await)
            }
        }
    }

    /// Closes connection `id` from the backend: a `closing` frame first
    /// when the reason is one the client is told (best effort), then
    /// `DeleteConnection`; its record is removed once API Gateway has closed
    /// it (or it was gone already). A failed close keeps the record, so the
    /// next message tries again. Whether it was closed.
    async fn close(&self, member: UserUuid, id: &ConnectionId, reason: CloseReason) -> bool {
        if reason.is_told() {
            if let Ok(frame) = serde_json::to_vec(&ClosingEvent { kind: CLOSING_EVENT, reason }) {
                let _ = self.post(id, frame).await;
            }
        }
        let deleted = self.connections.delete_connection().connection_id(id.as_str()).send().await;
        match deleted {
            Ok(_) => {}
            Err(e) if matches!(e.as_service_error(), Some(DeleteConnectionError::GoneException(_))) => {}
            Err(e) => {
                tracing::warn!(connection = %id, reason = ?reason, error = %DisplayErrorContext(&e), "cannot close a connection; kept");
                return false;
            }
        }
        tracing::info!(connection = %id, reason = ?reason, "connection closed");
        self.forget(member, id).await;
        true
    }

    /// One `PostToConnection` of `body` to connection `id`.
    async fn post(
        &self,
        id: &ConnectionId,
        body: Vec<u8>,
    ) -> std::result::Result<
        aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionOutput,
        aws_sdk_apigatewaymanagement::error::SdkError<PostToConnectionError>,
    > {
        self.connections.post_to_connection().connection_id(id.as_str()).data(Blob::new(body)).send().await
    }

    /// Closes every open connection of `user`, whose account is being
    /// deleted (a `closing` frame, `account_removed`, then DeleteConnection;
    /// their records removed). `Unavailable` when one could not be closed
    /// (the deletion is then retried).
    pub async fn close_all(&self, user: UserUuid) -> Result<()> {
        let mut kept = 0;
        for connection in self.store.open_connections(user, Timestamp::now()).await? {
            if !self.close(user, &connection.id, CloseReason::AccountRemoved).await {
                kept += 1;
            }
        }
        match kept {
            0 => Ok(()),
            n => Err(crate::error::Error::unavailable(format!("{n} connection(s) could not be closed"))),
        }
    }

    /// Posts `frame` to connection `id` (the sender's own, for an error
    /// frame): best effort, logged.
    pub async fn tell(&self, id: &ConnectionId, frame: &str) {
        if let Err(e) = self.post(id, frame.as_bytes().to_vec()).await {
            tracing::info!(connection = %id, error = %DisplayErrorContext(&e), "cannot answer a connection");
        }
    }

    /// Removes connection `id`'s record (a failure is logged: TTL removes it later).
    async fn forget(&self, member: UserUuid, id: &ConnectionId) {
        if let Err(e) = self.store.remove_connection(member, id).await {
            tracing::warn!(connection = %id, error = %e.chain(), "cannot remove a connection's record (TTL will)");
        }
    }
}

/// What to do with a member's open connection at `now`, when `n` newer
/// ones are still valid.
fn plan_for(connection: &OpenConnection, n: usize, now: Timestamp) -> Plan {
    if connection.token_expires_at.is_some_and(|exp| exp <= now.unix_seconds()) {
        Plan::Close(CloseReason::TokenExpired)
    } else if n >= MAX_CONNECTIONS_PER_USER {
        Plan::Close(CloseReason::TooManyConnections)
    } else {
        Plan::Post
    }
}
