//! Sending: a reply, the start of a message group, the Idempotency-Key's
//! claim, and the conversation's update (membership, summary, count).

use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use sha2::{Digest, Sha256};

use super::items::{from_item, to_item, ConversationItem, IdempotencyItem, Item, MessageItem, PairItem, Side};
use super::profiles::build_err;
use super::{keys, Outcome, Store, MAX_TRANSACTION_ATTEMPTS};
use crate::domain::{
    GroupUuid, Handle, IdempotencyKey, Message, MessageText, MessageUuid, NewMessage, Recipient, Timestamp,
    UserSummary, UserUuid, IDEMPOTENCY_KEY_LIFETIME_SECS,
};
use crate::error::{Error, Result};

/// The items of a message's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MessageTxItem {
    Message,
    Conversation,
    IdempotencyKey,
}

/// The items of a new message group's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NewGroupItem {
    Pair,
    Conversation,
    Message,
    IdempotencyKey,
}

/// What a send did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub message: Message,
    /// An earlier request with the same Idempotency-Key stored `message`;
    /// this one wrote nothing.
    pub replayed: bool,
}

/// A send's Idempotency-Key: claimed by a conditional Put in the message's
/// own transaction, so that the key's record exists exactly when the
/// message does.
#[derive(Debug, Clone)]
struct KeyClaim {
    key: keys::Key,
    /// SHA-256 of what was asked: recipient and text.
    fingerprint: String,
    now: Timestamp,
}

impl KeyClaim {
    fn new(sender: &UserSummary, key: &IdempotencyKey, new: &NewMessage, now: Timestamp) -> Self {
        let asked = match &new.recipient {
            Recipient::Group(group) => format!("reply\n{group}\n{}", new.text),
            Recipient::Handle(handle) => format!("start\n{}\n{}", handle.normalized(), new.text),
        };
        let fingerprint = Sha256::digest(asked.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        KeyClaim { key: keys::idempotency(sender.uuid, key), fingerprint, now }
    }

    /// The record's Put: only where no live record of this key exists (one
    /// past its lifetime that TTL has not removed yet counts as absent).
    fn put(&self, store: &Store, message: &Message) -> Result<TransactWriteItem> {
        let record = IdempotencyItem {
            fingerprint: self.fingerprint.clone(),
            message_uuid: message.uuid,
            message_group_uuid: message.group,
            created_at: message.created_at,
            sender_uuid: message.sender.uuid,
            sender_handle: message.sender.handle.clone(),
            sender_display_name: message.sender.display_name.clone(),
            expires_at: self.now.unix_seconds() + IDEMPOTENCY_KEY_LIFETIME_SECS,
        };
        let put = Put::builder()
            .table_name(store.table())
            .set_item(Some(to_item(self.key.clone(), &record)?))
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
            .expression_attribute_values(":now", AttributeValue::N(self.now.unix_seconds().to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The answer to a request whose key is already recorded: the recorded
    /// message when the request is the same, `IdempotencyKeyReused` when not.
    async fn replay(&self, store: &Store, old: Option<&Item>, text: &MessageText) -> Result<Sent> {
        let item = store
            .as_it_was(old, self.key.clone())
            .await?
            .ok_or_else(|| Error::internal("an idempotency key's condition failed without its record"))?;
        let record = from_item::<IdempotencyItem>(item)?;
        if record.fingerprint != self.fingerprint {
            return Err(Error::IdempotencyKeyReused);
        }
        let sender = UserSummary {
            uuid: record.sender_uuid,
            handle: record.sender_handle,
            display_name: record.sender_display_name,
        };
        let message = Message {
            uuid: record.message_uuid,
            group: record.message_group_uuid,
            sender,
            text: text.clone(),
            created_at: record.created_at,
        };
        Ok(Sent { message, replayed: true })
    }
}

/// What a message's transaction does to its conversation item, which must
/// list the sender as a member either way (the membership check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ConversationWrite {
    /// Move the summary to this message (the item shows an older one), or
    /// leave it (it already shows a newer one).
    summarize: bool,
}

impl ConversationWrite {
    /// The write a message needs, from the conversation as last seen.
    fn plan(conversation: &ConversationItem, message: &Message) -> Self {
        ConversationWrite { summarize: conversation.activity < message.key() }
    }
}

impl Store {
    /// Sends `new` as `sender`: a reply or the start of a message group.
    /// With an Idempotency-Key, the key's record is written in the message's
    /// transaction; a request whose key is recorded writes nothing and gets
    /// the recorded message back (`replayed`), or `IdempotencyKeyReused` if it
    /// asks for something else. No extra round trip either way: the record
    /// comes back with the failed condition.
    pub async fn send(
        &self,
        sender: &UserSummary,
        new: NewMessage,
        at: Timestamp,
        key: Option<&IdempotencyKey>,
    ) -> Result<Sent> {
        let claim = key.map(|k| KeyClaim::new(sender, k, &new, at));
        match new.recipient {
            Recipient::Group(group) => self.reply(sender, group, new.text, at, claim.as_ref()).await,
            Recipient::Handle(handle) => {
                self.start(GroupUuid::random(), sender, &handle, new.text, at, claim.as_ref()).await
            }
        }
    }

    /// Replies in an existing message group. The sender's membership is
    /// checked when reading the group and again, atomically, inside the
    /// transaction that stores the message.
    pub async fn send_reply(
        &self,
        sender: &UserSummary,
        group: GroupUuid,
        text: MessageText,
        at: Timestamp,
    ) -> Result<Message> {
        Ok(self.reply(sender, group, text, at, None).await?.message)
    }

    async fn reply(
        &self,
        sender: &UserSummary,
        group: GroupUuid,
        text: MessageText,
        at: Timestamp,
        claim: Option<&KeyClaim>,
    ) -> Result<Sent> {
        let (conversation, side) = self.member_conversation(sender.uuid, group).await?;
        self.append_and_read(sender, conversation, side, text, at, claim).await
    }

    /// Straight to a message's transaction, without the membership read: as
    /// if `sender` and `other` were the members of `group` (the database's
    /// condition decides). `NotMember` when `sender` is not one; nothing is
    /// written then.
    pub async fn append_message(
        &self,
        sender: &UserSummary,
        group: GroupUuid,
        other: &UserSummary,
        text: MessageText,
        at: Timestamp,
    ) -> Result<Message> {
        let assumed = ConversationItem::new(
            (sender, 0),
            (other, 0),
            text.clone(),
            crate::domain::MessageKey { at, uuid: MessageUuid::random() },
            group,
        );
        let side = assumed.side_of(sender.uuid).ok_or_else(|| Error::internal("the sender is not in its own item"))?;
        Ok(self.append(sender, assumed, side, text, at, None).await?.message)
    }

    /// [`Store::append`], then the sender's side marked read (from the count
    /// the conversation showed them).
    async fn append_and_read(
        &self,
        sender: &UserSummary,
        conversation: ConversationItem,
        side: Side,
        text: MessageText,
        at: Timestamp,
        claim: Option<&KeyClaim>,
    ) -> Result<Sent> {
        let (group, seen) = (conversation.message_group_uuid, conversation.unread(side));
        let sent = self.append(sender, conversation, side, text, at, claim).await?;
        if !sent.replayed && seen > 0 {
            self.read_by_sender(sender.uuid, group, side, seen).await;
        }
        Ok(sent)
    }

    /// Stores a message from `sender` in `conversation` (as last read), in
    /// one transaction with everything it changes:
    /// - the message is a new item (never replaces another);
    /// - the conversation must list the sender (membership, checked by
    ///   DynamoDB);
    /// - the recipient's count in it goes up by one (and the conversation is
    ///   in their unread index: the counter sums those counts);
    /// - the summary moves forward only: a conversation that already shows a
    ///   newer message keeps it, and the message is still stored.
    ///
    /// `NotMember` when the sender is not a member; nothing is written then.
    async fn append(
        &self,
        sender: &UserSummary,
        mut conversation: ConversationItem,
        sender_side: Side,
        text: MessageText,
        at: Timestamp,
        claim: Option<&KeyClaim>,
    ) -> Result<Sent> {
        let group = conversation.message_group_uuid;
        let recipient_side = sender_side.other();
        let recipient = conversation.member(recipient_side).uuid;
        let message = Message { uuid: MessageUuid::random(), group, sender: sender.clone(), text, created_at: at };
        let put_message = self.put_new(to_item(keys::message(group, message.key()), &MessageItem::from(&message))?)?;
        let put_key = claim.map(|c| c.put(self, &message)).transpose()?;

        // Each round re-plans from the conversation as the failed condition
        // returned it (a newer message, a read); conflicts are retried inside
        // the runner.
        for _ in 1..=MAX_TRANSACTION_ATTEMPTS {
            let write = ConversationWrite::plan(&conversation, &message);
            let mut items = vec![(MessageTxItem::Message, put_message.clone())];
            if let Some(put) = &put_key {
                items.push((MessageTxItem::IdempotencyKey, put.clone()));
            }
            items.push((
                MessageTxItem::Conversation,
                self.conversation_update(&message, sender_side, recipient, write)?,
            ));
            let outcome = self.run_transaction(&items).await?;
            // The message's key holds a fresh uuid: if it exists, this very
            // transaction was applied by an earlier attempt.
            if matches!(outcome, Outcome::Applied) || outcome.failed(MessageTxItem::Message).is_some() {
                return Ok(Sent { message, replayed: false });
            }
            if let (Some(claim), Some(old)) = (claim, outcome.failed(MessageTxItem::IdempotencyKey)) {
                return claim.replay(self, old.as_ref(), &message.text).await;
            }
            if let Some(old) = outcome.failed(MessageTxItem::Conversation) {
                conversation = match self.conversation_as_it_was(old, group).await? {
                    Some(c) if c.side_of(sender.uuid) == Some(sender_side) => c,
                    _ => return Err(Error::NotMember),
                };
            }
        }
        Err(Error::unavailable("newer messages kept changing the message group"))
    }

    /// Starts a message group with the user who has `recipient` as handle, or
    /// continues the one they already share: at most one group per pair,
    /// even when both start one with each other at the same moment. The
    /// returned message's `group` says which group it went to.
    ///
    /// Errors: `UserNotFound`, `CannotMessageSelf`.
    pub async fn start_message_group(
        &self,
        sender: &UserSummary,
        recipient: &Handle,
        text: MessageText,
        at: Timestamp,
    ) -> Result<Message> {
        self.start_message_group_in(GroupUuid::random(), sender, recipient, text, at).await
    }

    /// [`Store::start_message_group`], naming the uuid a new group gets (seed
    /// data and sample events use well-known ones). If the pair already has a
    /// message group, the message goes there and `group` is not used.
    pub async fn start_message_group_in(
        &self,
        group: GroupUuid,
        sender: &UserSummary,
        recipient: &Handle,
        text: MessageText,
        at: Timestamp,
    ) -> Result<Message> {
        Ok(self.start(group, sender, recipient, text, at, None).await?.message)
    }

    async fn start(
        &self,
        group: GroupUuid,
        sender: &UserSummary,
        recipient: &Handle,
        text: MessageText,
        at: Timestamp,
        claim: Option<&KeyClaim>,
    ) -> Result<Sent> {
        if recipient.same_as(&sender.handle) {
            return Err(Error::CannotMessageSelf);
        }
        let other = self.user_by_handle(recipient).await?.ok_or(Error::UserNotFound)?;
        if other.uuid == sender.uuid {
            return Err(Error::CannotMessageSelf);
        }
        let message =
            Message { uuid: MessageUuid::random(), group, sender: sender.clone(), text: text.clone(), created_at: at };
        let pair_key = keys::pair(sender.uuid, other.uuid);
        let conversation = ConversationItem::new((sender, 0), (&other, 1), message.text.clone(), message.key(), group);
        // Optimistic: create the pair, the conversation and the message at
        // once (one round trip for a new message group). If the pair exists,
        // the message group does too, and the message goes there instead.
        let mut items = vec![
            (NewGroupItem::Pair, self.put_new(to_item(pair_key.clone(), &PairItem { message_group_uuid: group })?)?),
            (NewGroupItem::Conversation, self.put_new(to_item(keys::conversation(group), &conversation)?)?),
            (
                NewGroupItem::Message,
                self.put_new(to_item(keys::message(group, message.key()), &MessageItem::from(&message))?)?,
            ),
        ];
        if let Some(claim) = claim {
            items.push((NewGroupItem::IdempotencyKey, claim.put(self, &message)?));
        }
        let outcome = self.run_transaction(&items).await?;
        if matches!(outcome, Outcome::Applied) || outcome.failed(NewGroupItem::Message).is_some() {
            // Applied (by an earlier attempt, if the message exists).
            return Ok(Sent { message, replayed: false });
        }
        if let (Some(claim), Some(old)) = (claim, outcome.failed(NewGroupItem::IdempotencyKey)) {
            return claim.replay(self, old.as_ref(), &message.text).await;
        }
        let Some(old) = outcome.failed(NewGroupItem::Pair) else {
            return Err(Error::internal("a new message group's conversation existed without its pair"));
        };
        let pair = self
            .as_it_was(old.as_ref(), pair_key)
            .await?
            .ok_or_else(|| Error::internal("the pair condition failed but there is no pair"))?;
        let existing = from_item::<PairItem>(pair)?.message_group_uuid;
        let (conversation, side) = self.member_conversation(sender.uuid, existing).await?;
        self.append_and_read(sender, conversation, side, text, at, claim).await
    }

    /// The conversation's update in a message's transaction: the sender is a
    /// member; the recipient counts one more unread message, and the
    /// conversation is in their unread index (setting the key again changes
    /// nothing); the summary moves to `message` unless it shows a newer one.
    fn conversation_update(
        &self,
        message: &Message,
        sender: Side,
        recipient: UserUuid,
        write: ConversationWrite,
    ) -> Result<TransactWriteItem> {
        let recipient_side = sender.other();
        let (unread, listed) = (recipient_side.unread_attribute(), recipient_side.unread_key_attribute());
        let mut condition = format!("{} = :sender", sender.uuid_attribute());
        let mut update = Update::builder()
            .table_name(self.table())
            .set_key(Some(keys::conversation(message.group).into_map()))
            .expression_attribute_values(":sender", AttributeValue::S(message.sender.uuid.to_string()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":listed", AttributeValue::S(keys::unread_of(recipient)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let expression = if write.summarize {
            condition.push_str(" AND activity < :activity");
            update = update
                .expression_attribute_values(":text", AttributeValue::S(message.text.to_string()))
                .expression_attribute_values(":at", AttributeValue::S(message.created_at.to_string()))
                .expression_attribute_values(":activity", AttributeValue::S(message.key().to_string()));
            format!(
                "SET last_message = :text, last_message_at = :at, activity = :activity, {listed} = :listed \
                 ADD {unread} :one"
            )
        } else {
            format!("SET {listed} = :listed ADD {unread} :one")
        };
        let update = update.update_expression(expression).condition_expression(condition).build().map_err(build_err)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}
