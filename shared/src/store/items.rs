//! The attributes of each kind of item, as serde structs (mapped to and from
//! DynamoDB items by serde_dynamo). Field types are domain types, so an item
//! that does not parse is refused when read instead of leaking downstream.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::keys::Key;
use crate::domain::{
    CognitoSub, DisplayName, Email, GroupUuid, Handle, Message, MessageGroup, MessageKey, MessageText, MessageUuid,
    Profile, Timestamp, UserSummary, UserUuid,
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
}

impl From<&UserSummary> for UserRefItem {
    fn from(u: &UserSummary) -> Self {
        UserRefItem { user_uuid: u.uuid, handle: u.handle.clone(), display_name: u.display_name.clone() }
    }
}

impl From<UserRefItem> for UserSummary {
    fn from(i: UserRefItem) -> Self {
        UserSummary { uuid: i.user_uuid, handle: i.handle, display_name: i.display_name }
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct PairItem {
    pub message_group_uuid: GroupUuid,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct GroupRowItem {
    pub message_group_uuid: GroupUuid,
    pub owner_uuid: UserUuid,
    pub other_user_uuid: UserUuid,
    pub other_user_handle: Handle,
    pub other_user_display_name: DisplayName,
    pub last_message: MessageText,
    pub last_message_at: Timestamp,
    /// The sort key of the activity index: the latest message's key.
    pub last_activity: MessageKey,
    /// Messages from the other member that the owner has not read (rows
    /// written before unread counts existed have none: 0).
    #[serde(default)]
    pub unread: u32,
}

impl GroupRowItem {
    pub fn new(owner: UserUuid, other: &UserSummary, message: &Message, unread: u32) -> Self {
        GroupRowItem {
            message_group_uuid: message.group,
            owner_uuid: owner,
            other_user_uuid: other.uuid,
            other_user_handle: other.handle.clone(),
            other_user_display_name: other.display_name.clone(),
            last_message: message.text.clone(),
            last_message_at: message.created_at,
            last_activity: message.key(),
            unread,
        }
    }
}

impl From<GroupRowItem> for MessageGroup {
    fn from(i: GroupRowItem) -> Self {
        MessageGroup {
            uuid: i.message_group_uuid,
            owner: i.owner_uuid,
            other: UserSummary {
                uuid: i.other_user_uuid,
                handle: i.other_user_handle,
                display_name: i.other_user_display_name,
            },
            last_message: i.last_message,
            last_activity: i.last_activity,
            unread: i.unread,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct MessageItem {
    pub message_uuid: MessageUuid,
    pub message_group_uuid: GroupUuid,
    pub user_uuid: UserUuid,
    pub user_handle: Handle,
    pub user_display_name: DisplayName,
    pub message: MessageText,
    pub created_at: Timestamp,
}

impl From<&Message> for MessageItem {
    fn from(m: &Message) -> Self {
        MessageItem {
            message_uuid: m.uuid,
            message_group_uuid: m.group,
            user_uuid: m.sender.uuid,
            user_handle: m.sender.handle.clone(),
            user_display_name: m.sender.display_name.clone(),
            message: m.text.clone(),
            created_at: m.created_at,
        }
    }
}

impl From<MessageItem> for Message {
    fn from(i: MessageItem) -> Self {
        Message {
            uuid: i.message_uuid,
            group: i.message_group_uuid,
            sender: UserSummary { uuid: i.user_uuid, handle: i.user_handle, display_name: i.user_display_name },
            text: i.message,
            created_at: i.created_at,
        }
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
/// and what its answer needs (the message, but its text, which the request
/// carries). Written in the message's own transaction.
#[derive(Serialize, Deserialize)]
pub(crate) struct IdempotencyItem {
    pub fingerprint: String,
    pub message_uuid: MessageUuid,
    pub message_group_uuid: GroupUuid,
    pub created_at: Timestamp,
    pub sender_uuid: UserUuid,
    pub sender_handle: Handle,
    pub sender_display_name: DisplayName,
    /// Epoch seconds; DynamoDB's TTL removes the item after it.
    pub expires_at: i64,
}

/// A user's unread totals: messages, and the message groups they are in (a
/// string set, so adding a group twice counts it once).
#[derive(Deserialize)]
pub(crate) struct UnreadItem {
    #[serde(default)]
    pub unread_count: i64,
    #[serde(default)]
    pub unread_groups: std::collections::HashSet<String>,
}
