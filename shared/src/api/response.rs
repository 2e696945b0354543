//! JSON responses and the contract's error codes.

use lambda_http::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::domain::{BlockedUser, ExportPage, Message, MessageGroup, MessageTextError, UnreadCounts, UserSummary};
use crate::error::Error;

/// The header that carries the next page's cursor; the body stays a plain
/// array so the existing frontend keeps working.
pub const NEXT_CURSOR_HEADER: &str = "x-next-cursor";

/// A refusal: a status and the error codes the frontend knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub codes: Vec<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str) -> Self {
        ApiError { status, codes: vec![code] }
    }

    pub fn bad_request(code: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code)
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "generic_401")
    }

    pub fn unprocessable(codes: Vec<&'static str>) -> Self {
        ApiError { status: StatusCode::UNPROCESSABLE_ENTITY, codes }
    }

    /// The code to log: the first one.
    pub fn code(&self) -> &'static str {
        self.codes.first().copied().unwrap_or("")
    }

    pub fn into_response(self) -> Response<Body> {
        json(self.status, &self.codes)
    }
}

/// How loudly a core error is logged when it becomes an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogLevel {
    /// The caller's mistake or a normal outcome (the answer says it all).
    Quiet,
    /// The database is struggling: worth watching, not a bug.
    Warn,
    /// A bug or data that should not exist.
    Error,
}

/// The contract's answer to each core error, and how loudly to log it: one
/// match, so a new error cannot get a status without a log level.
pub(crate) fn from_core(e: &Error) -> (ApiError, LogLevel) {
    use LogLevel::{Error as Bug, Quiet, Warn};
    match e {
        Error::InvalidCursor => (ApiError::bad_request("invalid_cursor"), Quiet),
        Error::NotMember => (ApiError::new(StatusCode::FORBIDDEN, "generic_403"), Quiet),
        Error::GroupNotFound => (ApiError::new(StatusCode::NOT_FOUND, "message_group_not_found"), Quiet),
        Error::UserNotFound => (ApiError::new(StatusCode::NOT_FOUND, "user_not_found"), Quiet),
        Error::MessageNotFound => (ApiError::new(StatusCode::NOT_FOUND, "message_not_found"), Quiet),
        Error::NotMessageSender => (ApiError::new(StatusCode::FORBIDDEN, "not_message_sender"), Quiet),
        Error::MessageDeleted => (ApiError::new(StatusCode::CONFLICT, "message_deleted"), Quiet),
        Error::RecipientUnavailable => (ApiError::new(StatusCode::FORBIDDEN, "recipient_unavailable"), Quiet),
        Error::UnblockToSend => (ApiError::new(StatusCode::FORBIDDEN, "unblock_to_send"), Quiet),
        Error::CannotBlockSelf => (ApiError::unprocessable(vec!["cannot_block_self"]), Quiet),
        Error::CannotMessageSelf => (ApiError::unprocessable(vec!["cannot_message_self"]), Quiet),
        Error::IdempotencyKeyReused => (ApiError::unprocessable(vec!["idempotency_key_reused"]), Quiet),
        Error::Unavailable { .. } => (ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "generic_503"), Warn),
        Error::HandleTaken | Error::CognitoSubTaken | Error::ProfileLinkedElsewhere | Error::Internal { .. } => {
            (ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "generic_500"), Bug)
        }
    }
}

/// The 422 code for a message text that does not parse.
pub fn message_text_code(e: MessageTextError) -> &'static str {
    match e {
        MessageTextError::Blank => "message_blank",
        MessageTextError::TooLong => "message_exceed_max_chars_1024",
        // Not in the original frontend's list: it shows its generic text.
        MessageTextError::ControlCharacter => "message_invalid_characters",
    }
}

/// A JSON response. Serialising these plain structs cannot fail; if it ever
/// did, the answer is still JSON (a 500 with `generic_500`).
pub fn json(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let (status, text) = match serde_json::to_string(body) {
        Ok(text) => (status, text),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, r#"["generic_500"]"#.to_owned()),
    };
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// 200 with a list body and, when more items exist, the next page's cursor.
pub fn list<T: Serialize>(items: &[T], next: Option<String>) -> Response<Body> {
    paged(&items, next)
}

/// 200 with `body` and, when more follows, the next page's cursor.
pub fn paged(body: &impl Serialize, next: Option<String>) -> Response<Body> {
    let mut response = json(StatusCode::OK, body);
    if let Some(value) = next.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(NEXT_CURSOR_HEADER, value);
    }
    response
}

/// One message group in the caller's list: the OTHER member's name and handle.
#[derive(Debug, Serialize)]
pub struct MessageGroupJson<'a> {
    pub uuid: String,
    pub display_name: &'a str,
    pub handle: &'a str,
    pub message: &'a str,
    pub created_at: String,
    /// Messages from the other member the caller has not read.
    pub unread: u32,
    /// The time up to which the other member has read this group (null:
    /// never): the caller's messages created at or before it are seen.
    pub other_read_at: Option<String>,
}

impl<'a> From<&'a MessageGroup> for MessageGroupJson<'a> {
    fn from(g: &'a MessageGroup) -> Self {
        MessageGroupJson {
            uuid: g.uuid.to_string(),
            display_name: g.other.display_name.as_str(),
            handle: g.other.handle.as_str(),
            message: g.last_message.as_str(),
            created_at: g.last_activity.at.to_string(),
            unread: g.unread,
            other_read_at: g.other_read.map(|read| read.at.to_string()),
        }
    }
}

/// GET /api/messages/counter.
#[derive(Debug, Serialize)]
pub struct UnreadCountsJson {
    /// Unread messages in all the caller's message groups.
    pub count: u64,
    /// Message groups with any.
    pub conversations: u64,
}

impl From<UnreadCounts> for UnreadCountsJson {
    fn from(c: UnreadCounts) -> Self {
        UnreadCountsJson { count: c.count, conversations: c.conversations }
    }
}

/// POST /api/message_groups/{uuid}/read.
#[derive(Debug, Serialize)]
pub struct MarkedReadJson {
    pub message_group_uuid: String,
    pub unread: u32,
}

/// One message: the sender's name and handle. `message_group_uuid` only when
/// a new message group was started (the frontend then navigates to it).
#[derive(Debug, Serialize)]
pub struct MessageJson<'a> {
    pub uuid: String,
    pub display_name: &'a str,
    pub handle: &'a str,
    pub message: &'a str,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_group_uuid: Option<String>,
    /// When its sender last changed its text; only on an edited message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
    /// Only on a tombstone (`message` is then `""`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

impl<'a> From<&'a Message> for MessageJson<'a> {
    fn from(m: &'a Message) -> Self {
        MessageJson {
            uuid: m.uuid.to_string(),
            display_name: m.sender.display_name.as_str(),
            handle: m.sender.handle.as_str(),
            message: m.content.as_str(),
            created_at: m.created_at.to_string(),
            message_group_uuid: None,
            edited_at: m.edited_at.map(|at| at.to_string()),
            deleted: m.content.is_deleted(),
        }
    }
}

/// DELETE /api/messages/{group}/{uuid}.
#[derive(Debug, Serialize)]
pub struct DeletedJson {
    pub uuid: String,
    pub deleted: bool,
}

/// DELETE /api/me.
#[derive(Debug, Serialize)]
pub struct AccountDeletedJson {
    pub deleted: bool,
}

/// POST / DELETE /api/users/@{handle}/block.
#[derive(Debug, Serialize)]
pub struct BlockJson<'a> {
    pub handle: &'a str,
    pub blocked: bool,
}

/// One entry of GET /api/blocks.
#[derive(Debug, Serialize)]
pub struct BlockedUserJson<'a> {
    pub handle: &'a str,
    pub display_name: &'a str,
    pub blocked_at: String,
}

impl<'a> From<&'a BlockedUser> for BlockedUserJson<'a> {
    fn from(b: &'a BlockedUser) -> Self {
        BlockedUserJson {
            handle: b.user.handle.as_str(),
            display_name: b.user.display_name.as_str(),
            blocked_at: b.blocked_at.to_string(),
        }
    }
}

/// The caller's own profile, in their export.
#[derive(Debug, Serialize)]
pub struct ProfileJson<'a> {
    pub uuid: String,
    pub handle: &'a str,
    pub display_name: &'a str,
    pub email: &'a str,
    pub created_at: String,
}

/// One page of GET /api/me/export.
#[derive(Debug, Serialize)]
pub struct ExportJson<'a> {
    /// On the first page only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileJson<'a>>,
    /// The message groups this page's messages enter, as the caller's list shows them.
    pub message_groups: Vec<MessageGroupJson<'a>>,
    /// Oldest first within each group; each names its group.
    pub messages: Vec<MessageJson<'a>>,
}

impl<'a> From<&'a ExportPage> for ExportJson<'a> {
    fn from(page: &'a ExportPage) -> Self {
        ExportJson {
            profile: page.profile.as_ref().map(|p| ProfileJson {
                uuid: p.uuid.to_string(),
                handle: p.handle.as_str(),
                display_name: p.display_name.as_str(),
                email: p.email.as_str(),
                created_at: p.created_at.to_string(),
            }),
            message_groups: page.groups.iter().map(MessageGroupJson::from).collect(),
            messages: page
                .messages
                .iter()
                .map(|m| MessageJson { message_group_uuid: Some(m.group.to_string()), ..MessageJson::from(m) })
                .collect(),
        }
    }
}

/// A user's short profile.
#[derive(Debug, Serialize)]
pub struct UserShortJson<'a> {
    pub uuid: String,
    pub handle: &'a str,
    pub display_name: &'a str,
}

impl<'a> From<&'a UserSummary> for UserShortJson<'a> {
    fn from(u: &'a UserSummary) -> Self {
        UserShortJson { uuid: u.uuid.to_string(), handle: u.handle.as_str(), display_name: u.display_name.as_str() }
    }
}
