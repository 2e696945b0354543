//! The table definition, in one place: tests, the operator CLI and the SAM
//! template check all derive from (or are compared against) this.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

use super::sdk_error;
use crate::error::{Error, Result};

/// The default table name (overridden by `DDB_MESSAGE_TABLE`).
pub const DEFAULT_TABLE_NAME: &str = "cruddur-messages";

/// A global secondary index (on-demand, like the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalIndex {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub projection: IndexProjection,
}

/// What an index entry carries besides the table's and the index's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexProjection {
    /// Every attribute (`ProjectionType: ALL`): any change of the item
    /// rewrites the entry.
    All,
    /// These attributes only (`ProjectionType: INCLUDE`): the entry is
    /// rewritten only when its keys or one of them changes.
    Include(&'static [&'static str]),
    /// The keys alone (`ProjectionType: KEYS_ONLY`): the entry is written
    /// only when the item gets or loses the index's keys, or they change.
    KeysOnly,
}

impl IndexProjection {
    /// The CloudFormation / DynamoDB name of the projection type.
    pub fn type_name(self) -> &'static str {
        match self {
            IndexProjection::All => "ALL",
            IndexProjection::Include(_) => "INCLUDE",
            IndexProjection::KeysOnly => "KEYS_ONLY",
        }
    }

    /// The non-key attributes projected; `None` for all of them.
    pub fn attributes(self) -> Option<&'static [&'static str]> {
        match self {
            IndexProjection::All => None,
            IndexProjection::Include(attributes) => Some(attributes),
            IndexProjection::KeysOnly => Some(&[]),
        }
    }

    fn to_sdk(self) -> Projection {
        let builder = Projection::builder().projection_type(ProjectionType::from(self.type_name()));
        match self.attributes() {
            None | Some([]) => builder.build(),
            Some(attributes) => {
                builder.set_non_key_attributes(Some(attributes.iter().map(|a| (*a).to_owned()).collect())).build()
            }
        }
    }
}

/// Keys, indexes and billing of the messaging table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDefinition {
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    /// Every key attribute (table and index keys); all are strings.
    pub string_attributes: &'static [&'static str],
    pub global_indexes: &'static [GlobalIndex],
    /// On-demand capacity (`PAY_PER_REQUEST`).
    pub on_demand: bool,
    /// The number attribute (epoch seconds) after which DynamoDB's TTL
    /// deletes an item: handle reservations, Idempotency-Key records.
    pub ttl_attribute: &'static str,
    /// The table's stream (what each record carries): new images feed the
    /// realtime delivery of new messages.
    pub stream_view: &'static str,
}

/// The lists of message groups, newest activity first, of the members whose
/// uuid is the smaller of the two (`list_a`) and the larger (`list_b`): a
/// conversation item is one entry in each, so a user's list is both indexes
/// (and every shard of each) merged. Sparse: only conversation items carry
/// `list_a`/`list_b`. Projection ALL: a page needs no second read.
pub const LIST_A_INDEX: GlobalIndex = GlobalIndex {
    name: "list-a-index",
    partition_key: "list_a",
    sort_key: "activity",
    projection: IndexProjection::All,
};
pub const LIST_B_INDEX: GlobalIndex = GlobalIndex {
    name: "list-b-index",
    partition_key: "list_b",
    sort_key: "activity",
    projection: IndexProjection::All,
};

/// The conversations in which member a (`unread-a-index`) or member b
/// (`unread-b-index`) has unread messages, with that count: a conversation
/// item carries `unread_of_a` (`UNREAD#<member a>`) exactly while
/// `unread_a > 0`, so the index holds only unread conversations (sparse),
/// and the counter is the sum of one Query of each. Projection INCLUDE of
/// the one count: a message rewrites only the recipient's entry (its count
/// changed), never the sender's, and a summary change rewrites neither.
pub const UNREAD_A_INDEX: GlobalIndex = GlobalIndex {
    name: "unread-a-index",
    partition_key: "unread_of_a",
    sort_key: "pk",
    projection: IndexProjection::Include(&["unread_a"]),
};
pub const UNREAD_B_INDEX: GlobalIndex = GlobalIndex {
    name: "unread-b-index",
    partition_key: "unread_of_b",
    sort_key: "pk",
    projection: IndexProjection::Include(&["unread_b"]),
};

/// Every conversation of member a (`member-a-index`) or member b
/// (`member-b-index`), in a fixed order (the conversation's key): what an
/// export and an account's deletion walk, page by page, where the list
/// indexes' order moves with every message. Keys only: an entry is written
/// when its conversation is created, never by a message.
pub const MEMBER_A_INDEX: GlobalIndex = GlobalIndex {
    name: "member-a-index",
    partition_key: "member_a_uuid",
    sort_key: "pk",
    projection: IndexProjection::KeysOnly,
};
pub const MEMBER_B_INDEX: GlobalIndex = GlobalIndex {
    name: "member-b-index",
    partition_key: "member_b_uuid",
    sort_key: "pk",
    projection: IndexProjection::KeysOnly,
};

pub const MESSAGES_TABLE: TableDefinition = TableDefinition {
    partition_key: "pk",
    sort_key: "sk",
    string_attributes: &[
        "pk",
        "sk",
        "list_a",
        "list_b",
        "activity",
        "unread_of_a",
        "unread_of_b",
        "member_a_uuid",
        "member_b_uuid",
    ],
    global_indexes: &[LIST_A_INDEX, LIST_B_INDEX, UNREAD_A_INDEX, UNREAD_B_INDEX, MEMBER_A_INDEX, MEMBER_B_INDEX],
    on_demand: true,
    ttl_attribute: "expires_at",
    stream_view: "NEW_IMAGE",
};

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement> {
    KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(internal)
}

fn internal(e: impl Into<crate::error::Cause>) -> Error {
    Error::internal_from("cannot build a table request", e)
}

impl TableDefinition {
    /// Creates the table `name` with this definition (TTL and stream included) and
    /// waits until it is active. Fails if it already exists.
    pub async fn create(&self, client: &Client, name: &str) -> Result<()> {
        self.create_table(client, name, true).await
    }

    /// [`TableDefinition::create`] without the stream, for tests that never
    /// read it: DynamoDB Local keeps a stream per table and writes to tables
    /// with one are about five times slower (the integration suite: 49 s
    /// without, 251 s with). Everything else is the same definition.
    pub async fn create_without_stream(&self, client: &Client, name: &str) -> Result<()> {
        self.create_table(client, name, false).await
    }

    async fn create_table(&self, client: &Client, name: &str, stream: bool) -> Result<()> {
        let mut req = client
            .create_table()
            .table_name(name)
            .key_schema(key(self.partition_key, KeyType::Hash)?)
            .key_schema(key(self.sort_key, KeyType::Range)?)
            .billing_mode(if self.on_demand { BillingMode::PayPerRequest } else { BillingMode::Provisioned })
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(stream)
                    .set_stream_view_type(stream.then(|| StreamViewType::from(self.stream_view)))
                    .build()
                    .map_err(internal)?,
            );
        for attr in self.string_attributes {
            req = req.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(*attr)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(internal)?,
            );
        }
        for index in self.global_indexes {
            req = req.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index.name)
                    .key_schema(key(index.partition_key, KeyType::Hash)?)
                    .key_schema(key(index.sort_key, KeyType::Range)?)
                    .projection(index.projection.to_sdk())
                    .build()
                    .map_err(internal)?,
            );
        }
        req.send().await.map_err(sdk_error)?;
        self.wait_active(client, name).await?;
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(self.ttl_attribute)
                    .enabled(true)
                    .build()
                    .map_err(internal)?,
            )
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    /// Whether the existing table `name` has this definition's keys, key
    /// attributes and indexes. `Ok(None)` when there is no such table.
    pub async fn matches_existing(&self, client: &Client, name: &str) -> Result<Option<bool>> {
        let out = match client.describe_table().table_name(name).send().await {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => return Ok(None),
            Err(e) => return Err(sdk_error(e)),
        };
        let Some(table) = out.table else { return Ok(None) };
        let keys = |schema: &[KeySchemaElement]| -> Vec<(String, String)> {
            schema.iter().map(|k| (k.attribute_name().to_owned(), k.key_type().as_str().to_owned())).collect()
        };
        let want_keys =
            vec![(self.partition_key.to_owned(), "HASH".to_owned()), (self.sort_key.to_owned(), "RANGE".to_owned())];
        // A local index is not compared: one created before issue 26 cannot
        // be removed, and `cruddur migrate` leaves it in place, unused (no
        // item carries its key any more).
        let mut indexes: Vec<(String, Vec<(String, String)>)> = table
            .global_secondary_indexes()
            .iter()
            .map(|i| (i.index_name().unwrap_or_default().to_owned(), keys(i.key_schema())))
            .collect();
        indexes.sort();
        let mut want_indexes: Vec<(String, Vec<(String, String)>)> = self
            .global_indexes
            .iter()
            .map(|i| {
                (
                    i.name.to_owned(),
                    vec![(i.partition_key.to_owned(), "HASH".to_owned()), (i.sort_key.to_owned(), "RANGE".to_owned())],
                )
            })
            .collect();
        want_indexes.sort();
        Ok(Some(keys(table.key_schema()) == want_keys && indexes == want_indexes))
    }

    /// Adds the global indexes of this definition that the table `name`
    /// lacks, one at a time (DynamoDB creates one per UpdateTable), waiting
    /// for each to be active; returns their names. For `cruddur migrate`.
    pub async fn add_missing_indexes(&self, client: &Client, name: &str) -> Result<Vec<String>> {
        use aws_sdk_dynamodb::types::{CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate};
        let out = client.describe_table().table_name(name).send().await.map_err(sdk_error)?;
        let present: Vec<String> = out
            .table()
            .map(|t| t.global_secondary_indexes().iter().filter_map(|i| i.index_name().map(str::to_owned)).collect())
            .unwrap_or_default();
        let mut added = Vec::new();
        for index in self.global_indexes.iter().filter(|i| !present.iter().any(|p| p == i.name)) {
            let create = CreateGlobalSecondaryIndexAction::builder()
                .index_name(index.name)
                .key_schema(key(index.partition_key, KeyType::Hash)?)
                .key_schema(key(index.sort_key, KeyType::Range)?)
                .projection(index.projection.to_sdk())
                .build()
                .map_err(internal)?;
            let mut update = client
                .update_table()
                .table_name(name)
                .global_secondary_index_updates(GlobalSecondaryIndexUpdate::builder().create(create).build());
            for attr in [index.partition_key, index.sort_key] {
                update = update.attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(attr)
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .map_err(internal)?,
                );
            }
            update.send().await.map_err(sdk_error)?;
            self.wait_indexes_active(client, name).await?;
            added.push(index.name.to_owned());
        }
        Ok(added)
    }

    async fn wait_indexes_active(&self, client: &Client, name: &str) -> Result<()> {
        use aws_sdk_dynamodb::types::IndexStatus;
        for _ in 0..6000 {
            let out = client.describe_table().table_name(name).send().await.map_err(sdk_error)?;
            let table = out.table();
            let ready = table.and_then(|t| t.table_status()) == Some(&TableStatus::Active)
                && table.is_some_and(|t| {
                    t.global_secondary_indexes().iter().all(|i| i.index_status() == Some(&IndexStatus::Active))
                });
            if ready {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Err(Error::unavailable(format!("the indexes of {name} did not become active within 10 minutes")))
    }

    async fn wait_active(&self, client: &Client, name: &str) -> Result<()> {
        for _ in 0..600 {
            let out = client.describe_table().table_name(name).send().await.map_err(sdk_error)?;
            if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Err(Error::unavailable(format!("table {name} did not become active within 60 s")))
    }
}

/// The names of every table the client can see, in order.
pub async fn list_tables(client: &Client) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let out = client.list_tables().set_exclusive_start_table_name(start.take()).send().await.map_err(sdk_error)?;
        names.extend(out.table_names.unwrap_or_default());
        match out.last_evaluated_table_name {
            Some(next) => start = Some(next),
            None => return Ok(names),
        }
    }
}

/// Deletes the table `name`. `Ok(false)` when there was no such table.
pub async fn drop_table(client: &Client, name: &str) -> Result<bool> {
    match client.delete_table().table_name(name).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => Ok(false),
        Err(e) => Err(sdk_error(e)),
    }
}
