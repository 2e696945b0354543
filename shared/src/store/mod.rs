//! The one place that knows DynamoDB: keys, item mapping, queries,
//! transactions, cursors and the table definition.
//!
//! Every read is a GetItem or a Query on one partition; nothing scans (except
//! the operator's explicit `scan`). Every write that touches several items is
//! one TransactWriteItems with a condition on each item.

mod accounts;
mod blocks;
mod change;
mod connections;
mod export;
#[cfg(feature = "operator")]
mod import;
mod items;
mod keys;
mod meter;
#[cfg(feature = "operator")]
mod migrate;
mod profiles;
mod reads;
mod schema;
mod send;
mod unread;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{CancellationReason, ConsumedCapacity, TransactWriteItem};
use aws_sdk_dynamodb::Client;

pub use self::accounts::{DELETED_DISPLAY_NAME, DELETED_HANDLE, HANDLE_HOLD_SECS};
pub use self::connections::{OpenConnection, CONNECTION_LIFETIME_SECS};
pub use self::keys::{MESSAGE_PREFIX, SHARDS};
pub use self::meter::{CapacityMeter, Usage};
#[cfg(feature = "operator")]
pub use self::migrate::MigrationReport;
pub use self::profiles::{LinkOutcome, Registration, RESERVATION_LIFETIME_SECS};
pub use self::schema::{
    drop_table, list_tables, GlobalIndex, IndexProjection, TableDefinition, DEFAULT_TABLE_NAME, LIST_A_INDEX,
    LIST_B_INDEX, MEMBER_A_INDEX, MEMBER_B_INDEX, MESSAGES_TABLE, UNREAD_A_INDEX, UNREAD_B_INDEX,
};
pub use self::send::Sent;
pub use self::unread::ReadMark;

use self::items::Item;
pub(crate) use self::items::MessageItem;
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
        self.scan_items().await?.into_iter().map(items::from_item::<serde_json::Value>).collect()
    }

    /// Every item of the table as DynamoDB returned it, strongly consistent
    /// (operators only: a Scan).
    async fn scan_items(&self) -> Result<Vec<Item>> {
        all_pages(|start| async move {
            let out = self
                .client
                .scan()
                .table_name(self.table())
                .set_exclusive_start_key(start)
                .consistent_read(true)
                .set_return_consumed_capacity(meter::mode(self.meter.as_deref()))
                .send()
                .await
                .map_err(sdk_error)?;
            self.record(out.consumed_capacity.as_ref());
            Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
        })
        .await
    }

    /// A store for the table and endpoint the environment names (see [`Config`]).
    pub async fn from_config(config: &Config) -> Self {
        let mut client = aws_sdk_dynamodb::config::Builder::from(&config.sdk_config().await);
        // template.yaml declares AWS_ENDPOINT_URL_DYNAMODB for `sam local
        // invoke --env-vars` only; SAM sets a declared variable it was given
        // no value for to "", which means "not set" (AWS's own endpoint).
        if std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok_and(|v| v.trim().is_empty()) {
            client.set_endpoint_url(None);
        }
        Store::new(Client::from_conf(client.build()), config.table.as_str())
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

    /// The one transaction runner. Sends `items` (each with the caller's
    /// name for it) and classifies DynamoDB's answer: applied; cancelled for
    /// a conflict with another transaction or throttling, which is retried
    /// with full-jitter backoff up to [`MAX_TRANSACTION_ATTEMPTS`] times and
    /// is then `Unavailable`; cancelled because conditions failed, which is
    /// the caller's to decide (retrying the same items only fails again);
    /// refused for anything else (validation, size): `Internal`.
    async fn run_transaction<N: Copy>(&self, items: &[(N, TransactWriteItem)]) -> Result<Outcome<N>> {
        for attempt in 1..=MAX_TRANSACTION_ATTEMPTS {
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.iter().map(|(_, item)| item.clone()).collect()))
                .set_return_consumed_capacity(meter::mode(self.meter.as_deref()))
                .send()
                .await;
            if let Some(meter) = &self.meter {
                let consumed = sent.as_ref().ok().and_then(|o| o.consumed_capacity.as_deref()).unwrap_or_default();
                meter.record(consumed, true);
            }
            let reasons = match sent {
                Ok(_) => return Ok(Outcome::Applied),
                Err(SdkError::ServiceError(ctx)) => match ctx.into_err() {
                    TransactWriteItemsError::TransactionCanceledException(e) => {
                        e.cancellation_reasons.unwrap_or_default()
                    }
                    other => return Err(classify(other.code().map(str::to_owned), false, other)),
                },
                Err(other) => return Err(sdk_error(other)),
            };
            match Cancellation::of(items, reasons) {
                Cancellation::Conflict => backoff(attempt).await,
                Cancellation::ConditionsFailed(failed) => return Ok(Outcome::ConditionsFailed(failed)),
                Cancellation::Refused(why) => return Err(Error::internal(format!("transaction refused: {why}"))),
            }
        }
        Err(Error::unavailable(format!(
            "a transaction kept conflicting with others ({MAX_TRANSACTION_ATTEMPTS} attempts)"
        )))
    }
}

/// A conditional write of one item in a transaction: an update when there
/// is something to change, else a check of the same condition (membership,
/// markers) that writes nothing.
fn write_or_check(
    store: &Store,
    key: keys::Key,
    expression: &str,
    condition: String,
    values: Vec<(&str, aws_sdk_dynamodb::types::AttributeValue)>,
) -> Result<TransactWriteItem> {
    let key = Some(key.into_map());
    // DynamoDB refuses an empty map of values: none then.
    let values = (!values.is_empty()).then(|| values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
    let expression = expression.trim();
    if expression.is_empty() {
        let check = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(store.table())
            .set_key(key)
            .condition_expression(condition)
            .set_expression_attribute_values(values)
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .build()
            .map_err(profiles::build_err)?;
        return Ok(TransactWriteItem::builder().condition_check(check).build());
    }
    let update = aws_sdk_dynamodb::types::Update::builder()
        .table_name(store.table())
        .set_key(key)
        .update_expression(expression)
        .condition_expression(condition)
        .set_expression_attribute_values(values)
        .return_values_on_condition_check_failure(aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(profiles::build_err)?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// Every item of a paginated read: `page(start)` reads one page from `start`
/// and gives its items and the key to go on from (none or empty: the end).
async fn all_pages<F, Fut>(mut page: F) -> Result<Vec<Item>>
where
    F: FnMut(Option<Item>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<Item>, Option<Item>)>>,
{
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let (found, next) = page(start).await?;
        items.extend(found);
        match next {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(items),
        }
    }
}

impl Store {
    /// Every item of one partition, page by page: of the table (strongly
    /// consistent) or, with `index`, of that global index.
    async fn whole_partition(&self, index: Option<GlobalIndex>, partition: String) -> Result<Vec<Item>> {
        let key = index.map_or("pk", |i| i.partition_key);
        all_pages(|start| {
            let partition = partition.clone();
            async move {
                let out = self
                    .client
                    .query()
                    .table_name(self.table())
                    .set_index_name(index.map(|i| i.name.to_owned()))
                    .key_condition_expression(format!("{key} = :pk"))
                    .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S(partition))
                    .consistent_read(index.is_none())
                    .set_exclusive_start_key(start)
                    .set_return_consumed_capacity(meter::mode(self.meter.as_deref()))
                    .send()
                    .await
                    .map_err(sdk_error)?;
                self.record(out.consumed_capacity.as_ref());
                Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
            }
        })
        .await
    }
}

/// How a transaction ended, for its caller.
#[derive(Debug)]
enum Outcome<N> {
    Applied,
    /// DynamoDB cancelled it because these items' conditions failed; each
    /// with the item as it was (ReturnValuesOnConditionCheckFailure =
    /// ALL_OLD), `None` if it did not exist or the server did not return it.
    ConditionsFailed(Vec<(N, Option<Item>)>),
}

impl<N: PartialEq> Outcome<N> {
    /// Whether `name`'s condition failed, and the item as it was.
    fn failed(&self, name: N) -> Option<&Option<Item>> {
        match self {
            Outcome::Applied => None,
            Outcome::ConditionsFailed(failed) => failed.iter().find(|(n, _)| *n == name).map(|(_, old)| old),
        }
    }
}

/// Why DynamoDB cancelled a transaction, from its reasons (one per item, in order).
#[derive(Debug)]
enum Cancellation<N> {
    /// A concurrent transaction or throttling, and no condition failed: the
    /// same items may succeed after a pause.
    Conflict,
    ConditionsFailed(Vec<(N, Option<Item>)>),
    /// Anything else (validation, size limits): a bug.
    Refused(String),
}

impl<N: Copy> Cancellation<N> {
    fn of(items: &[(N, TransactWriteItem)], reasons: Vec<CancellationReason>) -> Self {
        let mut failed = Vec::new();
        let mut conflict = false;
        for ((name, _), reason) in items.iter().zip(reasons) {
            match reason.code.as_deref() {
                None | Some("None") => {}
                Some("ConditionalCheckFailed") => failed.push((*name, reason.item.filter(|i| !i.is_empty()))),
                Some("TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded") => conflict = true,
                Some(code) => {
                    return Cancellation::Refused(format!("{code}: {}", reason.message.as_deref().unwrap_or("")))
                }
            }
        }
        // Conditions decide first: retrying a transaction whose condition
        // failed only fails again.
        match (failed.is_empty(), conflict) {
            (false, _) => Cancellation::ConditionsFailed(failed),
            (true, true) => Cancellation::Conflict,
            (true, false) => Cancellation::Refused("cancelled without a reason".into()),
        }
    }
}

/// Full-jitter exponential backoff before transaction attempt `attempt` (1-based).
async fn backoff(attempt: u32) {
    let cap_ms = (25u64 << attempt.min(5)).min(500);
    tokio::time::sleep(Duration::from_millis(fastrand::u64(0..=cap_ms))).await;
}

/// Maps an SDK error to the core's error: transient failures (time-outs, lost
/// connections, throttling, server errors) that survived the SDK's retries
/// are `Unavailable`; the rest are bugs (`Internal`). The SDK error is kept
/// as the cause ([`Error::chain`] shows all of it).
pub(crate) fn sdk_error<E>(err: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (code, server_error) = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            return Error::Unavailable { what: "DynamoDB did not answer".into(), cause: Some(Box::new(err)) }
        }
        SdkError::ServiceError(ctx) => (ctx.err().code().map(str::to_owned), ctx.raw().status().is_server_error()),
        _ => (None, false),
    };
    classify(code, server_error, err)
}

fn classify(code: Option<String>, server_error: bool, cause: impl std::error::Error + Send + Sync + 'static) -> Error {
    let transient = server_error
        || matches!(
            code.as_deref(),
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
    let what = format!("DynamoDB answered {}", code.as_deref().unwrap_or("an error"));
    let cause: Option<crate::error::Cause> = Some(Box::new(cause));
    if transient {
        Error::Unavailable { what, cause }
    } else {
        Error::Internal { what, cause }
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
        from_item::<MessageItem>(item).and_then(Message::try_from)
    }
}
