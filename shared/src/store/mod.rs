//! The one place that knows DynamoDB: keys, item mapping, queries,
//! transactions, cursors and the table definition.
//!
//! Every read is a GetItem or a Query on one partition; nothing scans (except
//! the operator's explicit `scan`). Every write that touches several items is
//! one TransactWriteItems with a condition on each item.

mod conversations;
mod import;
mod items;
mod keys;
mod meter;
mod profiles;
mod schema;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{CancellationReason, ConsumedCapacity, TransactWriteItem};
use aws_sdk_dynamodb::Client;

pub use self::meter::{CapacityMeter, Usage};
pub use self::profiles::{LinkOutcome, Registration};
pub use self::schema::{
    drop_table, list_tables, LocalIndex, TableDefinition, ACTIVITY_INDEX, DEFAULT_TABLE_NAME, MESSAGES_TABLE,
};

use self::items::Item;
use self::keys::Key;
use crate::config::Config;
use crate::error::{Error, Result};

/// How often a transaction is tried when DynamoDB reports a conflict with a
/// concurrent transaction or throttles it, or when a concurrent newer message
/// changes what it must write.
pub const MAX_TRANSACTION_ATTEMPTS: u32 = 8;

/// The messaging table, through one DynamoDB client.
///
/// Cheap to clone (the client is reference-counted): build it once per
/// process and share it.
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: Arc<str>,
    meter: Option<Arc<CapacityMeter>>,
}

impl Store {
    pub fn new(client: Client, table: impl Into<Arc<str>>) -> Self {
        Store { client, table: table.into(), meter: None }
    }

    /// The same store, counting every request and the capacity it consumed
    /// into the returned meter.
    pub fn metered(&self) -> (Store, Arc<CapacityMeter>) {
        let meter = Arc::new(CapacityMeter::default());
        (Store { meter: Some(meter.clone()), ..self.clone() }, meter)
    }

    fn record(&self, consumed: Option<&ConsumedCapacity>) {
        if let Some(meter) = &self.meter {
            meter.record(consumed.map(std::slice::from_ref).unwrap_or_default(), false);
        }
    }

    /// Every item of the table as JSON, page by page (operators only: a Scan
    /// reads the whole table).
    pub async fn scan_all(&self) -> Result<Vec<serde_json::Value>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(self.table())
                .set_exclusive_start_key(start)
                .set_return_consumed_capacity(meter::mode(self.meter.as_deref()))
                .send()
                .await
                .map_err(sdk_error)?;
            self.record(out.consumed_capacity.as_ref());
            for item in out.items.unwrap_or_default() {
                items.push(items::from_item::<serde_json::Value>(item)?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// A store for the table and endpoint the environment names (see [`Config`]).
    pub async fn from_config(config: &Config) -> Self {
        Store::new(Client::new(&config.sdk_config().await), config.table.as_str())
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// One item by key, strongly consistent.
    async fn get(&self, key: Key) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(self.table())
            .set_key(Some(key.into_map()))
            .consistent_read(true)
            .set_return_consumed_capacity(meter::mode(self.meter.as_deref()))
            .send()
            .await
            .map_err(sdk_error)?;
        self.record(out.consumed_capacity.as_ref());
        Ok(out.item)
    }

    /// Runs one transaction. `Ok(None)` when it was applied; `Ok(Some(reasons))`
    /// when DynamoDB cancelled it, with one reason per item in order.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Option<Vec<Cancellation>>> {
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .set_return_consumed_capacity(meter::mode(self.meter.as_deref()))
            .send()
            .await;
        if let Some(meter) = &self.meter {
            let consumed = sent.as_ref().ok().and_then(|o| o.consumed_capacity.as_deref()).unwrap_or_default();
            meter.record(consumed, true);
        }
        match sent {
            Ok(_) => Ok(None),
            Err(SdkError::ServiceError(ctx)) => match ctx.into_err() {
                TransactWriteItemsError::TransactionCanceledException(e) => {
                    Ok(Some(e.cancellation_reasons.unwrap_or_default().into_iter().map(Cancellation::from).collect()))
                }
                other => Err(classify(other.code(), &DisplayErrorContext(&other).to_string(), false)),
            },
            Err(other) => Err(sdk_error(other)),
        }
    }
}

/// Why DynamoDB refused one item of a cancelled transaction.
#[derive(Debug)]
enum Cancellation {
    /// This item was fine; another one failed.
    None,
    /// This item's condition failed; `Some(item)` is the item as it was
    /// (ReturnValuesOnConditionCheckFailure = ALL_OLD), `None` if it did not
    /// exist or the server did not return it.
    ConditionFailed(Option<Item>),
    /// A concurrent transaction or throttling: try again after a pause.
    Retry,
    /// Anything else (validation, size limits): a bug.
    Fatal(String),
}

impl From<CancellationReason> for Cancellation {
    fn from(r: CancellationReason) -> Self {
        match r.code.as_deref() {
            None | Some("None") => Cancellation::None,
            Some("ConditionalCheckFailed") => Cancellation::ConditionFailed(r.item.filter(|i| !i.is_empty())),
            Some("TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded") => Cancellation::Retry,
            Some(code) => Cancellation::Fatal(format!("{code}: {}", r.message.as_deref().unwrap_or(""))),
        }
    }
}

/// What to do about a cancelled transaction, before looking at its conditions.
fn triage(reasons: &[Cancellation]) -> Result<bool> {
    if let Some(Cancellation::Fatal(why)) = reasons.iter().find(|r| matches!(r, Cancellation::Fatal(_))) {
        return Err(Error::Internal(format!("transaction refused: {why}")));
    }
    // Conditions decide first: retrying a transaction whose condition failed
    // only fails again.
    let condition_failed = reasons.iter().any(|r| matches!(r, Cancellation::ConditionFailed(_)));
    Ok(!condition_failed && reasons.iter().any(|r| matches!(r, Cancellation::Retry)))
}

/// Full-jitter exponential backoff before transaction attempt `attempt` (1-based).
async fn backoff(attempt: u32) {
    let cap_ms = (25u64 << attempt.min(5)).min(500);
    tokio::time::sleep(Duration::from_millis(fastrand::u64(0..=cap_ms))).await;
}

/// Maps an SDK error to the core's error: transient failures (time-outs, lost
/// connections, throttling, server errors) that survived the SDK's retries
/// are `Unavailable`; the rest are bugs (`Internal`). The text keeps the
/// whole error chain (`DisplayErrorContext`); plain Display would say only
/// "dispatch failure".
pub(crate) fn sdk_error<E>(err: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let text = DisplayErrorContext(&err).to_string();
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Error::Unavailable(text)
        }
        SdkError::ServiceError(ctx) => classify(ctx.err().code(), &text, ctx.raw().status().is_server_error()),
        _ => Error::Internal(text),
    }
}

fn classify(code: Option<&str>, text: &str, server_error: bool) -> Error {
    let transient = server_error
        || matches!(
            code,
            Some(
                "ProvisionedThroughputExceededException"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "ServiceUnavailable"
                    | "TransactionConflictException"
                    | "TransactionInProgressException"
            )
        );
    if transient {
        Error::Unavailable(text.to_owned())
    } else {
        Error::Internal(text.to_owned())
    }
}

/// The item mapping of messages, exposed for micro-benchmarks and tools.
pub mod codec {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::AttributeValue;

    use super::items::{from_item, to_item, MessageItem};
    use super::keys;
    use crate::domain::Message;
    use crate::error::Result;

    /// The DynamoDB item that stores `message`.
    pub fn message_to_item(message: &Message) -> Result<HashMap<String, AttributeValue>> {
        to_item(keys::message(message.group, message.key()), &MessageItem::from(message))
    }

    /// A stored message back from its item (every field re-parsed).
    pub fn message_from_item(item: HashMap<String, AttributeValue>) -> Result<Message> {
        from_item::<MessageItem>(item).map(Message::from)
    }
}
