//! Blocking: a user stops another from writing to them. A block is one
//! transaction of three items: the blocker's list entry, the pair item (the
//! start of a message group checks it) and, when the pair has a group, its
//! conversation item (every message's transaction already conditions on
//! that item, so a block costs a send nothing).

use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem};

use super::items::{from_item, to_item, BlockItem, PairItem, Side};
use super::profiles::build_err;
use super::{keys, sdk_error, write_or_check, Outcome, Store, MAX_TRANSACTION_ATTEMPTS};
use crate::domain::{BlockedUser, Cursor, Handle, Page, PageRequest, Timestamp, UserSummary, UserUuid};
use crate::error::{Error, Result};

/// The items of a block's (or an unblock's) transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockTxItem {
    Entry,
    Pair,
    Conversation,
}

impl Store {
    /// `blocker` blocks the user with `handle`: from now on neither can send
    /// in their message group or start one, and nothing of either is pushed
    /// to the other. Blocking again changes nothing. The time of the block.
    ///
    /// Errors: `UserNotFound`, `CannotBlockSelf`.
    pub async fn block(&self, blocker: &UserSummary, handle: &Handle, at: Timestamp) -> Result<Timestamp> {
        let blocked = self.block_target(blocker, handle).await?;
        let side = Side::of_pair(blocker.uuid, blocked.uuid);
        let attribute = side.blocked_attribute();
        for _ in 1..=MAX_TRANSACTION_ATTEMPTS {
            let pair = self.pair(blocker.uuid, blocked.uuid).await?;
            if let Some(since) = pair.blocked(side) {
                return Ok(since);
            }
            let entry = BlockItem { blocked_uuid: blocked.uuid, blocked_at: at };
            let mut values = Vec::new();
            // The group as read: a group started since fails the condition,
            // and the block is planned again with it.
            let mut condition = format!("attribute_not_exists({attribute}) AND ");
            match pair.message_group_uuid {
                Some(group) => {
                    condition.push_str("message_group_uuid = :group");
                    values.push((":group", AttributeValue::S(group.to_string())));
                }
                None => condition.push_str("attribute_not_exists(message_group_uuid)"),
            }
            let entry = self.put_new(to_item(keys::block(blocker.uuid, at, blocked.uuid), &entry)?)?;
            let items =
                self.block_items(entry, (blocker.uuid, blocked.uuid), &pair, side, Some(at), condition, values)?;
            match self.run_transaction(&items).await? {
                Outcome::Applied => return Ok(at),
                // The same entry: an earlier attempt of this very block.
                outcome if outcome.failed(BlockTxItem::Entry).is_some() => return Ok(at),
                // The pair changed (a group started, a concurrent block): again.
                _ => {}
            }
        }
        Err(Error::unavailable("the pair kept changing while blocking"))
    }

    /// `blocker` lifts their block of the user with `handle` (if any): both
    /// may write again, unless the other blocks too. Errors as [`Store::block`].
    pub async fn unblock(&self, blocker: &UserSummary, handle: &Handle) -> Result<()> {
        let blocked = self.block_target(blocker, handle).await?;
        self.lift_block(blocker.uuid, blocked.uuid).await
    }

    /// `blocker`'s block of `blocked` lifted, if there is one.
    pub(super) async fn lift_block(&self, blocker: UserUuid, blocked: UserUuid) -> Result<()> {
        let side = Side::of_pair(blocker, blocked);
        let attribute = side.blocked_attribute();
        for _ in 1..=MAX_TRANSACTION_ATTEMPTS {
            let pair = self.pair(blocker, blocked).await?;
            let Some(since) = pair.blocked(side) else { return Ok(()) };
            let entry = Delete::builder()
                .table_name(self.table())
                .set_key(Some(keys::block(blocker, since, blocked).into_map()))
                .build()
                .map_err(build_err)?;
            let entry = TransactWriteItem::builder().delete(entry).build();
            // While the block stood no group could start: the pair's group
            // is the one it had.
            let condition = format!("{attribute} = :since");
            let values = vec![(":since", AttributeValue::S(since.to_string()))];
            let items = self.block_items(entry, (blocker, blocked), &pair, side, None, condition, values)?;
            if matches!(self.run_transaction(&items).await?, Outcome::Applied) {
                return Ok(());
            }
        }
        Err(Error::unavailable("the pair kept changing while unblocking"))
    }

    /// The users `owner` blocks, newest block first, a page at a time (their
    /// names from their profiles; a user who has left since is not listed).
    pub async fn blocks(&self, owner: UserUuid, page: PageRequest) -> Result<Page<BlockedUser>> {
        let mut query = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(keys::blocks_of(owner)))
            .scan_index_forward(false)
            .limit(i32::from(page.limit.get()));
        match page.cursor {
            None => {}
            Some(Cursor::Blocks { owner: o, at, blocked }) if o == owner => {
                query = query.set_exclusive_start_key(Some(keys::block(owner, at, blocked).into_map()));
            }
            Some(_) => return Err(Error::InvalidCursor),
        }
        let out = query
            .set_return_consumed_capacity(super::meter::mode(self.meter.as_deref()))
            .send()
            .await
            .map_err(sdk_error)?;
        self.record(out.consumed_capacity.as_ref());
        let entries =
            out.items.unwrap_or_default().into_iter().map(from_item::<BlockItem>).collect::<Result<Vec<_>>>()?;
        let next = match (entries.last(), out.last_evaluated_key.is_some_and(|k| !k.is_empty())) {
            (Some(last), true) => Some(Cursor::Blocks { owner, at: last.blocked_at, blocked: last.blocked_uuid }),
            _ => None,
        };
        let profiles = futures_util::future::try_join_all(entries.iter().map(|e| self.profile(e.blocked_uuid))).await?;
        let items = entries
            .iter()
            .zip(profiles)
            .filter_map(|(entry, profile)| {
                let profile = profile.filter(|p| p.leaving_at.is_none())?;
                Some(BlockedUser { user: profile.summary(), blocked_at: entry.blocked_at })
            })
            .collect();
        Ok(Page { items, next })
    }

    /// A block's (`since`: its time) or an unblock's (`None`) transaction:
    /// `entry` (the list entry's write), `side`'s flag set or removed on the
    /// pair of `users` (under `condition`) and on its group's conversation.
    #[allow(clippy::too_many_arguments)]
    fn block_items(
        &self,
        entry: TransactWriteItem,
        users: (UserUuid, UserUuid),
        pair: &PairItem,
        side: Side,
        since: Option<Timestamp>,
        condition: String,
        mut values: Vec<(&'static str, AttributeValue)>,
    ) -> Result<Vec<(BlockTxItem, TransactWriteItem)>> {
        let attribute = side.blocked_attribute();
        let (expression, flag) = match since {
            Some(at) => (format!("SET {attribute} = :at"), vec![(":at", AttributeValue::S(at.to_string()))]),
            None => (format!("REMOVE {attribute}"), Vec::new()),
        };
        values.extend(flag.clone());
        let mut items = vec![
            (BlockTxItem::Entry, entry),
            (BlockTxItem::Pair, write_or_check(self, keys::pair(users.0, users.1), &expression, condition, values)?),
        ];
        if let Some(group) = pair.message_group_uuid {
            let conversation = keys::conversation(group);
            let exists = "attribute_exists(pk)".to_owned();
            items.push((BlockTxItem::Conversation, write_or_check(self, conversation, &expression, exists, flag)?));
        }
        Ok(items)
    }

    /// Who `blocker` names by `handle`: `UserNotFound`, or `CannotBlockSelf`.
    async fn block_target(&self, blocker: &UserSummary, handle: &Handle) -> Result<UserSummary> {
        if handle.same_as(&blocker.handle) {
            return Err(Error::CannotBlockSelf);
        }
        let target = self.user_by_handle(handle).await?.ok_or(Error::UserNotFound)?;
        if target.uuid == blocker.uuid {
            return Err(Error::CannotBlockSelf);
        }
        Ok(target)
    }

    /// The pair item of two users (empty when there is none yet).
    pub(super) async fn pair(&self, x: UserUuid, y: UserUuid) -> Result<PairItem> {
        Ok(self.get(keys::pair(x, y)).await?.map(from_item::<PairItem>).transpose()?.unwrap_or_default())
    }
}
