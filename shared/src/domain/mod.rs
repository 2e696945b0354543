//! The domain: small types that parse their input, and the records the store
//! returns. No I/O here.

mod idempotency;
mod ids;
mod page;
mod text;
mod time;

pub use self::idempotency::{
    IdempotencyKey, InvalidIdempotencyKey, IDEMPOTENCY_KEY_LIFETIME_SECS, IDEMPOTENCY_KEY_MAX_LEN,
};
pub use self::ids::{CognitoSub, ConnectionId, GroupUuid, InvalidId, MessageUuid, UserUuid};
pub use self::page::{
    Cursor, InvalidCursor, InvalidLimit, Page, PageLimit, PageRequest, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT,
};
pub use self::text::{
    DisplayName, DisplayNameError, Email, EmailError, Handle, HandleError, MessageText, MessageTextError,
    DISPLAY_NAME_MAX_CHARS, HANDLE_MAX_LEN, MESSAGE_MAX_CHARS, RESERVED_HANDLES,
};
pub use self::time::{InvalidMessageKey, InvalidTimestamp, MessageKey, Timestamp};

/// Who someone is, as others see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub uuid: UserUuid,
    pub handle: Handle,
    pub display_name: DisplayName,
}

/// Someone a user blocks, and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedUser {
    pub user: UserSummary,
    pub blocked_at: Timestamp,
}

/// One page of a user's export: their profile (on the first page), the
/// message groups the page enters, and their messages, oldest first within
/// each group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportPage {
    pub profile: Option<Profile>,
    pub groups: Vec<MessageGroup>,
    pub messages: Vec<Message>,
    pub next: Option<Cursor>,
}

/// A user's whole profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub uuid: UserUuid,
    pub handle: Handle,
    pub display_name: DisplayName,
    pub email: Email,
    /// The linked Cognito account, if any (seeded profiles start without).
    pub cognito_sub: Option<CognitoSub>,
    pub created_at: Timestamp,
    /// Set when the account's deletion began (`DELETE /api/me`): the profile
    /// stays only until the deletion completes.
    pub leaving_at: Option<Timestamp>,
}

impl Profile {
    pub fn summary(&self) -> UserSummary {
        UserSummary { uuid: self.uuid, handle: self.handle.clone(), display_name: self.display_name.clone() }
    }
}

/// What is needed to create a profile.
#[derive(Debug, Clone)]
pub struct NewProfile {
    pub handle: Handle,
    pub display_name: DisplayName,
    pub email: Email,
    pub cognito_sub: Option<CognitoSub>,
}

/// One message group as one of its two members sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageGroup {
    pub uuid: GroupUuid,
    /// The member whose view this is.
    pub owner: UserUuid,
    /// The other member.
    pub other: UserSummary,
    /// The latest message's content (a deleted one shows no text) and key
    /// (time + uuid).
    pub last_message: Content,
    pub last_activity: MessageKey,
    /// Messages from the other member the owner has not read.
    pub unread: u32,
    /// Up to which message the other member has read the group (their read
    /// marker); `None` if they never have.
    pub other_read: Option<MessageKey>,
}

/// A user's unread messages across all their message groups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnreadCounts {
    /// Unread messages in all.
    pub count: u64,
    /// Message groups with any.
    pub conversations: u64,
}

/// What a message says: its text, or nothing once its sender deleted it
/// (a tombstone keeps the message's place in the history, not its text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Text(MessageText),
    Deleted,
}

impl Content {
    /// The text; `""` for a deleted message.
    pub fn as_str(&self) -> &str {
        match self {
            Content::Text(text) => text.as_str(),
            Content::Deleted => "",
        }
    }

    pub fn is_deleted(&self) -> bool {
        matches!(self, Content::Deleted)
    }
}

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub uuid: MessageUuid,
    pub group: GroupUuid,
    pub sender: UserSummary,
    pub content: Content,
    pub created_at: Timestamp,
    /// When its sender last changed its text (`None`: never, or deleted).
    pub edited_at: Option<Timestamp>,
}

impl Message {
    pub fn key(&self) -> MessageKey {
        MessageKey { at: self.created_at, uuid: self.uuid }
    }
}

/// Where a new message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// A reply in an existing message group.
    Group(GroupUuid),
    /// Start (or continue) the message group with this user.
    Handle(Handle),
}

/// A message to send: what POST /api/messages asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub text: MessageText,
    pub recipient: Recipient,
}
