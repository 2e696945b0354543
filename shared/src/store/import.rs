//! Bulk import for benchmarks and data migrations: BatchWriteItem, 25 items a
//! request, no conditions and no transactions. Not for request paths: it
//! skips every guarantee that the transactional operations give.

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};

use super::items::{to_item, GroupRowItem, Item, MessageItem};
use super::{keys, profiles::build_err, sdk_error, Store};
use crate::domain::{Message, MessageGroup};
use crate::error::{Error, Result};

impl Store {
    /// Writes messages as they are (their message group must exist).
    pub async fn import_messages(&self, messages: &[Message]) -> Result<()> {
        let items = messages
            .iter()
            .map(|m| to_item(keys::message(m.group, m.key()), &MessageItem::from(m)))
            .collect::<Result<Vec<_>>>()?;
        self.batch_put(items).await
    }

    /// Writes group rows as they are (one member's view each).
    pub async fn import_group_rows(&self, rows: &[MessageGroup]) -> Result<()> {
        let items = rows
            .iter()
            .map(|g| {
                let body = GroupRowItem {
                    message_group_uuid: g.uuid,
                    owner_uuid: g.owner,
                    other_user_uuid: g.other.uuid,
                    other_user_handle: g.other.handle.clone(),
                    other_user_display_name: g.other.display_name.clone(),
                    last_message: g.last_message.clone(),
                    last_message_at: g.last_activity.at,
                    last_activity: g.last_activity,
                    unread: g.unread,
                };
                to_item(keys::group_row(g.owner, g.uuid), &body)
            })
            .collect::<Result<Vec<_>>>()?;
        self.batch_put(items).await
    }

    async fn batch_put(&self, items: Vec<Item>) -> Result<()> {
        for chunk in items.chunks(25) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    let put = PutRequest::builder().set_item(Some(item.clone())).build().map_err(build_err)?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<_>>()?;
            for attempt in 0..10u32 {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(self.table(), pending)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                pending = out.unprocessed_items.and_then(|mut u| u.remove(self.table())).unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                super::backoff(attempt + 1).await;
            }
            if !pending.is_empty() {
                return Err(Error::unavailable("batch writes stayed unprocessed"));
            }
        }
        Ok(())
    }
}
