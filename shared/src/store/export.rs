//! A user's export: their profile, message groups and every message they
//! sent or received, a bounded page at a time. The groups come from the
//! member indexes (a fixed order: a conversation's key), so a page's
//! cursor stays valid while messages arrive; each group's messages are
//! read oldest first after the cursor's.

use aws_sdk_dynamodb::types::AttributeValue;

use super::items::{from_item, MessageItem, Side};
use super::{keys, sdk_error, GlobalIndex, Store, MEMBER_A_INDEX, MEMBER_B_INDEX};
use crate::domain::{Cursor, ExportPage, GroupUuid, Message, MessageKey, PageLimit, PageRequest, UserUuid};
use crate::error::{Error, Result};

/// Where an export is: in the member index of `side`, in `group` (none:
/// before the first), after the message `after` (none: before the first).
struct Position {
    side: Side,
    group: Option<GroupUuid>,
    after: Option<MessageKey>,
}

fn member_index(side: Side) -> GlobalIndex {
    match side {
        Side::A => MEMBER_A_INDEX,
        Side::B => MEMBER_B_INDEX,
    }
}

impl Store {
    /// One page of `owner`'s export: at most `page.limit` messages, and the
    /// message groups they are in as each is entered (the profile on the
    /// first page). Only groups `owner` is a member of: a cursor naming
    /// another is refused (`InvalidCursor`).
    pub async fn export(&self, owner: UserUuid, page: PageRequest) -> Result<ExportPage> {
        let mut at = match page.cursor {
            None => Position { side: Side::A, group: None, after: None },
            Some(Cursor::Export { owner: o, b, group, after }) if o == owner => {
                Position { side: if b { Side::B } else { Side::A }, group, after }
            }
            Some(_) => return Err(Error::InvalidCursor),
        };
        let profile = match page.cursor {
            None => Some(self.profile(owner).await?.ok_or(Error::UserNotFound)?),
            Some(_) => None,
        };
        if let Some(group) = at.group {
            // A forged cursor names a group of someone else's: refused.
            let member = self.conversation(group).await?.is_some_and(|c| c.side_of(owner) == Some(at.side));
            if !member {
                return Err(Error::InvalidCursor);
            }
        }
        let mut left = usize::from(page.limit.get());
        let (mut groups, mut messages) = (Vec::new(), Vec::new());
        loop {
            if let Some(group) = at.group {
                let (found, more) = self.messages_after(group, at.after, left).await?;
                left -= found.len();
                at.after = found.last().map(Message::key).or(at.after);
                messages.extend(found);
                if more || left == 0 {
                    let next = Cursor::Export { owner, b: at.side == Side::B, group: Some(group), after: at.after };
                    return Ok(ExportPage { profile, groups, messages, next: Some(next) });
                }
            }
            match self.next_member_group(owner, at.side, at.group).await? {
                Some(group) => {
                    let conversation = self.conversation(group).await?;
                    groups.extend(conversation.and_then(|c| c.view(owner)));
                    at = Position { group: Some(group), after: None, ..at };
                }
                None if at.side == Side::A => at = Position { side: Side::B, group: None, after: None },
                None => return Ok(ExportPage { profile, groups, messages, next: None }),
            }
        }
    }

    /// Up to `limit` (1 or more) messages of `group` after `after`, oldest
    /// first, and whether more follow.
    async fn messages_after(
        &self,
        group: GroupUuid,
        after: Option<MessageKey>,
        limit: usize,
    ) -> Result<(Vec<Message>, bool)> {
        let limit = PageLimit::new(u8::try_from(limit).unwrap_or(u8::MAX))
            .map_err(|_| Error::internal("an export page of no messages"))?;
        let start = after.map(|key| keys::message(group, key).into_map());
        let (items, more) = self.query_partition(keys::messages_of(group), start, limit, true).await?;
        let messages = items
            .into_iter()
            .map(|i| from_item::<MessageItem>(i).and_then(Message::try_from))
            .collect::<Result<_>>()?;
        Ok((messages, more))
    }

    /// Every message group of `owner`'s as member `side` (the member index,
    /// page by page; keys only).
    pub(super) async fn member_groups(&self, owner: UserUuid, side: Side) -> Result<Vec<GroupUuid>> {
        let items = self.whole_partition(Some(member_index(side)), owner.to_string()).await?;
        Ok(items
            .iter()
            .filter_map(|i| i.get("pk")?.as_s().ok().and_then(|pk| keys::group_of_conversation(pk)))
            .collect())
    }

    /// The message group after `after` (none: the first) among `owner`'s
    /// conversations as member `side`: one keys-only entry of the member index.
    async fn next_member_group(
        &self,
        owner: UserUuid,
        side: Side,
        after: Option<GroupUuid>,
    ) -> Result<Option<GroupUuid>> {
        let index = member_index(side);
        let mut condition = format!("{} = :owner", index.partition_key);
        let mut query = self
            .client
            .query()
            .table_name(self.table())
            .index_name(index.name)
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_string()));
        if let Some(after) = after {
            condition.push_str(&format!(" AND {} > :after", index.sort_key));
            query = query.expression_attribute_values(":after", AttributeValue::S(keys::conversation(after).pk));
        }
        let out = query
            .key_condition_expression(condition)
            .limit(1)
            .set_return_consumed_capacity(super::meter::mode(self.meter.as_deref()))
            .send()
            .await
            .map_err(sdk_error)?;
        self.record(out.consumed_capacity.as_ref());
        let pk = out.items.unwrap_or_default().into_iter().next().and_then(|mut i| i.remove("pk"));
        Ok(pk.and_then(|pk| pk.as_s().ok().and_then(|pk| keys::group_of_conversation(pk))))
    }
}
