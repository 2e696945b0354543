//! `cruddur migrate`: a table of the shape before issue 26 (a group row per
//! member under `GRP#<owner>` with a local index, one `UNREAD#<owner>` item
//! with a set of groups; or the intermediate one with sharded totals
//! `UNREAD#<owner>#<shard>`) moved to today's (one `CONV#<group>` item per
//! message group, in two global list indexes and, while a member has unread
//! messages, in their unread index; no totals items). Operators only (the
//! CLI enables the `operator` feature; no function ships it).
//!
//! Idempotent and resumable: every step writes only what is missing or
//! different, so a second run (or a run after an interrupted one) changes
//! nothing that is already right. In place (`source` is this table) it adds
//! the missing global indexes and removes the old items once their
//! replacements exist; into another table it copies everything else as it is.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};

use super::items::{from_item, to_item, ConversationItem, Item, LegacyGroupRowItem, Side};
use super::keys::{self, legacy};
use super::profiles::build_err;
use super::{sdk_error, Store, MESSAGES_TABLE};
use crate::domain::GroupUuid;
use crate::error::Result;

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Global indexes added to the table (in place only).
    pub indexes_added: Vec<String>,
    pub conversations_created: u64,
    /// Conversations that a run before had already written.
    pub conversations_present: u64,
    /// Items copied as they are (into another table only).
    pub items_copied: u64,
    pub items_present: u64,
    /// Conversations whose unread-index keys were set (written before the
    /// unread indexes existed).
    pub unread_keys_written: u64,
    /// Items of the old shape removed (in place only).
    pub legacy_removed: u64,
    /// Message groups whose two rows do not name each other (one missing,
    /// or not a pair): left as they are.
    pub incomplete_groups: Vec<String>,
}

impl MigrationReport {
    /// Whether the run wrote or removed anything.
    pub fn changed_anything(&self) -> bool {
        !self.indexes_added.is_empty()
            || self.conversations_created + self.items_copied + self.unread_keys_written + self.legacy_removed > 0
    }
}

fn attr<'a>(item: &'a Item, name: &str) -> &'a str {
    item.get(name).and_then(|v| v.as_s().ok()).map_or("", String::as_str)
}

/// `UNREAD#<uuid>` / `UNREAD` and `UNREAD#<uuid>#<shard>` / `UNREAD`: totals
/// items, which today's shape does not have (the counter sums the unread
/// indexes).
fn is_legacy_totals(item: &Item) -> bool {
    attr(item, "sk") == legacy::TOTALS_SK && attr(item, "pk").starts_with(legacy::TOTALS_PREFIX)
}

fn is_legacy_row(item: &Item) -> bool {
    attr(item, "pk").starts_with(legacy::GROUP_ROW_PREFIX)
}

impl Store {
    /// Moves `source`'s items to this table in today's shape (see the
    /// module). `source` may be this very table (in place).
    pub async fn migrate_from(&self, source: &Store) -> Result<MigrationReport> {
        let mut report = MigrationReport::default();
        let in_place = source.table() == self.table();
        if in_place {
            report.indexes_added = MESSAGES_TABLE.add_missing_indexes(self.client(), self.table()).await?;
        }
        let mut rows: BTreeMap<GroupUuid, Vec<LegacyGroupRowItem>> = BTreeMap::new();
        let mut legacy_keys = Vec::new();
        for item in source.scan_items().await? {
            if is_legacy_row(&item) {
                legacy_keys.push(key_of(&item));
                let row = from_item::<LegacyGroupRowItem>(item)?;
                rows.entry(row.message_group_uuid).or_default().push(row);
            } else if is_legacy_totals(&item) {
                legacy_keys.push(key_of(&item));
            } else if !in_place {
                match self.put_if_absent(item).await? {
                    true => report.items_copied += 1,
                    false => report.items_present += 1,
                }
            }
        }
        for (group, members) in rows {
            let [x, y] = members.as_slice() else {
                report.incomplete_groups.push(group.to_string());
                continue;
            };
            if x.owner_uuid != y.other_user_uuid || y.owner_uuid != x.other_user_uuid {
                report.incomplete_groups.push(group.to_string());
                continue;
            }
            let latest = if x.last_activity >= y.last_activity { x } else { y };
            // Each row names the other member: x's owner is as y names them.
            let conversation = ConversationItem::new(
                (&named_other(y), x.unread),
                (&named_other(x), y.unread),
                crate::domain::Content::Text(latest.last_message.clone()),
                latest.last_activity,
                group,
            );
            match self.put_if_absent(to_item(keys::conversation(group), &conversation)?).await? {
                true => report.conversations_created += 1,
                false => report.conversations_present += 1,
            }
        }
        report.unread_keys_written = self.set_unread_keys().await?;
        if in_place {
            let keep = &report.incomplete_groups;
            let removable: Vec<Item> =
                legacy_keys.into_iter().filter(|k| !keep.iter().any(|g| attr(k, "sk") == g.as_str())).collect();
            report.legacy_removed = removable.len() as u64;
            self.batch_delete(removable).await?;
        }
        Ok(report)
    }

    async fn put_if_absent(&self, item: Item) -> Result<bool> {
        let put = self
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(sdk_error(e)),
        }
    }

    /// Gives every conversation the unread-index keys its counts call for
    /// (a conversation of the intermediate shape has none); writes only
    /// those that differ, each on the condition that its counts are still
    /// the ones read, so a message sent meanwhile is never lost from the
    /// counter (its own write set the key).
    async fn set_unread_keys(&self) -> Result<u64> {
        let mut written = 0;
        for item in self.scan_items().await? {
            if !attr(&item, "pk").starts_with("CONV#") {
                continue;
            }
            let c = from_item::<ConversationItem>(item)?;
            if c.unread_keys_match() {
                continue;
            }
            let mut set = Vec::new();
            let mut remove = Vec::new();
            let mut update = self.client.update_item().table_name(self.table());
            for (side, member, unread) in
                [(Side::A, c.member_a_uuid, c.unread_a), (Side::B, c.member_b_uuid, c.unread_b)]
            {
                let (count, listed) = (side.unread_attribute(), side.unread_key_attribute());
                update = update.expression_attribute_values(format!(":{count}"), AttributeValue::N(unread.to_string()));
                if unread > 0 {
                    set.push(format!("{listed} = :{listed}"));
                    update = update
                        .expression_attribute_values(format!(":{listed}"), AttributeValue::S(keys::unread_of(member)));
                } else {
                    remove.push(listed);
                }
            }
            let mut expression = String::new();
            if !set.is_empty() {
                expression.push_str(&format!("SET {} ", set.join(", ")));
            }
            if !remove.is_empty() {
                expression.push_str(&format!("REMOVE {}", remove.join(", ")));
            }
            let sent = update
                .set_key(Some(keys::conversation(c.message_group_uuid).into_map()))
                .update_expression(expression)
                .condition_expression("unread_a = :unread_a AND unread_b = :unread_b")
                .send()
                .await;
            match sent {
                Ok(_) => written += 1,
                // Changed meanwhile by a send or a read, which set the keys.
                Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(e) => return Err(sdk_error(e)),
            }
        }
        Ok(written)
    }

    async fn batch_delete(&self, keys: Vec<Item>) -> Result<()> {
        let requests = keys
            .into_iter()
            .map(|key| {
                let delete = DeleteRequest::builder().set_key(Some(key)).build().map_err(build_err)?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<_>>()?;
        self.batch_write(requests).await
    }
}

/// The member a row is not the owner's of, as the row names them.
fn named_other(row: &LegacyGroupRowItem) -> crate::domain::UserSummary {
    crate::domain::UserSummary {
        uuid: row.other_user_uuid,
        handle: row.other_user_handle.clone(),
        display_name: row.other_user_display_name.clone(),
    }
}

fn key_of(item: &Item) -> Item {
    item.iter().filter(|(k, _)| k.as_str() == "pk" || k.as_str() == "sk").map(|(k, v)| (k.clone(), v.clone())).collect()
}
