//! Reading message groups and their messages: a member's list, one
//! group's row, a page of messages (membership checked by the database).

use aws_sdk_dynamodb::types::AttributeValue;

use super::items::{from_item, ConversationItem, Item, MessageItem, Side};
use super::{keys, sdk_error, Store, LIST_A_INDEX, LIST_B_INDEX};
use crate::domain::{
    Cursor, GroupUuid, Message, MessageGroup, MessageKey, Page, PageLimit, PageRequest, UserSummary, UserUuid,
};
use crate::error::{Error, Result};

impl Store {
    /// `owner`'s view of a group; `None` unless `owner` is a member.
    pub async fn message_group(&self, owner: UserUuid, group: GroupUuid) -> Result<Option<MessageGroup>> {
        Ok(self.conversation(group).await?.and_then(|c| c.view(owner)))
    }

    /// [`Store::message_group`], with the other member's unread count in it
    /// (read from the same item: what a message's delivery tells them).
    pub async fn message_group_and_other_unread(
        &self,
        owner: UserUuid,
        group: GroupUuid,
    ) -> Result<Option<(MessageGroup, Option<u32>)>> {
        let Some(conversation) = self.conversation(group).await? else { return Ok(None) };
        let blocked = conversation.blocked();
        let other = conversation.side_of(owner).map(|side| conversation.unread(side.other()));
        Ok(conversation.view(owner).zip(other).map(|(view, unread)| (view, (!blocked).then_some(unread))))
    }

    /// `member` and the other member of `group` (`None` while a block
    /// stands between them: nothing of one reaches the other); `None` unless
    /// `member` is one (or there is no such group).
    pub async fn members_of(
        &self,
        member: UserUuid,
        group: GroupUuid,
    ) -> Result<Option<(UserSummary, Option<UserUuid>)>> {
        let Some(conversation) = self.conversation(group).await? else { return Ok(None) };
        let blocked = conversation.blocked();
        Ok(conversation
            .side_of(member)
            .map(|side| (conversation.member(side), (!blocked).then(|| conversation.member(side.other()).uuid))))
    }

    /// A message group's conversation item (strongly consistent).
    pub(super) async fn conversation(&self, group: GroupUuid) -> Result<Option<ConversationItem>> {
        self.get(keys::conversation(group)).await?.map(from_item::<ConversationItem>).transpose()
    }

    /// The conversation `member` reads or writes in, and their side in it:
    /// `GroupNotFound` when there is none, `NotMember` when it is someone
    /// else's.
    pub(super) async fn member_conversation(
        &self,
        member: UserUuid,
        group: GroupUuid,
    ) -> Result<(ConversationItem, Side)> {
        let conversation = self.conversation(group).await?.ok_or(Error::GroupNotFound)?;
        let side = conversation.side_of(member).ok_or(Error::NotMember)?;
        Ok((conversation, side))
    }

    /// A user's message groups, most recent activity first, one page at a
    /// time, with no year or date filter. The user's entries are spread over
    /// both list indexes (their side in each conversation) and
    /// [`keys::SHARDS`] partitions of each: one Query of `limit + 1` entries
    /// on each, at once, merged. Whatever the history's size, a page costs
    /// the same. The indexes are global, so eventually consistent: a group
    /// moves up a moment after its message (design.md says why).
    pub async fn list_message_groups(&self, owner: UserUuid, page: PageRequest) -> Result<Page<MessageGroup>> {
        let before = match page.cursor {
            None => None,
            Some(Cursor::MessageGroups { owner: o, activity, .. }) if o == owner => Some(activity),
            Some(_) => return Err(Error::InvalidCursor),
        };
        let queries = (0..keys::SHARDS).flat_map(|shard| {
            [LIST_A_INDEX, LIST_B_INDEX]
                .map(|index| self.query_list(index, keys::list_of(owner, shard), before, page.limit))
        });
        let mut groups = Vec::new();
        for items in futures_util::future::try_join_all(queries).await? {
            for item in items {
                let conversation = from_item::<ConversationItem>(item)?;
                groups.extend(conversation.view(owner));
            }
        }
        groups.sort_by_key(|g| std::cmp::Reverse(g.last_activity));
        let more = groups.len() > usize::from(page.limit.get());
        groups.truncate(usize::from(page.limit.get()));
        let next = match groups.last() {
            Some(last) if more => Some(Cursor::MessageGroups { owner, activity: last.last_activity, group: last.uuid }),
            _ => None,
        };
        Ok(Page { items: groups, next })
    }

    /// Up to `limit + 1` entries of one list-index partition, newest first,
    /// older than `before`.
    async fn query_list(
        &self,
        index: super::GlobalIndex,
        partition: String,
        before: Option<MessageKey>,
        limit: PageLimit,
    ) -> Result<Vec<Item>> {
        let mut condition = format!("{} = :pk", index.partition_key);
        let mut query = self
            .client
            .query()
            .table_name(self.table())
            .index_name(index.name)
            .expression_attribute_values(":pk", AttributeValue::S(partition));
        if let Some(before) = before {
            condition.push_str(&format!(" AND {} < :before", index.sort_key));
            query = query.expression_attribute_values(":before", AttributeValue::S(before.to_string()));
        }
        let out = query
            .key_condition_expression(condition)
            .scan_index_forward(false)
            .limit(i32::from(limit.get()) + 1)
            .set_return_consumed_capacity(super::meter::mode(self.meter.as_deref()))
            .send()
            .await
            .map_err(sdk_error)?;
        self.record(out.consumed_capacity.as_ref());
        Ok(out.items.unwrap_or_default())
    }

    /// The latest messages of a message group, oldest first within the page;
    /// the cursor leads to older messages. Only a member may read it:
    /// `NotMember` (the group exists) or `GroupNotFound`.
    pub async fn list_messages(&self, reader: UserUuid, group: GroupUuid, page: PageRequest) -> Result<Page<Message>> {
        Ok(self.read_messages(reader, group, page).await?.0)
    }

    /// [`Store::list_messages`], and the reader's new read marker when the
    /// page moved it (what the other member's `read` event says).
    pub async fn read_messages(
        &self,
        reader: UserUuid,
        group: GroupUuid,
        page: PageRequest,
    ) -> Result<(Page<Message>, Option<super::ReadMark>)> {
        // Both reads at once: one round trip of latency. Nothing read is
        // returned unless the membership check passes.
        let newest = page.cursor.is_none();
        let (membership, messages) =
            tokio::join!(self.member_conversation(reader, group), self.group_messages(group, page));
        let (membership, side) = membership?;
        let messages = messages?;
        let unread = membership.unread(side);
        let mut mark = None;
        // The newest page shown: what it showed is read (a write only when
        // something was unread). The page is the answer: a mark that fails
        // is logged and left for the next read, never the read's failure.
        if newest && unread > 0 {
            let shown = messages.items.last().map(Message::key);
            if let Some(shown) = shown {
                match self.mark_read_from(&membership, side, Some(shown)).await {
                    Ok(read) => mark = read,
                    Err(e) => tracing::warn!(error = %e.chain(), "cannot mark the page read; left for the next read"),
                }
            }
        }
        Ok((messages, mark))
    }

    /// An item as a failed condition returned it (ALL_OLD), or read again if
    /// the server did not return it; `None` if it does not exist.
    pub(super) async fn as_it_was(&self, old: Option<&Item>, key: keys::Key) -> Result<Option<Item>> {
        match old {
            Some(item) => Ok(Some(item.clone())),
            None => self.get(key).await,
        }
    }

    /// A conversation as a failed condition returned it; `None` if it does not exist.
    pub(super) async fn conversation_as_it_was(
        &self,
        old: &Option<Item>,
        group: GroupUuid,
    ) -> Result<Option<ConversationItem>> {
        self.as_it_was(old.as_ref(), keys::conversation(group)).await?.map(from_item::<ConversationItem>).transpose()
    }

    /// A message group's messages without a membership check: for operators,
    /// and for [`Store::list_messages`] after its check.
    pub async fn group_messages(&self, group: GroupUuid, page: PageRequest) -> Result<Page<Message>> {
        let start = match page.cursor {
            None => None,
            Some(Cursor::Messages { group: g, before }) if g == group => Some(keys::message(group, before).into_map()),
            Some(_) => return Err(Error::InvalidCursor),
        };
        let (items, more) = self.query_partition(keys::messages_of(group), start, page.limit, false).await?;
        let mut messages: Vec<Message> = items
            .into_iter()
            .map(|i| from_item::<MessageItem>(i).and_then(Message::try_from))
            .collect::<Result<_>>()?;
        let next = match messages.last() {
            Some(oldest) if more => Some(Cursor::Messages { group, before: oldest.key() }),
            _ => None,
        };
        messages.reverse();
        Ok(Page { items: messages, next })
    }

    /// Up to `limit` items of one partition after `start`, oldest (lowest
    /// sort key) first when `forward`, else newest first; and whether more
    /// follow. Reads one item beyond the page to know, so a list that ends
    /// exactly at a page boundary gets no cursor.
    pub(super) async fn query_partition(
        &self,
        partition: String,
        start: Option<Item>,
        limit: PageLimit,
        forward: bool,
    ) -> Result<(Vec<Item>, bool)> {
        let page = usize::from(limit.get());
        let out = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(partition))
            .scan_index_forward(forward)
            .consistent_read(true)
            .limit(i32::from(limit.get()) + 1)
            .set_exclusive_start_key(start)
            .set_return_consumed_capacity(super::meter::mode(self.meter.as_deref()))
            .send()
            .await
            .map_err(sdk_error)?;
        self.record(out.consumed_capacity.as_ref());
        let mut items = out.items.unwrap_or_default();
        let more = items.len() > page;
        items.truncate(page);
        Ok((items, more))
    }
}
