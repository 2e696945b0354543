//! Open WebSocket connections, under the user who opened them: written by
//! `$connect`, removed by `$disconnect` or when posting to one finds it gone,
//! read by the delivery of a message (one Query per member).

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::items::{from_item, to_item};
use super::{all_pages, keys, meter, sdk_error, Store};
use crate::domain::{ConnectionId, Timestamp, UserUuid};
use crate::error::Result;

/// How long a connection's record lives: API Gateway closes every connection
/// after 2 hours, and `$disconnect` is best effort, so the record expires
/// (DynamoDB's TTL) an hour after the longest a connection can live.
pub const CONNECTION_LIFETIME_SECS: i64 = 3 * 3600;

#[derive(Serialize, Deserialize)]
struct ConnectionItem {
    connection_id: ConnectionId,
    user_uuid: UserUuid,
    connected_at: Timestamp,
    /// Epoch seconds; DynamoDB's TTL removes the item after it.
    expires_at: i64,
}

impl Store {
    /// Records `id` as one of `owner`'s open connections.
    pub async fn add_connection(&self, owner: UserUuid, id: &ConnectionId, at: Timestamp) -> Result<()> {
        let body = ConnectionItem {
            connection_id: id.clone(),
            user_uuid: owner,
            connected_at: at,
            expires_at: at.unix_seconds() + CONNECTION_LIFETIME_SECS,
        };
        let out = self
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(to_item(keys::connection(owner, id), &body)?))
            .set_return_consumed_capacity(meter::mode(self.meter.as_deref()))
            .send()
            .await
            .map_err(sdk_error)?;
        self.record(out.consumed_capacity.as_ref());
        Ok(())
    }

    /// Forgets `owner`'s connection `id` (nothing happens if it is not there).
    pub async fn remove_connection(&self, owner: UserUuid, id: &ConnectionId) -> Result<()> {
        let out = self
            .client
            .delete_item()
            .table_name(self.table())
            .set_key(Some(keys::connection(owner, id).into_map()))
            .set_return_consumed_capacity(meter::mode(self.meter.as_deref()))
            .send()
            .await
            .map_err(sdk_error)?;
        self.record(out.consumed_capacity.as_ref());
        Ok(())
    }

    /// `owner`'s open connections at `now` (records past their lifetime that
    /// TTL has not removed yet are left out): one Query.
    pub async fn connections_of(&self, owner: UserUuid, now: Timestamp) -> Result<Vec<ConnectionId>> {
        let items = all_pages(|start| async move {
            let out = self
                .client
                .query()
                .table_name(self.table())
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(keys::connections_of(owner)))
                .set_exclusive_start_key(start)
                .consistent_read(true)
                .set_return_consumed_capacity(meter::mode(self.meter.as_deref()))
                .send()
                .await
                .map_err(sdk_error)?;
            self.record(out.consumed_capacity.as_ref());
            Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
        })
        .await?;
        let mut open = Vec::new();
        for item in items {
            let connection = from_item::<ConnectionItem>(item)?;
            if connection.expires_at > now.unix_seconds() {
                open.push(connection.connection_id);
            }
        }
        Ok(open)
    }
}
