//! Open WebSocket connections, under the user who opened them: written by
//! `$connect`, removed by `$disconnect` or when posting to one finds it gone,
//! read by the delivery of a message (one Query per member).

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::items::{from_item, to_item};
use super::{keys, meter, sdk_error, Store};
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
    /// Epoch seconds: the `exp` of the access token the connection was
    /// opened with (absent on records written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token_expires_at: Option<i64>,
}

/// One of a user's open connections, as its record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenConnection {
    pub id: ConnectionId,
    pub connected_at: Timestamp,
    /// Epoch seconds: when the token it was opened with expires, if known.
    pub token_expires_at: Option<i64>,
}

impl Store {
    /// Records `id` as one of `owner`'s open connections.
    pub async fn add_connection(&self, owner: UserUuid, id: &ConnectionId, at: Timestamp) -> Result<()> {
        self.add_connection_until(owner, id, at, None).await
    }

    /// Records `id` as one of `owner`'s open connections, opened at `at`
    /// with an access token that expires at `token_expires_at` (epoch
    /// seconds): delivery closes it then.
    pub async fn add_connection_until(
        &self,
        owner: UserUuid,
        id: &ConnectionId,
        at: Timestamp,
        token_expires_at: Option<i64>,
    ) -> Result<()> {
        let body = ConnectionItem {
            connection_id: id.clone(),
            user_uuid: owner,
            connected_at: at,
            expires_at: at.unix_seconds() + CONNECTION_LIFETIME_SECS,
            token_expires_at,
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

    /// The ids of `owner`'s open connections at `now` (see [`Store::open_connections`]).
    pub async fn connections_of(&self, owner: UserUuid, now: Timestamp) -> Result<Vec<ConnectionId>> {
        Ok(self.open_connections(owner, now).await?.into_iter().map(|c| c.id).collect())
    }

    /// `owner`'s open connections at `now`, newest first (records past their
    /// lifetime that TTL has not removed yet are left out): one Query.
    pub async fn open_connections(&self, owner: UserUuid, now: Timestamp) -> Result<Vec<OpenConnection>> {
        let items = self.whole_partition(None, keys::connections_of(owner)).await?;
        let mut open = Vec::new();
        for item in items {
            let connection = from_item::<ConnectionItem>(item)?;
            if connection.expires_at > now.unix_seconds() {
                open.push(OpenConnection {
                    id: connection.connection_id,
                    connected_at: connection.connected_at,
                    token_expires_at: connection.token_expires_at,
                });
            }
        }
        open.sort_by_key(|c| std::cmp::Reverse(c.connected_at));
        Ok(open)
    }
}

impl Store {
    /// Claims the right to forward `user`'s typing in `group` at `now`:
    /// `true` unless one was forwarded less than `every` ago. One
    /// conditional PutItem of a marker that lives a minute (TTL), so the
    /// throttle holds across concurrent functions.
    pub async fn claim_typing(
        &self,
        group: crate::domain::GroupUuid,
        user: UserUuid,
        now: Timestamp,
        every: std::time::Duration,
    ) -> Result<bool> {
        use aws_sdk_dynamodb::operation::put_item::PutItemError;
        let now_ms = now.unix_micros() / 1000;
        let until = now_ms + i64::try_from(every.as_millis()).unwrap_or(i64::MAX / 2);
        let mut item = keys::typing(group, user).into_map();
        item.insert("until_ms".into(), AttributeValue::N(until.to_string()));
        item.insert("expires_at".into(), AttributeValue::N((now.unix_seconds() + 60).to_string()));
        let put = self
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR until_ms <= :now")
            .expression_attribute_values(":now", AttributeValue::N(now_ms.to_string()))
            .set_return_consumed_capacity(super::meter::mode(self.meter.as_deref()))
            .send()
            .await;
        match put {
            Ok(out) => {
                self.record(out.consumed_capacity.as_ref());
                Ok(true)
            }
            Err(e) if matches!(e.as_service_error(), Some(PutItemError::ConditionalCheckFailedException(_))) => {
                Ok(false)
            }
            Err(e) => Err(super::sdk_error(e)),
        }
    }
}
