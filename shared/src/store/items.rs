//! The attributes of each kind of item, as serde structs (mapped to and from
//! DynamoDB items by serde_dynamo). Field types are domain types, so an item
//! that does not parse is refused when read instead of leaking downstream.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::keys::Key;
use crate::domain::{
    CognitoSub, Content, DisplayName, Email, GroupUuid, Handle, Message, MessageGroup, MessageKey, MessageText,
    MessageUuid, Profile, Timestamp, UserSummary, UserUuid,
};
use crate::error::{Error, Result};

pub(crate) type Item = HashMap<String, AttributeValue>;

/// The full item: its key plus the attributes of `body`.
pub(crate) fn to_item(key: Key, body: &impl Serialize) -> Result<Item> {
    let mut item: Item = serde_dynamo::to_item(body).map_err(|e| Error::internal_from("cannot map an item", e))?;
    item.extend(key.into_map());
    Ok(item)
}

pub(crate) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T> {
    serde_dynamo::from_item(item).map_err(|e| Error::internal_from("an item has an unexpected shape", e))
}

#[derive(Serialize, Deserialize)]
pub(crate) struct ProfileItem {
    pub uuid: UserUuid,
    pub handle: Handle,
    pub display_name: DisplayName,
    pub email: Email,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cognito_user_id: Option<CognitoSub>,
    pub created_at: Timestamp,
    /// The account's deletion began then (the profile goes when it ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaving_at: Option<Timestamp>,
}

impl From<ProfileItem> for Profile {
    fn from(i: ProfileItem) -> Self {
        Profile {
            uuid: i.uuid,
            handle: i.handle,
            display_name: i.display_name,
            email: i.email,
            cognito_sub: i.cognito_user_id,
            created_at: i.created_at,
            leaving_at: i.leaving_at,
        }
    }
}

/// The handle claim and the Cognito link both point at a user and carry what
/// others see of them, so one GetItem answers "who is this".
#[derive(Serialize, Deserialize)]
pub(crate) struct UserRefItem {
    pub user_uuid: UserUuid,
    pub handle: Handle,
    pub display_name: DisplayName,
    /// On a Cognito link: the account's deletion began (every route but
    /// the deletion's own then treats the caller as unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaving_at: Option<Timestamp>,
}

impl From<&UserSummary> for UserRefItem {
    fn from(u: &UserSummary) -> Self {
        UserRefItem {
            user_uuid: u.uuid,
            handle: u.handle.clone(),
            display_name: u.display_name.clone(),
            leaving_at: None,
        }
    }
}

impl From<UserRefItem> for UserSummary {
    fn from(i: UserRefItem) -> Self {
        UserSummary { uuid: i.user_uuid, handle: i.handle, display_name: i.display_name }
    }
}

/// `PAIR#<a>#<b>`: the pair's one message group, once there is one, and
/// each member's block of the other (`blocked_a`: member a, the smaller
/// uuid, blocks member b; the time they did). Starting a group and blocking
/// both write it, each conditioned on the other's part, so a block racing
/// the start of a group is either in the group or refuses it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct PairItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_group_uuid: Option<GroupUuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_a: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_b: Option<Timestamp>,
}

impl PairItem {
    /// Since when `side` blocks the other member, if they do.
    pub fn blocked(&self, side: Side) -> Option<Timestamp> {
        match side {
            Side::A => self.blocked_a,
            Side::B => self.blocked_b,
        }
    }
}

/// `BLOCK#<blocker>` / `<blocked_at>#<blocked>`: one entry of a user's block
/// list. Names nobody: the list reads the blocked users' profiles, so an
/// account's deletion leaves no copy of its names here.
#[derive(Serialize, Deserialize)]
pub(crate) struct BlockItem {
    pub blocked_uuid: UserUuid,
    pub blocked_at: Timestamp,
}

/// Which of a conversation's two members: `A` has the smaller uuid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    A,
    B,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    /// The attribute of this side's unread count.
    pub fn unread_attribute(self) -> &'static str {
        match self {
            Side::A => "unread_a",
            Side::B => "unread_b",
        }
    }

    /// The attribute that puts this side's entry in its unread index
    /// (present exactly while the side has unread messages).
    pub fn unread_key_attribute(self) -> &'static str {
        match self {
            Side::A => "unread_of_a",
            Side::B => "unread_of_b",
        }
    }

    /// The attribute of this side's read marker: the key of the newest
    /// message they have read up to (the other member's messages after it
    /// are what their count counts).
    pub fn read_attribute(self) -> &'static str {
        match self {
            Side::A => "read_a",
            Side::B => "read_b",
        }
    }

    /// The attribute that says this side blocks the other (on the pair and
    /// the conversation): the time they did.
    pub fn blocked_attribute(self) -> &'static str {
        match self {
            Side::A => "blocked_a",
            Side::B => "blocked_b",
        }
    }

    /// Which side `member` is of the pair `member`, `other` (a: the smaller uuid).
    pub fn of_pair(member: UserUuid, other: UserUuid) -> Side {
        if member < other {
            Side::A
        } else {
            Side::B
        }
    }

    /// The attribute that says this side left (deleted their account).
    pub fn left_attribute(self) -> &'static str {
        match self {
            Side::A => "left_a",
            Side::B => "left_b",
        }
    }

    /// The attributes of this side's names (handle, display name).
    pub fn name_attributes(self) -> (&'static str, &'static str) {
        match self {
            Side::A => ("member_a_handle", "member_a_display_name"),
            Side::B => ("member_b_handle", "member_b_display_name"),
        }
    }

    /// The attribute of this side's list-index key.
    pub fn list_attribute(self) -> &'static str {
        match self {
            Side::A => "list_a",
            Side::B => "list_b",
        }
    }

    /// The attribute of this side's uuid (the membership condition).
    pub fn uuid_attribute(self) -> &'static str {
        match self {
            Side::A => "member_a_uuid",
            Side::B => "member_b_uuid",
        }
    }
}

/// A message group's one item (`CONV#<group>`): both members, the latest
/// message, each member's unread count, the two list-index keys (`list_a`,
/// `list_b`, sorted by `activity`), and, for a member with unread messages,
/// their unread-index key (`unread_of_a`, `unread_of_b`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ConversationItem {
    pub message_group_uuid: GroupUuid,
    pub member_a_uuid: UserUuid,
    pub member_a_handle: Handle,
    pub member_a_display_name: DisplayName,
    pub member_b_uuid: UserUuid,
    pub member_b_handle: Handle,
    pub member_b_display_name: DisplayName,
    /// The latest message's text; absent once that message is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<MessageText>,
    pub last_message_at: Timestamp,
    /// The latest message's key: the list indexes' sort key.
    pub activity: MessageKey,
    pub unread_a: u32,
    pub unread_b: u32,
    /// `LIST#<member a>#<shard>`: the partition of member a's list entry.
    /// Absent once member a left (deleted their account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_a: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_b: Option<String>,
    /// `UNREAD#<member a>` while `unread_a > 0`, absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread_of_a: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread_of_b: Option<String>,
    /// Member a's read marker: the newest message key they have read up to
    /// (absent: never marked). `unread_a` counts member b's live messages
    /// after it; a receipt shows member b how far a has read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_a: Option<MessageKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_b: Option<MessageKey>,
    /// Member a blocks member b (since then): neither sends while a block
    /// stands, and nothing of one is pushed to the other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_a: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_b: Option<Timestamp>,
    /// Member a deleted their account then: their names here are the
    /// tombstone's, nothing more is sent, the other member keeps the history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_a: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_b: Option<Timestamp>,
}

impl ConversationItem {
    /// A new conversation of `group` between `x` and `y` (each with their
    /// unread count) whose latest message is `last_message` at `activity`.
    pub fn new(
        x: (&UserSummary, u32),
        y: (&UserSummary, u32),
        last_message: Content,
        activity: MessageKey,
        group: GroupUuid,
    ) -> Self {
        let ((a, unread_a), (b, unread_b)) = if x.0.uuid < y.0.uuid { (x, y) } else { (y, x) };
        let shard = super::keys::shard_of(group);
        ConversationItem {
            message_group_uuid: group,
            member_a_uuid: a.uuid,
            member_a_handle: a.handle.clone(),
            member_a_display_name: a.display_name.clone(),
            member_b_uuid: b.uuid,
            member_b_handle: b.handle.clone(),
            member_b_display_name: b.display_name.clone(),
            last_message: match last_message {
                Content::Text(text) => Some(text),
                Content::Deleted => None,
            },
            last_message_at: activity.at,
            activity,
            unread_a,
            unread_b,
            list_a: Some(super::keys::list_of(a.uuid, shard)),
            list_b: Some(super::keys::list_of(b.uuid, shard)),
            unread_of_a: (unread_a > 0).then(|| super::keys::unread_of(a.uuid)),
            unread_of_b: (unread_b > 0).then(|| super::keys::unread_of(b.uuid)),
            read_a: None,
            read_b: None,
            blocked_a: None,
            blocked_b: None,
            left_a: None,
            left_b: None,
        }
    }

    /// Whether a block stands between the members (either way), or one of
    /// them left: nothing of one reaches the other.
    pub fn blocked(&self) -> bool {
        self.blocked_a.is_some() || self.blocked_b.is_some() || self.left_a.is_some() || self.left_b.is_some()
    }

    /// Why `side` may not write in it, if they may not: they left (a
    /// request of theirs still under way), their own block (they can lift
    /// it), the other member's block or departure (one answer for both).
    pub fn refusal_for(&self, side: Side) -> Option<Error> {
        let ((own, own_left), (theirs, their_left)) = match side {
            Side::A => ((self.blocked_a, self.left_a), (self.blocked_b, self.left_b)),
            Side::B => ((self.blocked_b, self.left_b), (self.blocked_a, self.left_a)),
        };
        if own_left.is_some() {
            Some(Error::NotMember)
        } else if own.is_some() {
            Some(Error::UnblockToSend)
        } else if theirs.is_some() || their_left.is_some() {
            Some(Error::RecipientUnavailable)
        } else {
            None
        }
    }

    /// The condition that no block stands and nobody left (what every
    /// write to the other member is conditioned on).
    pub fn open_condition() -> &'static str {
        "attribute_not_exists(blocked_a) AND attribute_not_exists(blocked_b) \
         AND attribute_not_exists(left_a) AND attribute_not_exists(left_b)"
    }

    /// Whether the unread-index keys are as the counts say (a conversation
    /// written before the unread indexes has none).
    #[cfg(feature = "operator")]
    pub fn unread_keys_match(&self) -> bool {
        let want = |unread: u32, member: UserUuid| (unread > 0).then(|| super::keys::unread_of(member));
        self.unread_of_a == want(self.unread_a, self.member_a_uuid)
            && self.unread_of_b == want(self.unread_b, self.member_b_uuid)
    }

    /// `member`'s side, if they are a member.
    pub fn side_of(&self, member: UserUuid) -> Option<Side> {
        if member == self.member_a_uuid {
            Some(Side::A)
        } else if member == self.member_b_uuid {
            Some(Side::B)
        } else {
            None
        }
    }

    pub fn member(&self, side: Side) -> UserSummary {
        match side {
            Side::A => UserSummary {
                uuid: self.member_a_uuid,
                handle: self.member_a_handle.clone(),
                display_name: self.member_a_display_name.clone(),
            },
            Side::B => UserSummary {
                uuid: self.member_b_uuid,
                handle: self.member_b_handle.clone(),
                display_name: self.member_b_display_name.clone(),
            },
        }
    }

    pub fn unread(&self, side: Side) -> u32 {
        match side {
            Side::A => self.unread_a,
            Side::B => self.unread_b,
        }
    }

    pub fn read(&self, side: Side) -> Option<MessageKey> {
        match side {
            Side::A => self.read_a,
            Side::B => self.read_b,
        }
    }

    /// `owner`'s view of it; `None` if `owner` is not a member.
    pub fn view(&self, owner: UserUuid) -> Option<MessageGroup> {
        let side = self.side_of(owner)?;
        let other = self.member(side.other());
        Some(MessageGroup {
            uuid: self.message_group_uuid,
            owner,
            other,
            last_message: self.last_message.clone().map_or(Content::Deleted, Content::Text),
            last_activity: self.activity,
            unread: self.unread(side),
            other_read: self.read(side.other()),
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct MessageItem {
    pub message_uuid: MessageUuid,
    pub message_group_uuid: GroupUuid,
    pub user_uuid: UserUuid,
    pub user_handle: Handle,
    pub user_display_name: DisplayName,
    /// The text; removed (not blanked) when the message is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageText>,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<Timestamp>,
    /// Set when its sender deleted it: the item is its tombstone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<Timestamp>,
}

impl From<&Message> for MessageItem {
    fn from(m: &Message) -> Self {
        let (message, deleted_at) = match &m.content {
            Content::Text(text) => (Some(text.clone()), None),
            // Tombstones are written by `Store::delete_message` with the
            // time of the delete; this mapping writes new messages (and
            // tools' copies), where a deleted one keeps its own time.
            Content::Deleted => (None, Some(m.created_at)),
        };
        MessageItem {
            message_uuid: m.uuid,
            message_group_uuid: m.group,
            user_uuid: m.sender.uuid,
            user_handle: m.sender.handle.clone(),
            user_display_name: m.sender.display_name.clone(),
            message,
            created_at: m.created_at,
            edited_at: m.edited_at,
            deleted_at,
        }
    }
}

impl TryFrom<MessageItem> for Message {
    type Error = Error;

    /// A message with neither text nor tombstone does not parse.
    fn try_from(i: MessageItem) -> Result<Self> {
        let content = match (i.message, i.deleted_at) {
            (_, Some(_)) => Content::Deleted,
            (Some(text), None) => Content::Text(text),
            (None, None) => return Err(Error::internal("a message item has neither text nor tombstone")),
        };
        Ok(Message {
            uuid: i.message_uuid,
            group: i.message_group_uuid,
            sender: UserSummary { uuid: i.user_uuid, handle: i.user_handle, display_name: i.user_display_name },
            content,
            created_at: i.created_at,
            edited_at: i.edited_at,
        })
    }
}

/// A handle held for a sign-up until it is confirmed (`expires_at`: Unix
/// seconds, also the table's TTL attribute).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ReservationItem {
    pub handle: Handle,
    pub reserved_by: String,
    pub expires_at: i64,
}

/// An Idempotency-Key's record: the request it came with (a fingerprint)
/// and the identity its message gets (uuid, time, and the uuid of the group
/// it starts, if it starts one). Claimed before the message's transaction:
/// any request with the key sends that very message, so it is stored once.
#[derive(Serialize, Deserialize)]
pub(crate) struct IdempotencyItem {
    pub fingerprint: String,
    pub message_uuid: MessageUuid,
    pub message_group_uuid: GroupUuid,
    pub created_at: Timestamp,
    /// Epoch seconds; DynamoDB's TTL removes the item after it.
    pub expires_at: i64,
}

/// A conversation's entry in an unread index: its key and the one count
/// projected (`unread_a` in `unread-a-index`, `unread_b` in the other).
#[derive(Deserialize)]
pub(crate) struct UnreadEntryItem {
    pub pk: String,
    #[serde(default)]
    pub unread_a: u32,
    #[serde(default)]
    pub unread_b: u32,
}

/// The shape before issue 26 (read by the migration only): one member's row.
#[cfg(feature = "operator")]
#[derive(Deserialize)]
pub(crate) struct LegacyGroupRowItem {
    pub message_group_uuid: GroupUuid,
    pub owner_uuid: UserUuid,
    pub other_user_uuid: UserUuid,
    pub other_user_handle: Handle,
    pub other_user_display_name: DisplayName,
    pub last_message: MessageText,
    pub last_activity: MessageKey,
    #[serde(default)]
    pub unread: u32,
}
