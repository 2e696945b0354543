//! The capacity model: what each operation's requests read and write on
//! DynamoDB, recorded from the real handlers through a recording proxy, then
//! priced by AWS's documented rules, because DynamoDB Local reports 2 units
//! for any transaction and enforces no partition or item limit.
//!
//! The recorder sees every request a handler sends. For a write it reads
//! each item it names just before and just after forwarding it (straight
//! from the engine, not counted), so an access carries the item's key, its
//! size before and after (DynamoDB's item-size rules: attribute names plus
//! values), and its entry in each global index before and after (the
//! entry's partition and sort key). For a read it keeps what came back and
//! whether it was strongly consistent.
//!
//! Pricing (the DynamoDB developer guide: "Read/write capacity mode",
//! "Item sizes and formats", "Global secondary indexes: writes", "Amazon
//! DynamoDB Transactions: How it works"):
//! - a standard write: 1 WRU per KB (rounded up) of the larger of the item
//!   before and after; a delete, of the item before;
//! - an item in a TransactWriteItems: 2 WRU per KB, ConditionCheck included
//!   (priced as a write of the item it checks: conservative);
//! - an index entry: 1 write when created or removed, 2 when its key
//!   changes (delete + put), 1 when what the index projects changes under
//!   an unchanged key (any attribute for ALL, the listed ones for INCLUDE,
//!   none otherwise); each per KB of the entry (what it projects plus 100
//!   bytes);
//!   priced as standard writes (the guide does not say index writes of a
//!   transaction are doubled; `index_wru` is shown apart so either reading
//!   can be made). A global index's writes land on the index's partition
//!   (the entry's partition key), not the item's;
//! - a read: 1 RRU per 4 KB (rounded up, a Query's items summed) when
//!   strongly consistent, half when eventually; a GetItem that finds nothing
//!   still costs the minimum.
//!
//! Limits (`../shared/scale.md`, with their pages): 1,000 WCU/s per
//! partition, of the table and of each global index; an item is at most
//! 400 KB.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use cruddur_devkit::net::{read_body, serve, HttpResponse, Upstream};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// DynamoDB's overhead per index entry.
const INDEX_ENTRY_OVERHEAD: u64 = 100;
/// Write units a partition serves per second.
pub const PARTITION_WCU_PER_SECOND: f64 = 1000.0;
/// The largest item DynamoDB stores.
pub const MAX_ITEM_BYTES: u64 = 400 * 1024;

/// One item a request touched.
#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    /// The API operation (`PutItem`, `TransactWriteItems`, `Query`...).
    pub operation: String,
    pub kind: Kind,
    pub pk: String,
    pub sk: String,
    /// Bytes before and after (0: absent). For a read, the bytes returned.
    pub before: u64,
    pub after: u64,
    /// The item's entry in each global index (writes only).
    pub entries: Vec<IndexEntry>,
    /// Whether the item is different afterwards (a cancelled transaction,
    /// a failed condition or a ConditionCheck leave it as it was).
    pub changed: bool,
}

/// An item's entry in one index, before and after a write: (partition key,
/// sort key) when the item carries both; the entry's bytes (what the index
/// projects of the item) and whether they changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub index: &'static str,
    pub before: Option<(String, String)>,
    pub after: Option<(String, String)>,
    pub before_bytes: u64,
    pub after_bytes: u64,
    /// Whether the projected attributes differ (an INCLUDE index is not
    /// written when only attributes it does not carry change).
    pub changed: bool,
}

impl IndexEntry {
    fn of(index: cruddur_core::store::GlobalIndex, before: &Value, after: &Value) -> IndexEntry {
        let key = |item: &Value| {
            let (p, k) = (item.get(index.partition_key)?, item.get(index.sort_key)?);
            Some((s(p), s(k)))
        };
        // What the entry carries: the table's keys, the index's, and the
        // projected attributes (all of them for ALL).
        let projected = |item: &Value| -> Value {
            match (index.projection.attributes(), item.as_object()) {
                (None, _) | (_, None) => item.clone(),
                (Some(included), Some(map)) => {
                    let keys = ["pk", "sk", index.partition_key, index.sort_key];
                    Value::Object(
                        map.iter()
                            .filter(|(name, _)| keys.contains(&name.as_str()) || included.contains(&name.as_str()))
                            .map(|(name, v)| (name.clone(), v.clone()))
                            .collect(),
                    )
                }
            }
        };
        let (b, a) = (projected(before), projected(after));
        IndexEntry {
            index: index.name,
            before: key(before),
            after: key(after),
            before_bytes: item_size(&b),
            after_bytes: item_size(&a),
            changed: b != a,
        }
    }

    /// The index writes of this entry by the rules above, and the index
    /// partition they land on.
    fn writes(&self, a: &Access) -> Vec<(String, f64)> {
        let entry = |bytes: u64| kb(bytes + INDEX_ENTRY_OVERHEAD);
        let at = |k: &Option<(String, String)>| format!("{}:{}", self.index, k.as_ref().map_or("", |k| k.0.as_str()));
        let (before, after) = (self.before_bytes, self.after_bytes);
        match (&self.before, &self.after) {
            (None, None) => vec![],
            _ if !a.changed || !self.changed => vec![],
            (None, Some(_)) => vec![(at(&self.after), entry(after))],
            (Some(_), None) => vec![(at(&self.before), entry(before))],
            (Some(x), Some(y)) if x == y => vec![(at(&self.after), entry(before.max(after)))],
            (Some(_), Some(_)) => vec![(at(&self.before), entry(before)), (at(&self.after), entry(after))],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Write,
    TransactionalWrite,
    ConditionCheck,
    StrongRead,
    EventualRead,
}

/// Capacity of a list of accesses, by AWS's rules.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Cost {
    pub wru: f64,
    pub index_wru: f64,
    pub rru: f64,
}

impl std::ops::AddAssign for Cost {
    fn add_assign(&mut self, o: Cost) {
        self.wru += o.wru;
        self.index_wru += o.index_wru;
        self.rru += o.rru;
    }
}

fn kb(bytes: u64) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

/// What one access costs.
pub fn price(a: &Access) -> Cost {
    let larger = a.before.max(a.after);
    let mut cost = Cost::default();
    match a.kind {
        Kind::Write => cost.wru = kb(larger),
        Kind::TransactionalWrite | Kind::ConditionCheck => cost.wru = 2.0 * kb(larger),
        Kind::StrongRead => cost.rru = a.after.div_ceil(4096).max(1) as f64,
        Kind::EventualRead => cost.rru = 0.5 * a.after.div_ceil(4096).max(1) as f64,
    }
    if matches!(a.kind, Kind::Write | Kind::TransactionalWrite) {
        cost.index_wru = a.entries.iter().flat_map(|e| e.writes(a)).map(|(_, w)| w).sum();
    }
    cost
}

pub fn total(accesses: &[Access]) -> Cost {
    let mut cost = Cost::default();
    for a in accesses {
        cost += price(a);
    }
    cost
}

/// An item's size by DynamoDB's rules ("Item sizes and formats"): each
/// attribute's name in UTF-8 bytes plus its value's size.
pub fn item_size(item: &Value) -> u64 {
    item.as_object().map(|m| m.iter().map(|(name, v)| name.len() as u64 + value_size(v)).sum()).unwrap_or(0)
}

fn value_size(v: &Value) -> u64 {
    let Some((kind, inner)) = v.as_object().and_then(|m| m.iter().next()) else { return 0 };
    let number = |s: &str| {
        let digits = s.trim_start_matches('-').replace('.', "");
        let significant = digits.trim_start_matches('0').trim_end_matches('0').len().max(1) as u64;
        significant.div_ceil(2) + 1
    };
    match kind.as_str() {
        "S" => inner.as_str().map_or(0, |s| s.len() as u64),
        "N" => inner.as_str().map_or(0, number),
        "B" => inner.as_str().map_or(0, |s| (s.len() as u64 * 3) / 4),
        "BOOL" | "NULL" => 1,
        "SS" => inner.as_array().map_or(0, |a| a.iter().filter_map(Value::as_str).map(|s| s.len() as u64).sum()),
        "NS" => inner.as_array().map_or(0, |a| a.iter().filter_map(Value::as_str).map(number).sum()),
        "L" => 3 + inner.as_array().map_or(0, |a| a.iter().map(|e| 1 + value_size(e)).sum()),
        "M" => 3 + inner.as_object().map_or(0, |m| m.iter().map(|(k, e)| 1 + k.len() as u64 + value_size(e)).sum()),
        _ => 0,
    }
}

fn key_of(item: &Value) -> Value {
    json!({"pk": item["pk"], "sk": item["sk"]})
}

fn s(v: &Value) -> String {
    v["S"].as_str().unwrap_or("").to_owned()
}

/// The recording proxy.
pub struct Recorder {
    pub url: String,
    log: Arc<Mutex<Vec<Access>>>,
}

impl Recorder {
    pub async fn start(upstream: &str) -> std::io::Result<Recorder> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let log = Arc::new(Mutex::new(Vec::new()));
        let upstream = Upstream::new(upstream).map_err(std::io::Error::other)?;
        serve(listener, (log.clone(), upstream), record);
        Ok(Recorder { url, log })
    }

    /// The accesses since the last call.
    pub fn take(&self) -> Vec<Access> {
        self.log.lock().map(|mut l| std::mem::take(&mut *l)).unwrap_or_default()
    }
}

/// A write's items: (table, key, kind).
fn written(operation: &str, body: &Value) -> Vec<(String, Value, Kind)> {
    let table = |v: &Value| v["TableName"].as_str().unwrap_or("").to_owned();
    match operation {
        "PutItem" => vec![(table(body), key_of(&body["Item"]), Kind::Write)],
        "UpdateItem" | "DeleteItem" => vec![(table(body), body["Key"].clone(), Kind::Write)],
        "TransactWriteItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|action| {
                let (name, a) = action.as_object()?.iter().next()?;
                let key = if name == "Put" { key_of(&a["Item"]) } else { a["Key"].clone() };
                let kind = if name == "ConditionCheck" { Kind::ConditionCheck } else { Kind::TransactionalWrite };
                Some((table(a), key, kind))
            })
            .collect(),
        "BatchWriteItem" => body["RequestItems"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(t, requests)| {
                requests.as_array().into_iter().flatten().map(move |r| {
                    let key = if r["PutRequest"].is_object() {
                        key_of(&r["PutRequest"]["Item"])
                    } else {
                        r["DeleteRequest"]["Key"].clone()
                    };
                    (t.clone(), key, Kind::Write)
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The item at `key`, straight from the engine (not recorded).
async fn current(upstream: &Upstream, parts: &hyper::http::request::Parts, table: &str, key: &Value) -> Value {
    let body = json!({"TableName": table, "Key": key, "ConsistentRead": true}).to_string();
    let mut parts = parts.clone();
    parts.headers.insert("x-amz-target", hyper::header::HeaderValue::from_static("DynamoDB_20120810.GetItem"));
    parts.headers.remove("content-length");
    parts.headers.remove("x-amz-content-sha256");
    let Ok(answer) = upstream.forward(parts, Bytes::from(body)).await else { return Value::Null };
    let bytes = http_body_util::BodyExt::collect(answer.into_body()).await.map(|b| b.to_bytes()).unwrap_or_default();
    serde_json::from_slice::<Value>(&bytes).map(|v| v["Item"].clone()).unwrap_or(Value::Null)
}

async fn record(
    (log, upstream): (Arc<Mutex<Vec<Access>>>, Upstream),
    _peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<HttpResponse, Infallible> {
    let target = request.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let operation = target.rsplit('.').next().unwrap_or("").to_owned();
    let (parts, body) = request.into_parts();
    let body = read_body(body).await;
    let request_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let items = written(&operation, &request_json);
    let mut befores = Vec::new();
    for (table, key, _) in &items {
        befores.push(current(&upstream, &parts, table, key).await);
    }
    let answer = match upstream.forward(parts.clone(), body).await {
        Ok(answer) => answer,
        Err(_) => {
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            return Ok(response);
        }
    };
    let (answer_parts, answer_body) = answer.into_parts();
    let answer_bytes = http_body_util::BodyExt::collect(answer_body).await.map(|b| b.to_bytes()).unwrap_or_default();
    let answer_json: Value = serde_json::from_slice(&answer_bytes).unwrap_or(Value::Null);
    let mut accesses = Vec::new();
    if !items.is_empty() {
        // A cancelled transaction or a failed condition is still priced: a
        // conservative reading (the guide does not state the charge).
        for ((table, key, kind), before) in items.iter().zip(befores) {
            let after = current(&upstream, &parts, table, key).await;
            accesses.push(Access {
                operation: operation.clone(),
                kind: *kind,
                pk: s(&key["pk"]),
                sk: s(&key["sk"]),
                before: item_size(&before),
                after: if *kind == Kind::ConditionCheck { item_size(&before) } else { item_size(&after) },
                entries: cruddur_core::store::MESSAGES_TABLE
                    .global_indexes
                    .iter()
                    .map(|i| IndexEntry::of(*i, &before, &after))
                    .collect(),
                changed: before != after,
            });
        }
    } else {
        let consistent = request_json["ConsistentRead"].as_bool().unwrap_or(false);
        let kind = if consistent { Kind::StrongRead } else { Kind::EventualRead };
        let read = |pk: String, sk: String, bytes: u64| Access {
            operation: operation.clone(),
            kind,
            pk,
            sk,
            before: 0,
            after: bytes,
            entries: Vec::new(),
            changed: false,
        };
        match operation.as_str() {
            "GetItem" => {
                let key = &request_json["Key"];
                accesses.push(read(s(&key["pk"]), s(&key["sk"]), item_size(&answer_json["Item"])));
            }
            "Query" => {
                let returned = answer_json["Items"].as_array().cloned().unwrap_or_default();
                let bytes = returned.iter().map(item_size).sum();
                let pk = request_json["ExpressionAttributeValues"]
                    .as_object()
                    .and_then(|m| m.values().map(s).find(|v| v.contains('#')))
                    .unwrap_or_default();
                let what = request_json["IndexName"].as_str().map_or("(table)".to_owned(), |i| format!("({i})"));
                accesses.push(read(pk, format!("{} items {what}", returned.len()), bytes));
            }
            "BatchGetItem" => {
                // Every key asked for is a read (one that finds nothing
                // still costs the minimum), consistent as its table's
                // request says.
                let found: Vec<&Value> = answer_json["Responses"]
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.values())
                    .flat_map(|items| items.as_array().into_iter().flatten())
                    .collect();
                for wanted in request_json["RequestItems"].as_object().into_iter().flat_map(|m| m.values()) {
                    let consistent = wanted["ConsistentRead"].as_bool().unwrap_or(false);
                    for key in wanted["Keys"].as_array().into_iter().flatten() {
                        let (pk, sk) = (s(&key["pk"]), s(&key["sk"]));
                        let item = found.iter().find(|i| s(&i["pk"]) == pk && s(&i["sk"]) == sk);
                        let kind = if consistent { Kind::StrongRead } else { Kind::EventualRead };
                        accesses.push(Access { kind, ..read(pk, sk, item.map_or(0, |i| item_size(i))) });
                    }
                }
            }
            _ => {}
        }
    }
    if let Ok(mut l) = log.lock() {
        l.extend(accesses);
    }
    Ok(Response::from_parts(answer_parts, Full::new(answer_bytes)))
}

/// `pk` with the uuids of `roles` replaced by their names, and a shard
/// suffix (`UNREAD#<user>#2`, `LIST#<user>#0`) by `<shard>`.
pub fn label(pk: &str, roles: &[(String, &str)]) -> String {
    let mut out = pk.to_owned();
    for (uuid, name) in roles {
        out = out.replace(uuid.as_str(), &format!("<{name}>"));
    }
    if let Some((head, shard)) = out.rsplit_once('#') {
        if (out.contains("UNREAD#") || out.contains("LIST#")) && shard.parse::<u8>().is_ok() {
            out = format!("{head}#<shard>");
        }
    }
    out
}

/// Whether a labelled partition key is one shard of [`cruddur_core::store::SHARDS`].
pub fn is_sharded(label: &str) -> bool {
    label.ends_with("#<shard>")
}

/// The write units per message that land on each partition key, for the
/// accesses of one message: the table's writes on the item's partition, a
/// global index's on the index's partition (`index:partition key`).
pub fn wcu_by_partition(accesses: &[Access], roles: &[(String, &str)]) -> BTreeMap<String, f64> {
    let mut by = BTreeMap::new();
    for a in accesses {
        let c = price(a);
        if c.wru > 0.0 {
            *by.entry(label(&a.pk, roles)).or_insert(0.0) += c.wru;
        }
        if matches!(a.kind, Kind::Write | Kind::TransactionalWrite) {
            for (partition, wru) in a.entries.iter().flat_map(|e| e.writes(a)) {
                *by.entry(label(&partition, roles)).or_insert(0.0) += wru;
            }
        }
    }
    by
}

/// The sustained messages per second before the first partition reaches
/// its write limit, and which partition that is. With `spread`, a sharded
/// partition takes 1/SHARDS of the messages (one recipient, many
/// conversations); without, all of them (one conversation: one shard).
pub fn partition_bound(by: &BTreeMap<String, f64>, only: impl Fn(&str) -> bool, spread: bool) -> (f64, String) {
    let shards = f64::from(cruddur_core::store::SHARDS);
    by.iter()
        .filter(|(pk, _)| only(pk))
        .map(|(pk, wcu)| {
            let per_message = if spread && is_sharded(pk) { wcu / shards } else { *wcu };
            (PARTITION_WCU_PER_SECOND / per_message, pk.clone())
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap_or((f64::INFINITY, String::new()))
}

/// The accesses as JSON rows (for results.json and the table).
pub fn rows(accesses: &[Access], roles: &[(String, &str)]) -> Value {
    Value::Array(
        accesses
            .iter()
            .map(|a| {
                let c = price(a);
                json!({
                    "operation": a.operation,
                    "kind": format!("{:?}", a.kind),
                    "pk": label(&a.pk, roles),
                    "sk": label(&a.sk, roles),
                    "bytes_before": a.before,
                    "bytes_after": a.after,
                    "index_moves": a.entries.iter().filter(|e| e.before.is_some() && e.after.is_some() && e.before != e.after).count(),
                    "wru": c.wru, "index_wru": c.index_wru, "rru": c.rru,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(kind: Kind, before: u64, after: u64, ib: Option<&str>, ia: Option<&str>) -> Access {
        let key = |k: Option<&str>| k.map(|k| ("LIST#u#0".to_owned(), k.to_owned()));
        Access {
            operation: "X".into(),
            kind,
            pk: "P".into(),
            sk: "S".into(),
            before,
            after,
            entries: vec![IndexEntry {
                index: "i",
                before: key(ib),
                after: key(ia),
                before_bytes: before,
                after_bytes: after,
                changed: true,
            }],
            changed: true,
        }
    }

    #[test]
    fn item_sizes_follow_the_documented_rules() {
        let item =
            json!({"pk": {"S": "MSG#ab"}, "n": {"N": "12345"}, "set": {"SS": ["ab", "cde"]}, "b": {"BOOL": true}});
        // pk: 2 + 6; n: 1 + (5 digits -> 3 + 1); set: 3 + 5; b: 1 + 1.
        assert_eq!(item_size(&item), 8 + 5 + 8 + 2);
        assert_eq!(item_size(&json!({"m": {"M": {"a": {"S": "xy"}}}})), 1 + 3 + 1 + 1 + 2);
    }

    #[test]
    fn writes_are_priced_per_kb_of_the_larger_image_and_double_in_a_transaction() {
        assert_eq!(price(&write(Kind::Write, 0, 300, None, None)).wru, 1.0);
        assert_eq!(price(&write(Kind::Write, 2100, 300, None, None)).wru, 3.0);
        assert_eq!(price(&write(Kind::TransactionalWrite, 900, 1100, None, None)).wru, 4.0);
        assert_eq!(price(&write(Kind::ConditionCheck, 500, 500, None, None)).wru, 2.0);
    }

    #[test]
    fn a_moved_index_entry_costs_a_delete_and_a_put() {
        let moved = price(&write(Kind::TransactionalWrite, 400, 400, Some("a"), Some("b")));
        assert_eq!(moved.index_wru, 2.0);
        assert_eq!(price(&write(Kind::Write, 400, 400, Some("a"), Some("a"))).index_wru, 1.0);
        assert_eq!(price(&write(Kind::Write, 0, 400, None, Some("a"))).index_wru, 1.0);
        assert_eq!(price(&write(Kind::Write, 400, 400, None, None)).index_wru, 0.0);
        let untouched = Access { changed: false, ..write(Kind::TransactionalWrite, 400, 400, Some("a"), Some("a")) };
        assert_eq!(price(&untouched).index_wru, 0.0, "a cancelled write moves no entry");
        let mut unprojected = write(Kind::Write, 400, 400, Some("a"), Some("a"));
        unprojected.entries[0].changed = false;
        assert_eq!(price(&unprojected).index_wru, 0.0, "a change the index does not project writes no entry");
    }

    #[test]
    fn index_writes_land_on_the_index_partition_and_shards_share_the_load() {
        let moved = write(Kind::TransactionalWrite, 400, 400, Some("a"), Some("b"));
        let roles = [("u".to_owned(), "recipient")];
        let by = wcu_by_partition(&[moved], &roles);
        assert_eq!(by.get("P"), Some(&2.0));
        assert_eq!(by.get("i:LIST#<recipient>#<shard>"), Some(&2.0));
        let (one_user, _) = partition_bound(&by, |pk| pk.contains("<recipient>"), true);
        assert_eq!(one_user, 1000.0 / (2.0 / f64::from(cruddur_core::store::SHARDS)));
        let (one_conversation, _) = partition_bound(&by, |_| true, false);
        assert_eq!(one_conversation, 500.0);
    }

    #[test]
    fn reads_are_priced_per_4_kb_and_halved_when_eventually_consistent() {
        let read = |kind, bytes| Access { kind, after: bytes, ..write(kind, 0, 0, None, None) };
        assert_eq!(price(&read(Kind::StrongRead, 0)).rru, 1.0);
        assert_eq!(price(&read(Kind::StrongRead, 4097)).rru, 2.0);
        assert_eq!(price(&read(Kind::EventualRead, 100)).rru, 0.5);
    }
}
