//! Unread counts: marking a message group read, and a user's totals.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};

use super::items::{from_item, UnreadItem};
use super::profiles::build_err;
use super::{keys, Store, MAX_TRANSACTION_ATTEMPTS};
use crate::domain::{GroupUuid, MessageKey, UnreadCounts, UserUuid};
use crate::error::{Error, Result};

/// The items of marking a message group read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadItem {
    Row,
    Totals,
}

impl Store {
    /// Marks `group` read for `reader`: its row's `unread` to 0 and the
    /// reader's totals down by as much, in one transaction; nothing is
    /// written when nothing is unread. `NotMember` / `GroupNotFound` as for
    /// reading it.
    pub async fn mark_read(&self, reader: UserUuid, group: GroupUuid) -> Result<()> {
        let Some(membership) = self.message_group(reader, group).await? else {
            return Err(self.absent_group_error(group).await?);
        };
        self.mark_read_from(reader, group, membership.unread, None).await
    }

    /// [`Store::mark_read`] from a row that showed `seen` unread messages; a
    /// message that arrives meanwhile fails the condition and the next round
    /// starts from the count it returned. With `shown` (the newest message a
    /// page showed), only what the reader was shown is marked: when the row
    /// has a newer message than that, nothing is marked (its unread
    /// messages stay unread until a read that shows them).
    pub(super) async fn mark_read_from(
        &self,
        reader: UserUuid,
        group: GroupUuid,
        mut seen: u32,
        shown: Option<MessageKey>,
    ) -> Result<()> {
        for _ in 1..=MAX_TRANSACTION_ATTEMPTS {
            if seen == 0 {
                return Ok(());
            }
            let row = Update::builder()
                .table_name(self.table())
                .set_key(Some(keys::group_row(reader, group).into_map()))
                .update_expression("SET unread = :zero")
                .condition_expression("attribute_exists(pk) AND unread = :seen")
                .expression_attribute_values(":zero", AttributeValue::N("0".into()))
                .expression_attribute_values(":seen", AttributeValue::N(seen.to_string()))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .build()
                .map_err(build_err)?;
            let items = [
                (ReadItem::Row, TransactWriteItem::builder().update(row).build()),
                (ReadItem::Totals, self.unread_totals(reader, group, -i64::from(seen))?),
            ];
            let outcome = self.run_transaction(&items).await?;
            let Some(old) = outcome.failed(ReadItem::Row) else { return Ok(()) };
            match self.row_as_it_was(old, keys::group_row(reader, group)).await? {
                Some(row) if shown.is_some_and(|s| s != row.last_activity) => return Ok(()),
                Some(row) => seen = row.unread,
                None => return Err(Error::NotMember),
            }
        }
        Err(Error::unavailable("new messages kept arriving while marking a message group read"))
    }

    /// `owner`'s unread messages in all their message groups, and in how many
    /// groups: one strongly consistent GetItem, whatever the number of groups.
    pub async fn unread_counts(&self, owner: UserUuid) -> Result<UnreadCounts> {
        let Some(item) = self.get(keys::unread(owner)).await? else { return Ok(UnreadCounts::default()) };
        let totals = from_item::<UnreadItem>(item)?;
        let count = u64::try_from(totals.unread_count)
            .map_err(|_| Error::internal(format!("an unread total is negative ({})", totals.unread_count)))?;
        Ok(UnreadCounts { count, conversations: totals.unread_groups.len() as u64 })
    }

    /// An update of `owner`'s unread totals by `delta` messages in `group`:
    /// up adds the group to the set of groups with unread messages (a set:
    /// adding it again changes nothing), down removes it (all of the group's
    /// unread messages were read).
    pub(super) fn unread_totals(&self, owner: UserUuid, group: GroupUuid, delta: i64) -> Result<TransactWriteItem> {
        let expression = if delta > 0 {
            "ADD unread_count :delta, unread_groups :group"
        } else {
            "ADD unread_count :delta DELETE unread_groups :group"
        };
        let update = Update::builder()
            .table_name(self.table())
            .set_key(Some(keys::unread(owner).into_map()))
            .update_expression(expression)
            .expression_attribute_values(":delta", AttributeValue::N(delta.to_string()))
            .expression_attribute_values(":group", AttributeValue::Ss(vec![group.to_string()]))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// A sender has read the message group they just wrote in: marks it
    /// read, after the message (the message's own transaction does not wait
    /// on the sender's count, which the other member's messages keep
    /// changing). `seen`: the sender's unread count as read before, if known.
    /// Never fails the send: a failure leaves row and totals as they were,
    /// still equal, until the next read.
    pub(super) async fn read_by_sender(&self, sender: UserUuid, group: GroupUuid, seen: Option<u32>) {
        let marked = match seen {
            Some(0) => Ok(()),
            Some(seen) => self.mark_read_from(sender, group, seen, None).await,
            None => self.mark_read(sender, group).await,
        };
        if let Err(e) = marked {
            tracing::warn!(error = %e.chain(), "could not mark the message group read for its sender");
        }
    }
}
