//! Every storage key. Key prefixes appear here and nowhere else.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::domain::{CognitoSub, ConnectionId, GroupUuid, Handle, IdempotencyKey, MessageKey, UserUuid};

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

/// `COGNITO#<sub>` / `COGNITO`: resolves the caller's `sub` in one GetItem.
pub(crate) fn cognito(sub: &CognitoSub) -> Key {
    Key { pk: format!("COGNITO#{sub}"), sk: "COGNITO".into() }
}

/// The partition of `owner`'s group rows.
pub(crate) fn groups_of(owner: UserUuid) -> String {
    format!("GRP#{owner}")
}

/// `GRP#<owner>` / `<group>`: `owner`'s view of a message group. Its existence
/// is the membership.
pub(crate) fn group_row(owner: UserUuid, group: GroupUuid) -> Key {
    Key { pk: groups_of(owner), sk: group.to_string() }
}

/// `PAIR#<smaller uuid>#<larger uuid>` / `PAIR`: at most one message group per pair.
pub(crate) fn pair(a: UserUuid, b: UserUuid) -> Key {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    Key { pk: format!("PAIR#{lo}#{hi}"), sk: "PAIR".into() }
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

/// `UNREAD#<owner>` / `UNREAD`: the owner's unread totals, read in one GetItem.
pub(crate) fn unread(owner: UserUuid) -> Key {
    Key { pk: format!("UNREAD#{owner}"), sk: "UNREAD".into() }
}

/// `IDEMPOTENCY#<caller>#<key>` / `IDEMPOTENCY`: a caller's Idempotency-Key
/// and the send it answered (expires after a day).
pub(crate) fn idempotency(caller: UserUuid, key: &IdempotencyKey) -> Key {
    Key { pk: format!("IDEMPOTENCY#{caller}#{}", key.as_str()), sk: "IDEMPOTENCY".into() }
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
    fn handle_key_ignores_case() {
        let a = Handle::parse("Bayko").unwrap();
        let b = Handle::parse("bayko").unwrap();
        assert_eq!(handle(&a), handle(&b));
    }
}
