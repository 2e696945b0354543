//! Bulk import for benchmarks and data migrations: BatchWriteItem, 25 items a
//! request, no conditions and no transactions. Not for request paths: it
//! skips every guarantee that the transactional operations give.

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};

use super::items::{to_item, ConversationItem, Item, MessageItem};
use super::{keys, profiles::build_err, sdk_error, Store};
use crate::domain::{Message, MessageGroup, UserSummary};
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

    /// Writes conversations of `owner` as they are (the owner's view of each;
    /// the other member's unread count 0). No totals: benchmarks only.
    pub async fn import_conversations(&self, owner: &UserSummary, groups: &[MessageGroup]) -> Result<()> {
        let items = groups
            .iter()
            .map(|g| {
                let body = ConversationItem::new(
                    (owner, g.unread),
                    (&g.other, 0),
                    g.last_message.clone(),
                    g.last_activity,
                    g.uuid,
                );
                to_item(keys::conversation(g.uuid), &body)
            })
            .collect::<Result<Vec<_>>>()?;
        self.batch_put(items).await
    }

    async fn batch_put(&self, items: Vec<Item>) -> Result<()> {
        let requests = items
            .into_iter()
            .map(|item| {
                let put = PutRequest::builder().set_item(Some(item)).build().map_err(build_err)?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<_>>()?;
        self.batch_write(requests).await
    }

    /// BatchWriteItem, 25 requests at a time, unprocessed ones sent again.
    pub(super) async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<()> {
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
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
