//! Changing a sent message: its sender edits its text or deletes it (a
//! tombstone keeps its place). Each change is one transaction of the message
//! and its conversation (the summary when it is the latest message, the
//! recipient's count when it was unread), planned from the conversation as
//! read and conditioned on it, so a concurrent send, read or change makes it
//! plan again instead of writing over it.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};

use super::items::{from_item, ConversationItem, Item, MessageItem, Side};
use super::{keys, sdk_error, write_or_check, Outcome, Store, MAX_TRANSACTION_ATTEMPTS};
use crate::domain::{Content, GroupUuid, Message, MessageKey, MessageText, MessageUuid, Timestamp, UserUuid};
use crate::error::{Error, Result};

/// The items of a change's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChangeTxItem {
    Message,
    Conversation,
}

/// What the sender does to their message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    Edit(MessageText),
    Delete,
}

impl Store {
    /// `editor` replaces the text of their message `uuid` in `group`; the
    /// summary follows when it is the group's latest message. The message
    /// as it now is (with `edited_at`).
    ///
    /// Errors: `GroupNotFound` / `NotMember` as for reading the group;
    /// `MessageNotFound`; `NotMessageSender`; `MessageDeleted`.
    pub async fn edit_message(
        &self,
        editor: UserUuid,
        group: GroupUuid,
        uuid: MessageUuid,
        text: MessageText,
        at: Timestamp,
    ) -> Result<Message> {
        self.change(editor, group, uuid, Change::Edit(text), at).await
    }

    /// `deleter` deletes their message `uuid` in `group`: its text is removed
    /// from the table (the item stays as a tombstone: uuid, sender, time); a
    /// recipient who had not read it no longer counts it; a summary showing
    /// it shows no text. Deleting a deleted message changes nothing and
    /// answers the same. The tombstone.
    ///
    /// Errors as for [`Store::edit_message`], but for `MessageDeleted`.
    pub async fn delete_message(
        &self,
        deleter: UserUuid,
        group: GroupUuid,
        uuid: MessageUuid,
        at: Timestamp,
    ) -> Result<Message> {
        self.change(deleter, group, uuid, Change::Delete, at).await
    }

    async fn change(
        &self,
        caller: UserUuid,
        group: GroupUuid,
        uuid: MessageUuid,
        change: Change,
        at: Timestamp,
    ) -> Result<Message> {
        let (mut conversation, side) = self.member_conversation(caller, group).await?;
        let key = self.message_key(group, uuid).await?.ok_or(Error::MessageNotFound)?;
        let message_write = self.message_change(group, key, caller, &change, at)?;
        for _ in 1..=MAX_TRANSACTION_ATTEMPTS {
            // An edit writes to the other member, as a send does: not while
            // a block stands (a delete only takes away, so it may).
            match (&change, conversation.refusal_for(side)) {
                (Change::Edit(_), Some(refusal)) => return Err(refusal),
                (Change::Delete, Some(Error::NotMember)) => return Err(Error::NotMember),
                _ => {}
            }
            let items = [
                (ChangeTxItem::Message, message_write.clone()),
                (ChangeTxItem::Conversation, self.conversation_change(&conversation, side, key, &change)?),
            ];
            let outcome = self.run_transaction(&items).await?;
            if matches!(outcome, Outcome::Applied) {
                let (content, edited_at) = match change {
                    Change::Edit(text) => (Content::Text(text), Some(at)),
                    Change::Delete => (Content::Deleted, None),
                };
                let sender = conversation.member(side);
                return Ok(Message { uuid, group, sender, content, created_at: key.at, edited_at });
            }
            if let Some(old) = outcome.failed(ChangeTxItem::Message) {
                let old = self.as_it_was(old.as_ref(), keys::message(group, key)).await?;
                let Some(old) = old else { return Err(Error::MessageNotFound) };
                let old = Message::try_from(from_item::<MessageItem>(old)?)?;
                if old.sender.uuid != caller {
                    return Err(Error::NotMessageSender);
                }
                match (old.content.is_deleted(), &change) {
                    (true, Change::Delete) => return Ok(old),
                    (true, Change::Edit(_)) => return Err(Error::MessageDeleted),
                    // Changed under the condition since (an edit): again.
                    (false, _) => {}
                }
            }
            if let Some(old) = outcome.failed(ChangeTxItem::Conversation) {
                conversation = match self.conversation_as_it_was(old, group).await? {
                    Some(c) if c.side_of(caller) == Some(side) => c,
                    _ => return Err(Error::NotMember),
                };
            }
        }
        Err(Error::unavailable("the message group kept changing while changing a message"))
    }

    /// The storage key of message `uuid` in `group`: from the uuid itself
    /// when it carries its time (every message sent since uuids do), else
    /// (messages stored before) by reading the group's keys newest first
    /// until it shows up: a Query filtered on the uuid that returns only the
    /// key (billed for the whole items read), 1 MB a page. `None` if the
    /// group has no such message.
    async fn message_key(&self, group: GroupUuid, uuid: MessageUuid) -> Result<Option<MessageKey>> {
        if let Some(key) = MessageKey::of(uuid) {
            return Ok(Some(key));
        }
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(self.table())
                .key_condition_expression("pk = :pk")
                .filter_expression("message_uuid = :uuid")
                .projection_expression("sk")
                .expression_attribute_values(":pk", AttributeValue::S(keys::messages_of(group)))
                .expression_attribute_values(":uuid", AttributeValue::S(uuid.to_string()))
                .scan_index_forward(false)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .set_return_consumed_capacity(super::meter::mode(self.meter.as_deref()))
                .send()
                .await
                .map_err(sdk_error)?;
            self.record(out.consumed_capacity.as_ref());
            let found = out.items.unwrap_or_default().into_iter().find_map(|item| {
                item.get("sk").and_then(|sk| sk.as_s().ok()).and_then(|sk| MessageKey::parse(sk).ok())
            });
            if found.is_some() {
                return Ok(found);
            }
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(None),
            }
        }
    }

    /// The message's part: only its sender, only while it is not deleted.
    fn message_change(
        &self,
        group: GroupUuid,
        key: MessageKey,
        caller: UserUuid,
        change: &Change,
        at: Timestamp,
    ) -> Result<TransactWriteItem> {
        let mut values =
            vec![(":caller", AttributeValue::S(caller.to_string())), (":at", AttributeValue::S(at.to_string()))];
        let expression = match change {
            Change::Edit(text) => {
                values.push((":text", AttributeValue::S(text.to_string())));
                "SET message = :text, edited_at = :at"
            }
            Change::Delete => "SET deleted_at = :at REMOVE message, edited_at",
        };
        let condition = "user_uuid = :caller AND attribute_not_exists(deleted_at)".to_owned();
        write_or_check(self, keys::message(group, key), expression, condition, values)
    }

    /// The conversation's part, from `conversation` as last read (each
    /// choice is also a condition): the caller is a member; the summary
    /// shows the new text (an edit) or none (a delete) when the message is
    /// the latest, and is left alone when a newer one has come; a delete of
    /// a message the recipient had not read (after their read marker) takes
    /// one off their count, and the group out of their unread index at 0.
    fn conversation_change(
        &self,
        conversation: &ConversationItem,
        side: Side,
        key: MessageKey,
        change: &Change,
    ) -> Result<TransactWriteItem> {
        let recipient = side.other();
        let (unread, listed, read) =
            (recipient.unread_attribute(), recipient.unread_key_attribute(), recipient.read_attribute());
        let mut values = vec![
            (":caller", AttributeValue::S(conversation.member(side).uuid.to_string())),
            (":key", AttributeValue::S(key.to_string())),
        ];
        let mut condition = format!("{} = :caller", side.uuid_attribute());
        if matches!(change, Change::Edit(_)) {
            condition.push_str(&format!(" AND {}", ConversationItem::open_condition()));
        } else {
            // A delete only takes away, so a block allows it; not a
            // departure: the one who left changes nothing any more.
            condition.push_str(&format!(" AND attribute_not_exists({})", side.left_attribute()));
        }
        let (mut set, mut remove) = (Vec::new(), Vec::new());
        if conversation.activity == key {
            condition.push_str(" AND activity = :key");
            match change {
                Change::Edit(text) => {
                    set.push("last_message = :text".to_owned());
                    values.push((":text", AttributeValue::S(text.to_string())));
                }
                Change::Delete => remove.push("last_message".to_owned()),
            }
        } else {
            // Activity only moves forward: once past, never back to it.
            condition.push_str(" AND activity <> :key");
        }
        if *change == Change::Delete {
            let seen = conversation.unread(recipient);
            let counted = seen > 0 && conversation.read(recipient).is_none_or(|marker| marker < key);
            if counted {
                condition
                    .push_str(&format!(" AND {unread} = :seen AND (attribute_not_exists({read}) OR {read} < :key)"));
                values.push((":seen", AttributeValue::N(seen.to_string())));
                values.push((":left", AttributeValue::N((seen - 1).to_string())));
                set.push(format!("{unread} = :left"));
                if seen == 1 {
                    remove.push(listed.to_owned());
                }
            } else {
                condition.push_str(&format!(" AND ({unread} = :zero OR {read} >= :key)"));
                values.push((":zero", AttributeValue::N("0".into())));
            }
        }
        let mut expression = String::new();
        if !set.is_empty() {
            expression.push_str(&format!("SET {} ", set.join(", ")));
        }
        if !remove.is_empty() {
            expression.push_str(&format!("REMOVE {}", remove.join(", ")));
        }
        write_or_check(self, keys::conversation(conversation.message_group_uuid), &expression, condition, values)
    }
}
