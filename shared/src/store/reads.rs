//! Reading message groups and their messages: a member's list, one
//! group's row, a page of messages (membership checked by the database).

use aws_sdk_dynamodb::types::AttributeValue;

use super::items::{from_item, GroupRowItem, Item, MessageItem};
use super::{keys, sdk_error, Store, ACTIVITY_INDEX};
use crate::domain::{Cursor, GroupUuid, Message, MessageGroup, Page, PageLimit, PageRequest, UserUuid};
use crate::error::{Error, Result};

impl Store {
    /// `owner`'s view of a group, which exists exactly when `owner` is a member.
    pub async fn message_group(&self, owner: UserUuid, group: GroupUuid) -> Result<Option<MessageGroup>> {
        let item = self.get(keys::group_row(owner, group)).await?;
        item.map(|i| from_item::<GroupRowItem>(i).map(MessageGroup::from)).transpose()
    }

    /// A user's message groups, most recent activity first, one page at a time.
    /// One Query on the user's partition (activity index), whatever the
    /// history's size, with no year or date filter.
    pub async fn list_message_groups(&self, owner: UserUuid, page: PageRequest) -> Result<Page<MessageGroup>> {
        let start = match page.cursor {
            None => None,
            Some(Cursor::MessageGroups { owner: o, activity, group }) if o == owner => {
                let mut key = keys::group_row(owner, group).into_map();
                key.insert(ACTIVITY_INDEX.sort_key.to_owned(), AttributeValue::S(activity.to_string()));
                Some(key)
            }
            Some(_) => return Err(Error::InvalidCursor),
        };
        let (items, more) =
            self.query_newest_first(Some(ACTIVITY_INDEX.name), keys::groups_of(owner), start, page.limit).await?;
        let groups: Vec<MessageGroup> =
            items.into_iter().map(|i| from_item::<GroupRowItem>(i).map(MessageGroup::from)).collect::<Result<_>>()?;
        let next = match groups.last() {
            Some(last) if more => Some(Cursor::MessageGroups { owner, activity: last.last_activity, group: last.uuid }),
            _ => None,
        };
        Ok(Page { items: groups, next })
    }

    /// The latest messages of a message group, oldest first within the page;
    /// the cursor leads to older messages. Only a member may read it:
    /// `NotMember` (the group exists) or `GroupNotFound`.
    pub async fn list_messages(&self, reader: UserUuid, group: GroupUuid, page: PageRequest) -> Result<Page<Message>> {
        // Both reads at once: one round trip of latency. Nothing read is
        // returned unless the membership check passes.
        let newest = page.cursor.is_none();
        let (membership, messages) = tokio::join!(self.message_group(reader, group), self.group_messages(group, page));
        let Some(membership) = membership? else {
            return Err(self.absent_group_error(group).await?);
        };
        let messages = messages?;
        // The newest page shown: what it showed is read (a write only when
        // something was unread). The page is the answer: a mark that fails
        // is logged and left for the next read, never the read's failure.
        if newest && membership.unread > 0 {
            let shown = messages.items.last().map(Message::key);
            if let Some(shown) = shown {
                if let Err(e) = self.mark_read_from(reader, group, membership.unread, Some(shown)).await {
                    tracing::warn!(error = %e.chain(), "cannot mark the page read; left for the next read");
                }
            }
        }
        Ok(messages)
    }

    /// An item as a failed condition returned it (ALL_OLD), or read again if
    /// the server did not return it; `None` if it does not exist.
    pub(super) async fn as_it_was(&self, old: Option<&Item>, key: keys::Key) -> Result<Option<Item>> {
        match old {
            Some(item) => Ok(Some(item.clone())),
            None => self.get(key).await,
        }
    }

    /// A group row as a failed condition returned it; `None` if it does not exist.
    pub(super) async fn row_as_it_was(&self, old: &Option<Item>, key: keys::Key) -> Result<Option<GroupRowItem>> {
        self.as_it_was(old.as_ref(), key).await?.map(from_item::<GroupRowItem>).transpose()
    }

    /// A message group's messages without a membership check: for operators,
    /// and for [`Store::list_messages`] after its check.
    pub async fn group_messages(&self, group: GroupUuid, page: PageRequest) -> Result<Page<Message>> {
        let start = match page.cursor {
            None => None,
            Some(Cursor::Messages { group: g, before }) if g == group => Some(keys::message(group, before).into_map()),
            Some(_) => return Err(Error::InvalidCursor),
        };
        let (items, more) = self.query_newest_first(None, keys::messages_of(group), start, page.limit).await?;
        let mut messages: Vec<Message> =
            items.into_iter().map(|i| from_item::<MessageItem>(i).map(Message::from)).collect::<Result<_>>()?;
        let next = match messages.last() {
            Some(oldest) if more => Some(Cursor::Messages { group, before: oldest.key() }),
            _ => None,
        };
        messages.reverse();
        Ok(Page { items: messages, next })
    }

    /// Why a caller has no row for `group`: it exists without them
    /// (`NotMember`) or not at all (`GroupNotFound`). Every group has at
    /// least one message, so one item of its partition decides.
    pub(super) async fn absent_group_error(&self, group: GroupUuid) -> Result<Error> {
        let out = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(keys::messages_of(group)))
            .projection_expression("pk")
            .limit(1)
            .set_return_consumed_capacity(super::meter::mode(self.meter.as_deref()))
            .send()
            .await
            .map_err(sdk_error)?;
        self.record(out.consumed_capacity.as_ref());
        Ok(if out.count > 0 { Error::NotMember } else { Error::GroupNotFound })
    }

    /// Up to `limit` items of one partition, newest (highest sort key) first,
    /// after `start`; and whether more follow. Reads one item beyond the page
    /// to know, so a list that ends exactly at a page boundary gets no cursor.
    pub(super) async fn query_newest_first(
        &self,
        index: Option<&str>,
        partition: String,
        start: Option<Item>,
        limit: PageLimit,
    ) -> Result<(Vec<Item>, bool)> {
        let page = usize::from(limit.get());
        let out = self
            .client
            .query()
            .table_name(self.table())
            .set_index_name(index.map(str::to_owned))
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(partition))
            .scan_index_forward(false)
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
