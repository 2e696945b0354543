//! Unread counts: marking a message group read, and a user's totals.

use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::items::{from_item, Side, UnreadItem};
use super::profiles::build_err;
use super::{keys, sdk_error, Store, MAX_TRANSACTION_ATTEMPTS};
use crate::domain::{GroupUuid, MessageKey, UnreadCounts, UserUuid};
use crate::error::{Error, Result};

/// The items of marking a message group read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadItem {
    Conversation,
    Totals,
}

impl Store {
    /// Marks `group` read for `reader`: their count in the conversation to 0
    /// and their totals down by as much, in one transaction; nothing is
    /// written when nothing is unread. `NotMember` / `GroupNotFound` as for
    /// reading it.
    pub async fn mark_read(&self, reader: UserUuid, group: GroupUuid) -> Result<()> {
        let (conversation, side) = self.member_conversation(reader, group).await?;
        self.mark_read_from(reader, group, side, conversation.unread(side), None).await
    }

    /// [`Store::mark_read`] from a conversation that showed `seen` unread
    /// messages on `reader`'s `side`; a message that arrives meanwhile fails
    /// the condition and the next round starts from the count it returned.
    /// With `shown` (the newest message a page showed), only what the reader
    /// was shown is marked: when the conversation has a newer message than
    /// that, nothing is marked (its unread messages stay unread until a read
    /// that shows them).
    pub(super) async fn mark_read_from(
        &self,
        reader: UserUuid,
        group: GroupUuid,
        side: Side,
        mut seen: u32,
        shown: Option<MessageKey>,
    ) -> Result<()> {
        let unread = side.unread_attribute();
        for _ in 1..=MAX_TRANSACTION_ATTEMPTS {
            if seen == 0 {
                return Ok(());
            }
            let conversation = Update::builder()
                .table_name(self.table())
                .set_key(Some(keys::conversation(group).into_map()))
                .update_expression(format!("SET {unread} = :zero"))
                .condition_expression(format!("{} = :reader AND {unread} = :seen", side.uuid_attribute()))
                .expression_attribute_values(":reader", AttributeValue::S(reader.to_string()))
                .expression_attribute_values(":zero", AttributeValue::N("0".into()))
                .expression_attribute_values(":seen", AttributeValue::N(seen.to_string()))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .build()
                .map_err(build_err)?;
            let items = [
                (ReadItem::Conversation, TransactWriteItem::builder().update(conversation).build()),
                (ReadItem::Totals, self.unread_totals(reader, group, -i64::from(seen), -1)?),
            ];
            let outcome = self.run_transaction(&items).await?;
            let Some(old) = outcome.failed(ReadItem::Conversation) else { return Ok(()) };
            match self.conversation_as_it_was(old, group).await? {
                Some(c) if c.side_of(reader) != Some(side) => return Err(Error::NotMember),
                Some(c) if shown.is_some_and(|s| s != c.activity) => return Ok(()),
                Some(c) => seen = c.unread(side),
                None => return Err(Error::NotMember),
            }
        }
        Err(Error::unavailable("new messages kept arriving while marking a message group read"))
    }

    /// `owner`'s unread messages in all their message groups, and in how many
    /// groups: one strongly consistent BatchGetItem of the [`keys::SHARDS`]
    /// totals items, whatever the number of groups.
    pub async fn unread_counts(&self, owner: UserUuid) -> Result<UnreadCounts> {
        let mut wanted = KeysAndAttributes::builder().consistent_read(true);
        for shard in 0..keys::SHARDS {
            wanted = wanted.keys(keys::unread(owner, shard).into_map());
        }
        let mut request = Some(wanted.build().map_err(build_err)?);
        let (mut count, mut conversations) = (0i64, 0i64);
        // Unprocessed keys (throttling) are asked for again, as DynamoDB
        // documents; a handful of small items normally comes back at once.
        for attempt in 0..MAX_TRANSACTION_ATTEMPTS {
            let Some(keys) = request.take() else { break };
            if attempt > 0 {
                super::backoff(attempt).await;
            }
            let out = self
                .client
                .batch_get_item()
                .request_items(self.table(), keys)
                .set_return_consumed_capacity(super::meter::mode(self.meter.as_deref()))
                .send()
                .await
                .map_err(sdk_error)?;
            for consumed in out.consumed_capacity.iter().flatten() {
                self.record(Some(consumed));
            }
            for item in out.responses.and_then(|mut r| r.remove(self.table())).unwrap_or_default() {
                let totals = from_item::<UnreadItem>(item)?;
                count += totals.unread_count;
                conversations += totals.unread_groups;
            }
            request = out.unprocessed_keys.and_then(|mut u| u.remove(self.table())).filter(|k| !k.keys().is_empty());
        }
        if request.is_some() {
            return Err(Error::unavailable("the unread totals stayed unprocessed"));
        }
        let count =
            u64::try_from(count).map_err(|_| Error::internal(format!("an unread total is negative ({count})")))?;
        let conversations = u64::try_from(conversations)
            .map_err(|_| Error::internal(format!("an unread conversation total is negative ({conversations})")))?;
        Ok(UnreadCounts { count, conversations })
    }

    /// An update of `owner`'s unread totals (the shard of `group`) by
    /// `messages` and `conversations`: a message adds one message, and one
    /// conversation when the recipient had nothing unread in it; a read
    /// takes away what it read and the conversation.
    pub(super) fn unread_totals(
        &self,
        owner: UserUuid,
        group: GroupUuid,
        messages: i64,
        conversations: i64,
    ) -> Result<TransactWriteItem> {
        let update = Update::builder()
            .table_name(self.table())
            .set_key(Some(keys::unread(owner, keys::shard_of(group)).into_map()))
            .update_expression("ADD unread_count :messages, unread_groups :conversations")
            .expression_attribute_values(":messages", AttributeValue::N(messages.to_string()))
            .expression_attribute_values(":conversations", AttributeValue::N(conversations.to_string()))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// A sender has read the message group they just wrote in: marks it
    /// read, after the message (the message's own transaction does not wait
    /// on the sender's count, which the other member's messages keep
    /// changing). `seen`: the sender's unread count as read before the send.
    /// Never fails the send: a failure leaves conversation and totals as they
    /// were, still equal, until the next read.
    pub(super) async fn read_by_sender(&self, sender: UserUuid, group: GroupUuid, side: Side, seen: u32) {
        if let Err(e) = self.mark_read_from(sender, group, side, seen, None).await {
            tracing::warn!(error = %e.chain(), "could not mark the message group read for its sender");
        }
    }
}
