//! Deleting an account (`DELETE /api/me`): in steps that can each be
//! repeated, so a deletion cut short completes when asked again (by the
//! user's retry, or `cruddur cognito repair-users`).
//!
//! 1. [`Store::begin_account_deletion`], one transaction: the profile and the
//!    Cognito link are marked leaving (every route but this one then treats
//!    the caller as unknown), the handle is released into a 30-day hold (a
//!    hash of it: nobody may register it meanwhile), and a marker under
//!    `LEAVING` says a deletion is under way.
//! 2. (The caller deletes the Cognito account and closes the connections.)
//! 3. [`Store::finish_account_deletion`]: the user's blocks are lifted; in
//!    each of their conversations (the member indexes: a fixed order) their
//!    side is tombstoned (handle `deleted`, "Deleted user", out of their
//!    list and unread indexes, marked left: nothing more is sent there) and
//!    then their messages' sender fields are; their connection records go;
//!    last, one transaction removes the profile, the link and the marker.

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::items::{from_item, to_item, BlockItem, Item, Side};
use super::profiles::build_err;
use super::{all_pages, keys, sdk_error, write_or_check, Outcome, Store, MAX_TRANSACTION_ATTEMPTS};
use crate::domain::{CognitoSub, GroupUuid, Handle, Profile, Timestamp, UserUuid};
use crate::error::{Error, Result};

/// How long a deleted account's handle stays unavailable to anyone else.
pub const HANDLE_HOLD_SECS: i64 = 30 * 24 * 3600;

/// What a deleted account's names become wherever they remain (the other
/// members' conversations and the messages in them).
pub const DELETED_HANDLE: &str = "deleted";
pub const DELETED_DISPLAY_NAME: &str = "Deleted user";

/// How many of a conversation's messages are rewritten at once.
const CONCURRENT_REWRITES: usize = 8;

/// `HELD#<hash>`: a deleted account's handle, held until `expires_at` (TTL).
#[derive(Serialize, Deserialize)]
struct HeldHandleItem {
    expires_at: i64,
}

/// `LEAVING` / `<user uuid>`: a deletion under way (names nobody).
#[derive(Serialize, Deserialize)]
struct LeavingItem {
    user_uuid: UserUuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cognito_user_id: Option<CognitoSub>,
    since: Timestamp,
}

/// The items of the deletion's first and last transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LeaveTxItem {
    Profile,
    Link,
    Handle,
    Hold,
    Marker,
}

impl Store {
    /// Step 1 of deleting `user`'s account (see the module): the profile as
    /// it was, or `None` when there is none (never was, or fully deleted).
    /// Repeating it once begun changes nothing.
    pub async fn begin_account_deletion(&self, user: UserUuid, at: Timestamp) -> Result<Option<Profile>> {
        for _ in 1..=MAX_TRANSACTION_ATTEMPTS {
            let Some(profile) = self.profile(user).await? else { return Ok(None) };
            if profile.leaving_at.is_some() {
                return Ok(Some(profile));
            }
            let me = AttributeValue::S(user.to_string());
            let since = AttributeValue::S(at.to_string());
            let mut items = vec![(
                LeaveTxItem::Profile,
                write_or_check(
                    self,
                    keys::profile(user),
                    "SET leaving_at = :at",
                    "attribute_exists(pk) AND attribute_not_exists(leaving_at)".into(),
                    vec![(":at", since.clone())],
                )?,
            )];
            if let Some(sub) = &profile.cognito_sub {
                let link = write_or_check(
                    self,
                    keys::cognito(sub),
                    "SET leaving_at = :at",
                    "user_uuid = :me".into(),
                    vec![(":at", since.clone()), (":me", me.clone())],
                )?;
                items.push((LeaveTxItem::Link, link));
            }
            let handle = Delete::builder()
                .table_name(self.table())
                .set_key(Some(keys::handle(&profile.handle).into_map()))
                .condition_expression("attribute_not_exists(pk) OR user_uuid = :me")
                .expression_attribute_values(":me", me)
                .build()
                .map_err(build_err)?;
            items.push((LeaveTxItem::Handle, TransactWriteItem::builder().delete(handle).build()));
            let hold = HeldHandleItem { expires_at: at.unix_seconds() + HANDLE_HOLD_SECS };
            items.push((LeaveTxItem::Hold, self.put(to_item(keys::held_handle(&profile.handle), &hold)?)?));
            let marker = LeavingItem { user_uuid: user, cognito_user_id: profile.cognito_sub.clone(), since: at };
            items.push((LeaveTxItem::Marker, self.put(to_item(keys::leaving(user), &marker)?)?));
            if matches!(self.run_transaction(&items).await?, Outcome::Applied) {
                return Ok(Some(Profile { leaving_at: Some(at), ..profile }));
            }
            // The profile changed under it (begun concurrently): look again.
        }
        Err(Error::unavailable("the profile kept changing while beginning its deletion"))
    }

    /// Step 3 (see the module): everything else, for an account whose
    /// deletion began; nothing when it is done already. Each part is safe
    /// to repeat, so a run cut short is completed by the next.
    pub async fn finish_account_deletion(&self, user: UserUuid) -> Result<()> {
        let Some(profile) = self.profile(user).await? else { return Ok(()) };
        if profile.leaving_at.is_none() {
            return Err(Error::internal("finishing a deletion that was not begun"));
        }
        for entry in self.all_blocks_of(user).await? {
            self.lift_block(user, entry.blocked_uuid).await?;
        }
        for side in [Side::A, Side::B] {
            for group in self.member_groups(user, side).await? {
                self.leave_conversation(user, side, group).await?;
                self.tombstone_sender(user, group).await?;
            }
        }
        for connection in self.open_connections(user, Timestamp::now()).await? {
            self.remove_connection(user, &connection.id).await?;
        }
        let mut items = vec![(LeaveTxItem::Profile, self.delete(keys::profile(user))?)];
        if let Some(sub) = &profile.cognito_sub {
            items.push((LeaveTxItem::Link, self.delete(keys::cognito(sub))?));
        }
        items.push((LeaveTxItem::Marker, self.delete(keys::leaving(user))?));
        match self.run_transaction(&items).await? {
            Outcome::Applied => Ok(()),
            Outcome::ConditionsFailed(_) => Err(Error::internal("the last step of a deletion has no conditions")),
        }
    }

    /// The users whose deletion began and has not finished (the `LEAVING`
    /// markers), with the Cognito account each was linked to.
    pub async fn unfinished_deletions(&self) -> Result<Vec<(UserUuid, Option<CognitoSub>)>> {
        let items = self.whole_partition(None, keys::LEAVING.to_owned()).await?;
        items.into_iter().map(|i| from_item::<LeavingItem>(i).map(|m| (m.user_uuid, m.cognito_user_id))).collect()
    }

    /// Whether `handle` belonged to an account deleted less than
    /// [`HANDLE_HOLD_SECS`] before `now`.
    pub async fn handle_held(&self, handle: &Handle, now: Timestamp) -> Result<bool> {
        let held = self.get(keys::held_handle(handle)).await?.map(from_item::<HeldHandleItem>).transpose()?;
        Ok(held.is_some_and(|h| h.expires_at > now.unix_seconds()))
    }

    /// `user`'s side of `group` tombstoned (see the module); a side already
    /// left is written the same again.
    async fn leave_conversation(&self, user: UserUuid, side: Side, group: GroupUuid) -> Result<()> {
        let (handle, name) = side.name_attributes();
        let expression = format!(
            "SET {left} = if_not_exists({left}, :now), {handle} = :handle, {name} = :name, {unread} = :zero \
             REMOVE {list}, {listed}",
            left = side.left_attribute(),
            unread = side.unread_attribute(),
            list = side.list_attribute(),
            listed = side.unread_key_attribute(),
        );
        let update = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(keys::conversation(group).into_map()))
            .update_expression(expression)
            .condition_expression(format!("{} = :me", side.uuid_attribute()))
            .expression_attribute_values(":me", AttributeValue::S(user.to_string()))
            .expression_attribute_values(":now", AttributeValue::S(Timestamp::now().to_string()))
            .expression_attribute_values(":handle", AttributeValue::S(DELETED_HANDLE.into()))
            .expression_attribute_values(":name", AttributeValue::S(DELETED_DISPLAY_NAME.into()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .set_return_consumed_capacity(super::meter::mode(self.meter.as_deref()))
            .send()
            .await
            .map_err(sdk_error)?;
        self.record(update.consumed_capacity.as_ref());
        Ok(())
    }

    /// The sender fields of `user`'s messages in `group` tombstoned: a
    /// Query of the group's messages that are theirs and not yet rewritten,
    /// then one conditional update each (a few at a time). Run after the
    /// conversation is left, which refuses any later message of theirs.
    async fn tombstone_sender(&self, user: UserUuid, group: GroupUuid) -> Result<()> {
        let items = all_pages(|start| async move {
            let out = self
                .client
                .query()
                .table_name(self.table())
                .key_condition_expression("pk = :pk")
                .filter_expression("user_uuid = :me AND user_handle <> :deleted")
                .projection_expression("pk, sk")
                .expression_attribute_values(":pk", AttributeValue::S(keys::messages_of(group)))
                .expression_attribute_values(":me", AttributeValue::S(user.to_string()))
                .expression_attribute_values(":deleted", AttributeValue::S(DELETED_HANDLE.into()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .set_return_consumed_capacity(super::meter::mode(self.meter.as_deref()))
                .send()
                .await
                .map_err(sdk_error)?;
            self.record(out.consumed_capacity.as_ref());
            Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
        })
        .await?;
        futures_util::stream::iter(items.into_iter().map(|key| self.tombstone_message_sender(user, key)))
            .buffer_unordered(CONCURRENT_REWRITES)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn tombstone_message_sender(&self, user: UserUuid, key: Item) -> Result<()> {
        let out = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(key))
            .update_expression("SET user_handle = :handle, user_display_name = :name")
            .condition_expression("user_uuid = :me")
            .expression_attribute_values(":me", AttributeValue::S(user.to_string()))
            .expression_attribute_values(":handle", AttributeValue::S(DELETED_HANDLE.into()))
            .expression_attribute_values(":name", AttributeValue::S(DELETED_DISPLAY_NAME.into()))
            .set_return_consumed_capacity(super::meter::mode(self.meter.as_deref()))
            .send()
            .await
            .map_err(sdk_error)?;
        self.record(out.consumed_capacity.as_ref());
        Ok(())
    }

    /// Every entry of `user`'s block list.
    async fn all_blocks_of(&self, user: UserUuid) -> Result<Vec<BlockItem>> {
        let items = self.whole_partition(None, keys::blocks_of(user)).await?;
        items.into_iter().map(from_item::<BlockItem>).collect()
    }

    /// A Put that replaces whatever is there.
    fn put(&self, item: Item) -> Result<TransactWriteItem> {
        let put = Put::builder().table_name(self.table()).set_item(Some(item)).build().map_err(build_err)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A Delete without condition.
    fn delete(&self, key: keys::Key) -> Result<TransactWriteItem> {
        let delete =
            Delete::builder().table_name(self.table()).set_key(Some(key.into_map())).build().map_err(build_err)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}
