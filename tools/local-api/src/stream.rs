//! The table's stream into the delivery code, as Lambda's event source
//! mapping does on AWS: DynamoDB Local's own Streams API (DescribeStream,
//! GetShardIterator, GetRecords) polled every `poll` per shard (Lambda's base
//! rate is four times a second), each batch handed to
//! `cruddur_core::realtime::Delivery::handle` as Lambda's `DynamoDbEvent`.
//! A record the delivery reports as failed is retried from that record (an
//! iterator at its sequence number, as Lambda resumes at the lowest failed
//! one, not at the batch's start) up to [`MAX_ATTEMPTS`] times, then passed
//! over with a warning, as a mapping with a retry limit does. An iterator
//! that expired (or that DynamoDB Local no longer accepts) is renewed from
//! the last record handled (the checkpoint), instead of leaving the shard stuck.
//!
//! The filter is applied by the delivery code itself
//! (`realtime::message_record`, the rule of the template's `FilterCriteria`).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use aws_sdk_dynamodbstreams::Client;
use cruddur_core::realtime::Delivery;
use lambda_http::aws_lambda_events::dynamodb::EventRecord;

/// Tries per failed batch before its records are passed over.
pub const MAX_ATTEMPTS: u32 = 3;
/// New shards (DynamoDB rolls them over) are looked for this often.
const DISCOVER_EVERY: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Shard {
    /// Where the next GetRecords reads; `None` once the shard is closed and read.
    iterator: Option<String>,
    /// Failed tries of the record at `iterator`.
    attempts: u32,
    /// The sequence number of the last record handled (delivered or passed
    /// over): where a renewed iterator starts after.
    checkpoint: Option<String>,
}

/// The stream of `table`, read from its end at start.
pub struct Feed {
    streams: Client,
    stream_arn: String,
    region: String,
    delivery: Delivery,
    poll: Duration,
    shards: HashMap<String, Shard>,
}

impl Feed {
    /// Finds the table's stream and positions at its end (LATEST), so that
    /// what is written after this returns is delivered.
    pub async fn start(
        dynamodb: &aws_sdk_dynamodb::Client,
        streams: Client,
        table: &str,
        delivery: Delivery,
        poll: Duration,
    ) -> Result<Feed, String> {
        let described = dynamodb.describe_table().table_name(table).send().await.map_err(|e| {
            format!("cannot describe table {table}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(&e))
        })?;
        let stream_arn = described.table().and_then(|t| t.latest_stream_arn()).map(str::to_owned).ok_or_else(|| {
            format!(
                "table {table} has no stream: create it with `cruddur schema-load` (the table definition enables it)"
            )
        })?;
        let region = streams.config().region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".to_owned());
        let mut feed = Feed { streams, stream_arn, region, delivery, poll, shards: HashMap::new() };
        feed.discover(ShardIteratorType::Latest).await?;
        Ok(feed)
    }

    /// Adds the shards not seen yet, read from `position`.
    async fn discover(&mut self, position: ShardIteratorType) -> Result<(), String> {
        let mut start = None;
        loop {
            let out = self
                .streams
                .describe_stream()
                .stream_arn(&self.stream_arn)
                .set_exclusive_start_shard_id(start)
                .send()
                .await
                .map_err(|e| {
                    format!("cannot describe the stream: {}", aws_sdk_dynamodbstreams::error::DisplayErrorContext(&e))
                })?;
            let Some(description) = out.stream_description else { return Ok(()) };
            for shard in description.shards() {
                let Some(id) = shard.shard_id() else { continue };
                if self.shards.contains_key(id) {
                    continue;
                }
                let iterator = self
                    .streams
                    .get_shard_iterator()
                    .stream_arn(&self.stream_arn)
                    .shard_id(id)
                    .shard_iterator_type(position.clone())
                    .send()
                    .await
                    .map_err(|e| {
                        format!("cannot read shard {id}: {}", aws_sdk_dynamodbstreams::error::DisplayErrorContext(&e))
                    })?
                    .shard_iterator;
                self.shards.insert(id.to_owned(), Shard { iterator, attempts: 0, checkpoint: None });
            }
            match description.last_evaluated_shard_id {
                Some(last) => start = Some(last),
                None => return Ok(()),
            }
        }
    }

    /// Polls for ever (run it in a task).
    pub async fn run(mut self) {
        let mut discovered = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.poll).await;
            if discovered.elapsed() >= DISCOVER_EVERY {
                discovered = tokio::time::Instant::now();
                // Shards created since: from their beginning.
                if let Err(e) = self.discover(ShardIteratorType::TrimHorizon).await {
                    tracing::warn!(error = %e, "stream: cannot look for new shards");
                }
            }
            let ids: Vec<String> = self.shards.keys().cloned().collect();
            for id in ids {
                self.poll_shard(&id).await;
            }
        }
    }

    async fn poll_shard(&mut self, id: &str) {
        let Some(iterator) = self.shards.get(id).and_then(|s| s.iterator.clone()) else { return };
        let out = match self.streams.get_records().shard_iterator(&iterator).send().await {
            Ok(out) => out,
            Err(e) => {
                tracing::warn!(shard = id, error = %aws_sdk_dynamodbstreams::error::DisplayErrorContext(&e), "stream: GetRecords failed; renewing the iterator from the checkpoint");
                self.renew(id).await;
                return;
            }
        };
        let records = out.records.unwrap_or_default();
        let sequences: Vec<Option<String>> =
            records.iter().map(|r| r.dynamodb.as_ref().and_then(|d| d.sequence_number.clone())).collect();
        let mut resume_at = None;
        if !records.is_empty() {
            let batch = records.into_iter().map(|r| self.event_record(r)).collect();
            let answer = self.delivery.handle(cruddur_devkit::events::stream_batch(batch), None).await;
            if let Some(failed) = answer.batch_item_failures.first().and_then(|f| f.item_identifier.clone()) {
                let shard = self.shards.entry(id.to_owned()).or_default();
                shard.attempts += 1;
                if shard.attempts < MAX_ATTEMPTS {
                    tracing::warn!(shard = id, attempt = shard.attempts, "stream: a record failed; retrying from it");
                    // Handled: the records before the failed one.
                    let before = sequences.iter().take_while(|s| s.as_deref() != Some(failed.as_str())).last();
                    if let Some(Some(done)) = before {
                        shard.checkpoint = Some(done.clone());
                    }
                    resume_at = Some(failed);
                } else {
                    tracing::warn!(shard = id, "stream: a record failed {MAX_ATTEMPTS} times; passed over");
                }
            }
        }
        match resume_at {
            Some(sequence) => {
                let at = self.iterator_at(id, ShardIteratorType::AtSequenceNumber, Some(sequence)).await;
                let shard = self.shards.entry(id.to_owned()).or_default();
                // Without a new iterator the same batch is read again.
                if at.is_some() {
                    shard.iterator = at;
                }
            }
            None => {
                let shard = self.shards.entry(id.to_owned()).or_default();
                if let Some(Some(last)) = sequences.last() {
                    shard.checkpoint = Some(last.clone());
                }
                shard.iterator = out.next_shard_iterator;
                shard.attempts = 0;
            }
        }
    }

    /// A new iterator for shard `id` after its checkpoint (or at the
    /// stream's end when nothing was handled yet, as at start).
    async fn renew(&mut self, id: &str) {
        let checkpoint = self.shards.get(id).and_then(|s| s.checkpoint.clone());
        let renewed = match checkpoint {
            Some(sequence) => self.iterator_at(id, ShardIteratorType::AfterSequenceNumber, Some(sequence)).await,
            None => self.iterator_at(id, ShardIteratorType::Latest, None).await,
        };
        if let Some(iterator) = renewed {
            self.shards.entry(id.to_owned()).or_default().iterator = Some(iterator);
        }
    }

    /// A shard iterator of `kind` (at or after `sequence`); `None`, logged, on failure.
    async fn iterator_at(&self, id: &str, kind: ShardIteratorType, sequence: Option<String>) -> Option<String> {
        let out = self
            .streams
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(id)
            .shard_iterator_type(kind)
            .set_sequence_number(sequence)
            .send()
            .await;
        match out {
            Ok(out) => out.shard_iterator,
            Err(e) => {
                tracing::warn!(shard = id, error = %aws_sdk_dynamodbstreams::error::DisplayErrorContext(&e), "stream: cannot get a shard iterator");
                None
            }
        }
    }

    /// A record as Lambda's event source mapping hands it to the function.
    fn event_record(&self, record: Record) -> EventRecord {
        let mut event = EventRecord::default();
        event.aws_region = self.region.clone();
        event.event_id = record.event_id.unwrap_or_default();
        event.event_name = record.event_name.map(|n| n.as_str().to_owned()).unwrap_or_default();
        event.event_source = Some("aws:dynamodb".to_owned());
        event.event_version = record.event_version;
        event.event_source_arn = Some(self.stream_arn.clone());
        if let Some(change) = record.dynamodb {
            event.change.keys = serde_dynamo::Item::from(change.keys.unwrap_or_default());
            event.change.new_image = serde_dynamo::Item::from(change.new_image.unwrap_or_default());
            event.change.old_image = serde_dynamo::Item::from(change.old_image.unwrap_or_default());
            event.change.sequence_number = change.sequence_number;
            event.change.size_bytes = change.size_bytes.unwrap_or_default();
        }
        event
    }
}
