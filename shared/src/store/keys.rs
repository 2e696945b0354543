//! Every storage key. Key prefixes appear here and nowhere else.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::domain::{CognitoSub, ConnectionId, GroupUuid, Handle, IdempotencyKey, MessageKey, Timestamp, UserUuid};

/// The primary key of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn into_map(self) -> HashMap<String, AttributeValue> {
        HashMap::from([("pk".to_owned(), AttributeValue::S(self.pk)), ("sk".to_owned(), AttributeValue::S(self.sk))])
    }
}

/// `USER#<uuid>` / `PROFILE`: a user's profile.
pub(crate) fn profile(user: UserUuid) -> Key {
    Key { pk: format!("USER#{user}"), sk: "PROFILE".into() }
}

/// `HANDLE#<lower-cased handle>` / `HANDLE`: makes handles unique, ignoring case.
pub(crate) fn handle(handle: &Handle) -> Key {
    Key { pk: format!("HANDLE#{}", handle.normalized()), sk: "HANDLE".into() }
}

/// `RESERVE#<lower-cased handle>` / `RESERVE`: a handle held for one sign-up
/// between PreSignUp and PostConfirmation (expires unconfirmed).
pub(crate) fn reservation(handle: &Handle) -> Key {
    Key { pk: format!("RESERVE#{}", handle.normalized()), sk: "RESERVE".into() }
}

/// `HELD#<SHA-256 of the lower-cased handle>` / `HELD`: a deleted account's
/// handle, held from sign-ups for a while; a hash, so the table names no
/// one who left.
pub(crate) fn held_handle(handle: &Handle) -> Key {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(handle.normalized().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Key { pk: format!("HELD#{hex}"), sk: "HELD".into() }
}

/// The partition of deletions under way: `LEAVING` / `<user uuid>`.
pub(crate) const LEAVING: &str = "LEAVING";

pub(crate) fn leaving(user: UserUuid) -> Key {
    Key { pk: LEAVING.into(), sk: user.to_string() }
}

/// `COGNITO#<sub>` / `COGNITO`: resolves the caller's `sub` in one GetItem.
pub(crate) fn cognito(sub: &CognitoSub) -> Key {
    Key { pk: format!("COGNITO#{sub}"), sk: "COGNITO".into() }
}

/// How many ways a user's entries in each list index are spread
/// (`LIST#<user>#<shard>`): a message moves its conversation's entry (2
/// index writes: delete and put), so one unsharded list would take 500
/// messages/s. A conversation always lands in the same shard ([`shard_of`]);
/// a list page queries every shard of both indexes. 3: 3 x a partition's
/// 1,000 WCU/s / 2 = 1,500 messages/s to one user, above what their unread
/// index partition takes (1,000, one write a message; docs/design.md, "Hot
/// keys").
pub const SHARDS: u8 = 3;

/// The shard of a message group: a hash of its uuid (fixed uuids of seed data
/// spread as well as random ones).
pub(crate) fn shard_of(group: GroupUuid) -> u8 {
    use sha2::{Digest, Sha256};
    let digest: [u8; 32] = Sha256::digest(group.to_string().as_bytes()).into();
    let [first, ..] = digest;
    first % SHARDS
}

/// `CONV#<group>` / `CONV`: a message group's one item: both members (the
/// membership), the latest message (the summary), each member's unread
/// count, and the keys of both members' list entries.
pub(crate) fn conversation(group: GroupUuid) -> Key {
    Key { pk: format!("CONV#{group}"), sk: "CONV".into() }
}

/// The message group of a conversation item's partition key (`CONV#<group>`).
pub(crate) fn group_of_conversation(pk: &str) -> Option<GroupUuid> {
    GroupUuid::parse(pk.strip_prefix("CONV#")?).ok()
}

/// The list-index partition that holds `member`'s entry for a group of
/// `shard`: `LIST#<member>#<shard>`.
pub(crate) fn list_of(member: UserUuid, shard: u8) -> String {
    format!("LIST#{member}#{shard}")
}

/// `PAIR#<smaller uuid>#<larger uuid>` / `PAIR`: at most one message group per pair.
pub(crate) fn pair(a: UserUuid, b: UserUuid) -> Key {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    Key { pk: format!("PAIR#{lo}#{hi}"), sk: "PAIR".into() }
}

/// The partition of `blocker`'s block list: `BLOCK#<blocker>`.
pub(crate) fn blocks_of(blocker: UserUuid) -> String {
    format!("BLOCK#{blocker}")
}

/// `BLOCK#<blocker>` / `<blocked_at>#<blocked>`: one entry of a block list,
/// in the order they were made (the pair item holds the time, so the key is
/// known when unblocking).
pub(crate) fn block(blocker: UserUuid, at: Timestamp, blocked: UserUuid) -> Key {
    Key { pk: blocks_of(blocker), sk: format!("{at}#{blocked}") }
}

/// The prefix of every message's partition key: the table stream's filter
/// (template.yaml) passes exactly the records whose key starts with it.
pub const MESSAGE_PREFIX: &str = "MSG#";

/// The partition of a message group's messages.
pub(crate) fn messages_of(group: GroupUuid) -> String {
    format!("{MESSAGE_PREFIX}{group}")
}

/// `MSG#<group>` / `<created_at>#<message uuid>`: one message, time-ordered.
pub(crate) fn message(group: GroupUuid, key: MessageKey) -> Key {
    Key { pk: messages_of(group), sk: key.to_string() }
}

/// The unread-index partition of `owner`'s conversations with unread
/// messages (`unread_of_a`/`unread_of_b` of a conversation item): `UNREAD#<owner>`.
pub(crate) fn unread_of(owner: UserUuid) -> String {
    format!("UNREAD#{owner}")
}

/// The shapes before issue 26, read only by the migration: `GRP#<owner>` /
/// `<group>` (one row per member), and `UNREAD#<owner>` / `UNREAD` (totals,
/// later sharded as `UNREAD#<owner>#<shard>` / `UNREAD`).
#[cfg(feature = "operator")]
pub(crate) mod legacy {
    pub const GROUP_ROW_PREFIX: &str = "GRP#";
    pub const TOTALS_PREFIX: &str = "UNREAD#";
    pub const TOTALS_SK: &str = "UNREAD";
}

/// `IDEMPOTENCY#<caller>#<key>` / `IDEMPOTENCY`: a caller's Idempotency-Key
/// and the send it answered (expires after a day).
pub(crate) fn idempotency(caller: UserUuid, key: &IdempotencyKey) -> Key {
    Key { pk: format!("IDEMPOTENCY#{caller}#{}", key.as_str()), sk: "IDEMPOTENCY".into() }
}

/// `TYPING#<group>#<user>` / `TYPING`: until when `user`'s typing in
/// `group` is not forwarded again (expires within a minute).
pub(crate) fn typing(group: GroupUuid, user: UserUuid) -> Key {
    Key { pk: format!("TYPING#{group}#{user}"), sk: "TYPING".into() }
}

/// The partition of `owner`'s open WebSocket connections.
pub(crate) fn connections_of(owner: UserUuid) -> String {
    format!("CONN#{owner}")
}

/// `CONN#<owner>` / `<connection id>`: one open WebSocket connection of
/// `owner` (expires after API Gateway's connection limit).
pub(crate) fn connection(owner: UserUuid, id: &ConnectionId) -> Key {
    Key { pk: connections_of(owner), sk: id.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_key_is_symmetric() {
        let (a, b) = (UserUuid::random(), UserUuid::random());
        assert_eq!(pair(a, b), pair(b, a));
    }

    #[test]
    fn shards_spread_groups_and_stay_in_range() {
        let mut seen = [0u32; SHARDS as usize];
        for _ in 0..300 {
            seen[usize::from(shard_of(GroupUuid::random()))] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
    }

    #[test]
    fn handle_key_ignores_case() {
        let a = Handle::parse("Bayko").unwrap();
        let b = Handle::parse("bayko").unwrap();
        assert_eq!(handle(&a), handle(&b));
    }
}
