//! Sending: a reply, the start of a message group, the Idempotency-Key's
//! claim, and the conversation's update (membership, summary, count).

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use sha2::{Digest, Sha256};

use super::items::{from_item, to_item, ConversationItem, IdempotencyItem, MessageItem, PairItem, Side};
use super::{keys, sdk_error, Outcome, ReadMark, Store, MAX_TRANSACTION_ATTEMPTS};
use crate::domain::{
    Content, GroupUuid, Handle, IdempotencyKey, Message, MessageText, MessageUuid, NewMessage, Recipient, Timestamp,
    UserSummary, UserUuid, IDEMPOTENCY_KEY_LIFETIME_SECS,
};
use crate::error::{Error, Result};

/// The items of a message's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MessageTxItem {
    Message,
    Conversation,
}

/// The items of a new message group's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NewGroupItem {
    Pair,
    Conversation,
    Message,
}

/// What a send did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub message: Message,
    /// An earlier request with the same Idempotency-Key stored `message`;
    /// this one wrote nothing.
    pub replayed: bool,
    /// The sender's read marker, when sending moved it (they had unread
    /// messages in the group).
    pub read: Option<super::ReadMark>,
}

/// Who a message is before it is stored: its uuid, its time, and the uuid
/// of the message group it starts if it starts one. A fresh one for every
/// request; the recorded one for a request whose Idempotency-Key is claimed,
/// so that every request with the key sends the very same message (its key
/// `MSG#<group>` / `<time>#<uuid>` exists once: the transaction's condition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    uuid: MessageUuid,
    at: Timestamp,
    new_group: GroupUuid,
}

impl Identity {
    fn fresh(at: Timestamp) -> Self {
        Identity { uuid: MessageUuid::for_time(at), at, new_group: GroupUuid::random() }
    }

    /// The message of this identity: `sender`'s `text` in `group`.
    fn message(&self, group: GroupUuid, sender: &UserSummary, text: &MessageText) -> Message {
        Message {
            uuid: self.uuid,
            group,
            sender: sender.clone(),
            content: Content::Text(text.clone()),
            created_at: self.at,
            edited_at: None,
        }
    }
}

/// Whether a message's transaction stored it, or found it stored (by an
/// earlier attempt, or another request with the same Idempotency-Key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    Now,
    Before,
}

/// A send's Idempotency-Key: claimed by a conditional PutItem before the
/// message's transaction (1 write unit, where a record in the transaction
/// costs 2), with the identity the message gets. A request that finds the
/// key claimed sends the recorded identity: the message is then stored once
/// whichever request gets there first, and a claim whose send never
/// happened (a crash between the two) is completed by the retry.
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

    /// Claims the key for `fresh`, where no live record of it exists (one
    /// past its lifetime that TTL has not removed yet counts as absent).
    /// The identity to send: `fresh` when this request claimed it, the
    /// recorded one when an earlier request had; `IdempotencyKeyReused`
    /// when that one asked for something else.
    async fn claim(&self, store: &Store, fresh: Identity) -> Result<Identity> {
        let record = IdempotencyItem {
            fingerprint: self.fingerprint.clone(),
            message_uuid: fresh.uuid,
            message_group_uuid: fresh.new_group,
            created_at: fresh.at,
            expires_at: self.now.unix_seconds() + IDEMPOTENCY_KEY_LIFETIME_SECS,
        };
        let put = store
            .client
            .put_item()
            .table_name(store.table())
            .set_item(Some(to_item(self.key.clone(), &record)?))
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
            .expression_attribute_values(":now", AttributeValue::N(self.now.unix_seconds().to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .set_return_consumed_capacity(super::meter::mode(store.meter.as_deref()))
            .send()
            .await;
        let old = match put {
            Ok(out) => {
                store.record(out.consumed_capacity.as_ref());
                return Ok(fresh);
            }
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    failed.item.clone().filter(|i| !i.is_empty())
                }
                _ => return Err(sdk_error(e)),
            },
        };
        let item = store
            .as_it_was(old.as_ref(), self.key.clone())
            .await?
            .ok_or_else(|| Error::internal("an idempotency key's condition failed without its record"))?;
        let recorded = from_item::<IdempotencyItem>(item)?;
        if recorded.fingerprint != self.fingerprint {
            return Err(Error::IdempotencyKeyReused);
        }
        Ok(Identity { uuid: recorded.message_uuid, at: recorded.created_at, new_group: recorded.message_group_uuid })
    }
}

/// What a message's transaction does to its conversation item, which must
/// list the sender as a member either way (the membership check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ConversationWrite {
    /// Move the summary to this message (the item shows an older one), or
    /// leave it (it already shows a newer one).
    summarize: bool,
    /// Count it unread for the recipient: it is after their read marker
    /// (always, unless a message that took long to store lands behind a
    /// marker that has moved past it: it is then read already). So a count
    /// is always the other member's live messages after the marker, which
    /// is what a delete takes one off.
    counts: bool,
}

impl ConversationWrite {
    /// The write a message needs, from the conversation as last seen.
    fn plan(conversation: &ConversationItem, message: &Message, recipient: Side) -> Self {
        let key = message.key();
        let summarize = conversation.activity < key;
        let counts = summarize || conversation.read(recipient).is_none_or(|read| read < key);
        ConversationWrite { summarize, counts }
    }
}

impl Store {
    /// Sends `new` as `sender`: a reply or the start of a message group.
    /// With an Idempotency-Key, the key is claimed first (its record names
    /// the message's identity); a request whose key is already claimed
    /// sends the recorded message again, which the transaction's condition
    /// stores at most once, and gets it back (`replayed` when it was stored
    /// before), or `IdempotencyKeyReused` if it asks for something else.
    pub async fn send(
        &self,
        sender: &UserSummary,
        new: NewMessage,
        at: Timestamp,
        key: Option<&IdempotencyKey>,
    ) -> Result<Sent> {
        let mut identity = Identity::fresh(at);
        if let Some(key) = key {
            identity = KeyClaim::new(sender, key, &new, at).claim(self, identity).await?;
        }
        let (message, stored, read) = match new.recipient {
            Recipient::Group(group) => self.reply(sender, group, new.text, identity).await?,
            Recipient::Handle(handle) => self.start(sender, &handle, new.text, identity).await?,
        };
        Ok(Sent { message, replayed: key.is_some() && stored == Stored::Before, read })
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
        Ok(self.reply(sender, group, text, Identity::fresh(at)).await?.0)
    }

    /// [`Store::send_reply`] of a message with a given uuid and time (the
    /// sample events' fixture names its messages): `false` when that message
    /// was stored before.
    pub async fn send_reply_as(
        &self,
        sender: &UserSummary,
        group: GroupUuid,
        text: MessageText,
        uuid: MessageUuid,
        at: Timestamp,
    ) -> Result<bool> {
        let identity = Identity { uuid, at, new_group: GroupUuid::random() };
        Ok(self.reply(sender, group, text, identity).await?.1 == Stored::Now)
    }

    async fn reply(
        &self,
        sender: &UserSummary,
        group: GroupUuid,
        text: MessageText,
        identity: Identity,
    ) -> Result<(Message, Stored, Option<ReadMark>)> {
        let (conversation, side) = self.member_conversation(sender.uuid, group).await?;
        self.append_and_read(sender, conversation, side, text, identity).await
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
            Content::Text(text.clone()),
            crate::domain::MessageKey { at, uuid: MessageUuid::random() },
            group,
        );
        let side = assumed.side_of(sender.uuid).ok_or_else(|| Error::internal("the sender is not in its own item"))?;
        Ok(self.append(sender, assumed, side, text, Identity::fresh(at)).await?.0)
    }

    /// [`Store::append`], then the sender's side marked read (from the count
    /// the conversation showed them) when this request stored the message.
    async fn append_and_read(
        &self,
        sender: &UserSummary,
        conversation: ConversationItem,
        side: Side,
        text: MessageText,
        identity: Identity,
    ) -> Result<(Message, Stored, Option<ReadMark>)> {
        let before = conversation.clone();
        let (message, stored) = self.append(sender, conversation, side, text, identity).await?;
        let mut read = None;
        if stored == Stored::Now {
            read = self.read_by_sender(&before, side).await;
        }
        Ok((message, stored, read))
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
        identity: Identity,
    ) -> Result<(Message, Stored)> {
        let group = conversation.message_group_uuid;
        let recipient = conversation.member(sender_side.other()).uuid;
        let message = identity.message(group, sender, &text);
        let put_message = self.put_new(to_item(keys::message(group, message.key()), &MessageItem::from(&message))?)?;

        // Each round re-plans from the conversation as the failed condition
        // returned it (a newer message); conflicts are retried inside the
        // runner.
        for _ in 1..=MAX_TRANSACTION_ATTEMPTS {
            // A block either way: refused (the condition below makes a block
            // that lands meanwhile refuse it too).
            if let Some(refusal) = conversation.refusal_for(sender_side) {
                return Err(refusal);
            }
            let write = ConversationWrite::plan(&conversation, &message, sender_side.other());
            let items = [
                (MessageTxItem::Message, put_message.clone()),
                (
                    MessageTxItem::Conversation,
                    self.conversation_update(&message, &text, sender_side, recipient, write)?,
                ),
            ];
            let outcome = self.run_transaction(&items).await?;
            if matches!(outcome, Outcome::Applied) {
                return Ok((message, Stored::Now));
            }
            // The message's key is its own (a fresh uuid, or its
            // Idempotency-Key's): if it exists, it is this very message.
            if outcome.failed(MessageTxItem::Message).is_some() {
                return Ok((message, Stored::Before));
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
        Ok(self.start(sender, recipient, text, Identity::fresh(at)).await?.0)
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
        let identity = Identity { new_group: group, ..Identity::fresh(at) };
        Ok(self.start(sender, recipient, text, identity).await?.0)
    }

    /// [`Store::start_message_group_in`] with the first message's uuid and
    /// time given (the sample events' fixture names its messages).
    pub async fn start_message_group_as(
        &self,
        group: GroupUuid,
        uuid: MessageUuid,
        sender: &UserSummary,
        recipient: &Handle,
        text: MessageText,
        at: Timestamp,
    ) -> Result<Message> {
        Ok(self.start(sender, recipient, text, Identity { uuid, at, new_group: group }).await?.0)
    }

    async fn start(
        &self,
        sender: &UserSummary,
        recipient: &Handle,
        text: MessageText,
        identity: Identity,
    ) -> Result<(Message, Stored, Option<ReadMark>)> {
        if recipient.same_as(&sender.handle) {
            return Err(Error::CannotMessageSelf);
        }
        let other = match self.user_by_handle(recipient).await? {
            Some(other) => other,
            // The handle of an account deleted lately: the answer a block gets.
            None if self.handle_held(recipient, identity.at).await? => return Err(Error::RecipientUnavailable),
            None => return Err(Error::UserNotFound),
        };
        if other.uuid == sender.uuid {
            return Err(Error::CannotMessageSelf);
        }
        let group = identity.new_group;
        let message = identity.message(group, sender, &text);
        let pair_key = keys::pair(sender.uuid, other.uuid);
        let conversation =
            ConversationItem::new((sender, 0), (&other, 1), message.content.clone(), message.key(), group);
        // Optimistic: create the pair, the conversation and the message at
        // once (one round trip for a new message group). If the pair exists,
        // the message group does too, and the message goes there instead.
        // The pair names no group yet and no block stands: a block made
        // meanwhile refuses the start, as one made before does.
        let pair_write = super::write_or_check(
            self,
            pair_key.clone(),
            "SET message_group_uuid = :group",
            format!(
                "attribute_not_exists(message_group_uuid) AND attribute_not_exists({}) AND attribute_not_exists({})",
                Side::A.blocked_attribute(),
                Side::B.blocked_attribute()
            ),
            vec![(":group", AttributeValue::S(group.to_string()))],
        )?;
        let items = [
            (NewGroupItem::Pair, pair_write),
            (NewGroupItem::Conversation, self.put_new(to_item(keys::conversation(group), &conversation)?)?),
            (
                NewGroupItem::Message,
                self.put_new(to_item(keys::message(group, message.key()), &MessageItem::from(&message))?)?,
            ),
        ];
        let outcome = self.run_transaction(&items).await?;
        if matches!(outcome, Outcome::Applied) {
            return Ok((message, Stored::Now, None));
        }
        if outcome.failed(NewGroupItem::Message).is_some() {
            return Ok((message, Stored::Before, None));
        }
        let Some(old) = outcome.failed(NewGroupItem::Pair) else {
            return Err(Error::internal("a new message group's conversation existed without its pair"));
        };
        let pair = self
            .as_it_was(old.as_ref(), pair_key)
            .await?
            .ok_or_else(|| Error::internal("the pair condition failed but there is no pair"))?;
        let pair = from_item::<PairItem>(pair)?;
        let side = Side::of_pair(sender.uuid, other.uuid);
        if pair.blocked(side).is_some() {
            return Err(Error::UnblockToSend);
        }
        if pair.blocked(side.other()).is_some() {
            return Err(Error::RecipientUnavailable);
        }
        let existing = pair
            .message_group_uuid
            .ok_or_else(|| Error::internal("a pair's condition failed with neither a group nor a block"))?;
        let (conversation, side) = self.member_conversation(sender.uuid, existing).await?;
        self.append_and_read(sender, conversation, side, text, identity).await
    }

    /// The conversation's part in a message's transaction: the sender is a
    /// member; the summary moves to `message` unless it shows a newer one;
    /// the recipient counts one more unread message unless their read marker
    /// is past it, and the conversation is then in their unread index
    /// (setting the key again changes nothing). Each choice is a condition,
    /// so a conversation that changed since it was read fails it and the
    /// write is planned again.
    fn conversation_update(
        &self,
        message: &Message,
        text: &MessageText,
        sender: Side,
        recipient: UserUuid,
        write: ConversationWrite,
    ) -> Result<TransactWriteItem> {
        let recipient_side = sender.other();
        let (unread, listed, read) =
            (recipient_side.unread_attribute(), recipient_side.unread_key_attribute(), recipient_side.read_attribute());
        let mut condition = format!("{} = :sender AND {}", sender.uuid_attribute(), ConversationItem::open_condition());
        let mut values = vec![
            (":sender", AttributeValue::S(message.sender.uuid.to_string())),
            (":activity", AttributeValue::S(message.key().to_string())),
        ];
        let mut set = Vec::new();
        if write.summarize {
            condition.push_str(" AND activity < :activity");
            set.push("last_message = :text, last_message_at = :at, activity = :activity".to_owned());
            values.push((":text", AttributeValue::S(text.to_string())));
            values.push((":at", AttributeValue::S(message.created_at.to_string())));
        } else if write.counts {
            condition.push_str(&format!(" AND (attribute_not_exists({read}) OR {read} < :activity)"));
        } else {
            condition.push_str(&format!(" AND {read} >= :activity"));
        }
        let mut expression = String::new();
        if write.counts {
            set.push(format!("{listed} = :listed"));
            values.push((":listed", AttributeValue::S(keys::unread_of(recipient))));
            values.push((":one", AttributeValue::N("1".into())));
        }
        if !set.is_empty() {
            expression = format!("SET {} ", set.join(", "));
        }
        if write.counts {
            expression.push_str(&format!("ADD {unread} :one"));
        }
        // Nothing to change for a late message behind the marker: the
        // membership and the marker are checked all the same.
        super::write_or_check(self, keys::conversation(message.group), &expression, condition, values)
    }
}
