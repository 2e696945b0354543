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
//!   management API; a connection that is gone (410) is removed.
//!
//! Delivery is at least once (a record whose posting failed is retried, and
//! with it the connections already served): clients deduplicate by the
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
use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use serde::Serialize;
use serde_json::Value;

use crate::api::{MessageJson, UnreadCountsJson};
use crate::auth::Verifier;
use crate::config::{Config, ConfigError};
use crate::domain::{CognitoSub, ConnectionId, Message, Timestamp, UserUuid};
use crate::error::Result;
use crate::store::{Store, MESSAGE_PREFIX};

/// The query string parameter that carries the access token on `$connect`
/// (the authorizer's identity source: `route.request.querystring.token`).
pub const TOKEN_PARAMETER: &str = "token";

/// The `type` of the event a new message is pushed as.
pub const MESSAGE_EVENT: &str = "message";

/// The event source mapping's filter (template.yaml's `FilterCriteria`
/// pattern, compared by tests/template.rs): new items whose partition key is
/// a message's. [`is_new_message`] applies the same rule in the function.
pub const STREAM_FILTER_PATTERN: &str =
    r#"{"eventName":["INSERT"],"dynamodb":{"Keys":{"pk":{"S":[{"prefix":"MSG#"}]}}}}"#;

/// Names of the authorizer context's entries (API Gateway passes them to
/// every route of the connection as `requestContext.authorizer`).
const USER_CONTEXT: &str = "user_uuid";
const SUB_CONTEXT: &str = "sub";

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
        Ok((sub, user)) => {
            tracing::info!(decision = "allow", "connect authorized");
            let mut response = policy(IamPolicyEffect::Allow, resource);
            response.principal_id = Some(sub.to_string());
            response.context = serde_json::json!({ USER_CONTEXT: user.to_string(), SUB_CONTEXT: sub.to_string() });
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

/// The user a token belongs to, or why it is refused.
pub async fn allowed_user(
    verifier: &Verifier,
    store: &Store,
    token: Option<&str>,
) -> Result<std::result::Result<(CognitoSub, UserUuid), Refusal>> {
    let claims = match verifier.verify(token).await {
        Ok(claims) => claims,
        Err(why) => return Ok(Err(Refusal::Token(why))),
    };
    let Some(sub) = claims.get("sub").and_then(Value::as_str).and_then(|s| CognitoSub::parse(s).ok()) else {
        return Ok(Err(Refusal::Token(crate::auth::AuthError::Malformed)));
    };
    match store.user_by_cognito_sub(&sub).await? {
        Some(user) => Ok(Ok((sub, user.uuid))),
        None => Ok(Err(Refusal::NoProfile)),
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
    match store.add_connection(user, &id, Timestamp::now()).await {
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

/// Whether a stream record is a new message (the rule of
/// [`STREAM_FILTER_PATTERN`]): an INSERT of an item under `MSG#`.
pub fn is_new_message(record: &EventRecord) -> bool {
    let key: Option<HashMap<String, Value>> = serde_dynamo::from_item(record.change.keys.clone()).ok();
    record.event_name == "INSERT"
        && key
            .as_ref()
            .and_then(|k| k.get("pk"))
            .and_then(Value::as_str)
            .is_some_and(|pk| pk.starts_with(MESSAGE_PREFIX))
}

/// The event a client receives: the message as `GET /api/messages` returns
/// it, its message group, and in the recipient's copy their new unread counts.
#[derive(Debug, Serialize)]
pub struct MessageEvent<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(flatten)]
    pub message: MessageJson<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread: Option<UnreadCountsJson>,
}

/// What one record's delivery did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Frames posted.
    pub posted: usize,
    /// Connections found gone (and removed).
    pub gone: usize,
}

/// Posts new messages to the members' open connections.
#[derive(Debug, Clone)]
pub struct Delivery {
    store: Store,
    connections: aws_sdk_apigatewaymanagement::Client,
}

impl Delivery {
    pub fn new(store: Store, connections: aws_sdk_apigatewaymanagement::Client) -> Self {
        Delivery { store, connections }
    }

    /// For a Lambda function: the table from [`Config`], the management API
    /// at `WEBSOCKET_ENDPOINT` (the WebSocket API's stage URL,
    /// `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`).
    pub async fn from_env() -> std::result::Result<Self, ConfigError> {
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
        let client = aws_sdk_apigatewaymanagement::Client::from_conf(
            aws_sdk_apigatewaymanagement::config::Builder::from(&sdk).endpoint_url(endpoint).build(),
        );
        Ok(Delivery::new(Store::from_config(&config).await, client))
    }

    /// A batch from the stream, in order. Records that are not new messages
    /// are passed over. At the first record that could not be delivered the
    /// batch stops and that record is reported as failed: Lambda retries
    /// from it (the records after it too), keeping each message group's order.
    pub async fn handle(&self, event: StreamEvent) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        for record in event.records {
            if !is_new_message(&record) {
                continue;
            }
            let message = match serde_dynamo::from_item::<_, crate::store::MessageItem>(record.change.new_image.clone())
            {
                Ok(image) => Message::from(image),
                Err(e) => {
                    // Retrying cannot make it parse: logged and passed over.
                    tracing::error!(error = %e, "a new message's image does not parse; not delivered");
                    continue;
                }
            };
            match self.deliver(&message).await {
                Ok(done) => {
                    tracing::info!(message = %message.uuid, posted = done.posted, gone = done.gone, "delivered")
                }
                Err(e) => {
                    tracing::warn!(message = %message.uuid, error = %e.chain(), "delivery failed; the record is retried");
                    let mut failure = DynamoDbBatchItemFailure::default();
                    failure.item_identifier = record.change.sequence_number.clone();
                    response.batch_item_failures.push(failure);
                    break;
                }
            }
        }
        response
    }

    /// Posts `message` to every open connection of both its members.
    pub async fn deliver(&self, message: &Message) -> Result<Delivered> {
        let sender = message.sender.uuid;
        let Some(group) = self.store.message_group(sender, message.group).await? else {
            tracing::warn!(message = %message.uuid, "the sender is not in the message's group; not delivered");
            return Ok(Delivered::default());
        };
        let recipient = group.other.uuid;
        let now = Timestamp::now();
        let mut done = Delivered::default();
        for (member, counts) in [(recipient, true), (sender, false)] {
            let connections = self.store.connections_of(member, now).await?;
            if connections.is_empty() {
                continue;
            }
            let unread = if counts { Some(self.store.unread_counts(member).await?.into()) } else { None };
            let mut json = MessageJson::from(message);
            json.message_group_uuid = Some(message.group.to_string());
            let event = MessageEvent { kind: MESSAGE_EVENT, message: json, unread };
            let body = serde_json::to_vec(&event)
                .map_err(|e| crate::error::Error::internal_from("cannot write the message event", e))?;
            let member_done = self.post_all(member, connections, body).await?;
            done.posted += member_done.posted;
            done.gone += member_done.gone;
        }
        Ok(done)
    }

    /// Posts `body` to each connection at once; removes those that are gone.
    async fn post_all(&self, member: UserUuid, connections: Vec<ConnectionId>, body: Vec<u8>) -> Result<Delivered> {
        let mut posts = tokio::task::JoinSet::new();
        for id in connections {
            let client = self.connections.clone();
            let body = Blob::new(body.clone());
            posts.spawn(async move {
                let sent = client.post_to_connection().connection_id(id.as_str()).data(body).send().await;
                (id, sent)
            });
        }
        let mut done = Delivered::default();
        let mut failed = None;
        while let Some(joined) = posts.join_next().await {
            let Ok((id, sent)) = joined else {
                failed = Some("a post task ended abnormally".to_owned());
                continue;
            };
            match sent {
                Ok(_) => done.posted += 1,
                Err(e) if matches!(e.as_service_error(), Some(PostToConnectionError::GoneException(_))) => {
                    tracing::info!(connection = %id, "the connection is gone; removed");
                    self.store.remove_connection(member, &id).await?;
                    done.gone += 1;
                }
                Err(e) => {
                    tracing::warn!(connection = %id, error = %DisplayErrorContext(&e), "cannot post to a connection");
                    failed = Some(format!("posting to a connection: {}", DisplayErrorContext(&e)));
                }
            }
        }
        match failed {
            None => Ok(done),
            Some(why) => Err(crate::error::Error::unavailable(why)),
        }
    }
}
