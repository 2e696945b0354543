//! Unread counts: marking a message group read, and a user's totals (the
//! sum of their conversations' counts, read from the unread indexes).

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::items::{from_item, ConversationItem, Item, Side, UnreadEntryItem};
use super::{keys, sdk_error, Store, MAX_TRANSACTION_ATTEMPTS, UNREAD_A_INDEX, UNREAD_B_INDEX};
use crate::domain::{GroupUuid, MessageKey, UnreadCounts, UserUuid};
use crate::error::{Error, Result};

/// A member's read marker moved: what the other member's `read` event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadMark {
    pub group: GroupUuid,
    pub reader: UserUuid,
    /// Who is told.
    pub other: UserUuid,
    /// The newest message the reader has now read up to.
    pub read: MessageKey,
}

/// How a conditional mark ended.
enum Marked {
    /// Written; the marker as it now is.
    Done(Option<MessageKey>),
    /// The condition failed: the conversation as it was (ALL_OLD).
    ConditionFailed(Option<Item>),
    /// Another transaction held the item: try again.
    Conflict,
}

impl Store {
    /// Marks `group` read for `reader`: their count in the conversation to 0
    /// and its entry out of their unread index, in one conditional
    /// UpdateItem of the conversation (nothing else holds a count); nothing
    /// is written when nothing is unread. `NotMember` / `GroupNotFound` as
    /// for reading it. The new read marker when it moved.
    pub async fn mark_read(&self, reader: UserUuid, group: GroupUuid) -> Result<Option<ReadMark>> {
        let (conversation, side) = self.member_conversation(reader, group).await?;
        self.mark_read_from(&conversation, side, None).await
    }

    /// [`Store::mark_read`] from `conversation` as read, where `reader`
    /// (on `side`) saw `seen` unread messages (0: nothing to write). The read
    /// marker moves with the count: to `shown`, or to the newest message
    /// (`activity`) for a mark of everything. With `shown`
    /// (the newest message a page showed), only what the reader was shown
    /// is marked: the write's condition is that the conversation's newest
    /// message is still `shown` and its count still `seen`, so a message
    /// that arrived during the read stays unread (and so do the others,
    /// until a read that shows it). Without it, everything is marked.
    pub(super) async fn mark_read_from(
        &self,
        conversation: &ConversationItem,
        side: Side,
        shown: Option<MessageKey>,
    ) -> Result<Option<ReadMark>> {
        let (group, seen) = (conversation.message_group_uuid, conversation.unread(side));
        let reader = conversation.member(side).uuid;
        let other = conversation.member(side.other()).uuid;
        if seen == 0 {
            return Ok(None);
        }
        for attempt in 1..=MAX_TRANSACTION_ATTEMPTS {
            match self.try_mark_read(reader, group, side, shown.map(|s| (s, seen))).await? {
                Marked::Done(read) => {
                    return match read {
                        // Nothing of one member is told to the other while a
                        // block stands between them.
                        Some(_) if conversation.blocked() => Ok(None),
                        Some(read) => Ok(Some(ReadMark { group, reader, other, read })),
                        None => Err(Error::internal("a mark read left no read marker")),
                    };
                }
                Marked::Conflict => super::backoff(attempt).await,
                Marked::ConditionFailed(old) => match self.conversation_as_it_was(&old, group).await? {
                    Some(c) if c.side_of(reader) != Some(side) => return Err(Error::NotMember),
                    None => return Err(Error::NotMember),
                    // A page's mark: something arrived that the page did not
                    // show; it all stays unread.
                    Some(_) if shown.is_some() => return Ok(None),
                    // A mark of everything has no other condition: the
                    // item changed under it (DynamoDB's answer); again.
                    Some(_) => super::backoff(attempt).await,
                },
            }
        }
        Err(Error::unavailable("the message group stayed busy while marking it read"))
    }

    async fn try_mark_read(
        &self,
        reader: UserUuid,
        group: GroupUuid,
        side: Side,
        shown: Option<(MessageKey, u32)>,
    ) -> Result<Marked> {
        let (unread, listed, read) = (side.unread_attribute(), side.unread_key_attribute(), side.read_attribute());
        let mut condition = format!("{} = :reader", side.uuid_attribute());
        // The marker moves to what the page showed, or to the newest message.
        let marker = if shown.is_some() { ":shown" } else { "activity" };
        let mut update = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(keys::conversation(group).into_map()))
            .update_expression(format!("SET {unread} = :zero, {read} = {marker} REMOVE {listed}"))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .expression_attribute_values(":reader", AttributeValue::S(reader.to_string()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .set_return_consumed_capacity(super::meter::mode(self.meter.as_deref()));
        if let Some((shown, seen)) = shown {
            condition.push_str(&format!(" AND activity = :shown AND {unread} = :seen"));
            update = update
                .expression_attribute_values(":shown", AttributeValue::S(shown.to_string()))
                .expression_attribute_values(":seen", AttributeValue::N(seen.to_string()));
        }
        match update.condition_expression(condition).send().await {
            Ok(out) => {
                self.record(out.consumed_capacity.as_ref());
                let marker = out.attributes.as_ref().and_then(|a| a.get(read)).and_then(|v| v.as_s().ok());
                Ok(Marked::Done(marker.and_then(|m| MessageKey::parse(m).ok())))
            }
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    Ok(Marked::ConditionFailed(failed.item.clone().filter(|i| !i.is_empty())))
                }
                Some(UpdateItemError::TransactionConflictException(_)) => Ok(Marked::Conflict),
                _ => Err(sdk_error(e)),
            },
        }
    }

    /// `owner`'s unread messages in all their message groups, and in how many
    /// groups: the entries of their two unread-index partitions (one Query
    /// each, at once; only conversations with unread messages are there).
    /// The indexes are global, so eventually consistent: a count follows its
    /// conversation a moment after it changes (design.md, "Unread counts").
    pub async fn unread_counts(&self, owner: UserUuid) -> Result<UnreadCounts> {
        self.unread_counts_knowing(owner, None).await
    }

    /// [`Store::unread_counts`], with `known`: a conversation whose count
    /// the caller has just read from the item itself (strongly consistent),
    /// which replaces its index entry (the realtime push of a message carries
    /// a count that includes that very message).
    pub async fn unread_counts_knowing(
        &self,
        owner: UserUuid,
        known: Option<(GroupUuid, u32)>,
    ) -> Result<UnreadCounts> {
        let partition = keys::unread_of(owner);
        let (a, b) = tokio::try_join!(
            self.whole_partition(Some(UNREAD_A_INDEX), partition.clone()),
            self.whole_partition(Some(UNREAD_B_INDEX), partition.clone())
        )?;
        let known_pk = known.map(|(group, _)| keys::conversation(group).pk);
        let (mut count, mut conversations) = (0u64, 0u64);
        let entries = a.into_iter().map(|i| (Side::A, i)).chain(b.into_iter().map(|i| (Side::B, i)));
        for (side, entry) in entries {
            let entry = from_item::<UnreadEntryItem>(entry)?;
            if known_pk.as_ref() == Some(&entry.pk) {
                continue;
            }
            // Each index projects its own side's count.
            let unread = u64::from(match side {
                Side::A => entry.unread_a,
                Side::B => entry.unread_b,
            });
            count += unread;
            conversations += u64::from(unread > 0);
        }
        if let Some((_, unread)) = known {
            count += u64::from(unread);
            conversations += u64::from(unread > 0);
        }
        Ok(UnreadCounts { count, conversations })
    }

    /// A sender has read the message group they just wrote in: marks it
    /// read, after the message (the message's own transaction does not wait
    /// on the sender's count, which the other member's messages keep
    /// changing). `seen`: the sender's unread count as read before the send.
    /// Never fails the send: a failure leaves the count as it was, until the
    /// next read.
    pub(super) async fn read_by_sender(&self, conversation: &ConversationItem, side: Side) -> Option<ReadMark> {
        match self.mark_read_from(conversation, side, None).await {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(error = %e.chain(), "could not mark the message group read for its sender");
                None
            }
        }
    }
}
