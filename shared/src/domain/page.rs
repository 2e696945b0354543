//! Pagination: page sizes and opaque cursors bound to the list they came from.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::ids::{GroupUuid, UserUuid};
use super::time::{MessageKey, Timestamp};

pub const DEFAULT_PAGE_LIMIT: u8 = 20;
pub const MAX_PAGE_LIMIT: u8 = 100;
/// Cursors we issue are about 150 characters; anything much longer is not one.
const MAX_CURSOR_LEN: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("limit must be a whole number from 1 to {MAX_PAGE_LIMIT}")]
pub struct InvalidLimit;

/// How many items one page holds: 1 to 100, 20 when not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u8);

impl PageLimit {
    /// Parses the `limit` query parameter; `None` means the default.
    pub fn parse(s: Option<&str>) -> Result<Self, InvalidLimit> {
        match s {
            None => Ok(Self::default()),
            Some(s) => {
                // Only plain decimal digits: no sign, no white space, no "1e2".
                if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(InvalidLimit);
                }
                let n: u8 = s.parse().map_err(|_| InvalidLimit)?;
                Self::new(n)
            }
        }
    }

    pub fn new(n: u8) -> Result<Self, InvalidLimit> {
        if (1..=MAX_PAGE_LIMIT).contains(&n) {
            Ok(Self(n))
        } else {
            Err(InvalidLimit)
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self(DEFAULT_PAGE_LIMIT)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a cursor this service issued for this list")]
pub struct InvalidCursor;

/// A position in one list, handed to the client as an opaque string.
///
/// A cursor names the list it belongs to (whose groups, or which
/// message group), and the store refuses it for any other list. Positions are
/// typed and re-validated on decoding, so a forged cursor can at most move
/// within the caller's own list: it never reaches another partition. No
/// secret is needed for that, so none is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// In `owner`'s list of message groups, after the group `group` whose
    /// latest message has key `activity`.
    MessageGroups { owner: UserUuid, activity: MessageKey, group: GroupUuid },
    /// In the message group `group`, before (older than) the message `before`.
    Messages { group: GroupUuid, before: MessageKey },
    /// In `owner`'s block list, after the block of `blocked` made at `at`
    /// (newest first: before it).
    Blocks { owner: UserUuid, at: Timestamp, blocked: UserUuid },
    /// In `owner`'s export: in their conversations as member `b` (else a),
    /// in the message group `group` (none: before the first), after the
    /// message `after` (none: before its first).
    Export { owner: UserUuid, b: bool, group: Option<GroupUuid>, after: Option<MessageKey> },
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "l", deny_unknown_fields)]
enum Wire {
    #[serde(rename = "g")]
    Groups { o: UserUuid, a: MessageKey, g: GroupUuid },
    #[serde(rename = "m")]
    Messages { g: GroupUuid, b: MessageKey },
    #[serde(rename = "b")]
    Blocks { o: UserUuid, t: Timestamp, u: UserUuid },
    #[serde(rename = "x")]
    Export { o: UserUuid, b: bool, g: Option<GroupUuid>, m: Option<MessageKey> },
}

impl Cursor {
    pub fn encode(&self) -> String {
        let wire = match *self {
            Cursor::MessageGroups { owner, activity, group } => Wire::Groups { o: owner, a: activity, g: group },
            Cursor::Messages { group, before } => Wire::Messages { g: group, b: before },
            Cursor::Blocks { owner, at, blocked } => Wire::Blocks { o: owner, t: at, u: blocked },
            Cursor::Export { owner, b, group, after } => Wire::Export { o: owner, b, g: group, m: after },
        };
        // Serialising these plain types to JSON cannot fail.
        let json = serde_json::to_vec(&wire).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode(s: &str) -> Result<Self, InvalidCursor> {
        if s.is_empty() || s.len() > MAX_CURSOR_LEN {
            return Err(InvalidCursor);
        }
        let json = URL_SAFE_NO_PAD.decode(s).map_err(|_| InvalidCursor)?;
        let wire: Wire = serde_json::from_slice(&json).map_err(|_| InvalidCursor)?;
        Ok(match wire {
            Wire::Groups { o, a, g } => Cursor::MessageGroups { owner: o, activity: a, group: g },
            Wire::Messages { g, b } => Cursor::Messages { group: g, before: b },
            Wire::Blocks { o, t, u } => Cursor::Blocks { owner: o, at: t, blocked: u },
            Wire::Export { o, b, g, m } => Cursor::Export { owner: o, b, group: g, after: m },
        })
    }
}

/// One page of a list, and where the next one starts if there is more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

/// Which page of a list to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: PageLimit,
    pub cursor: Option<Cursor>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MessageUuid, Timestamp};

    fn key() -> MessageKey {
        MessageKey { at: Timestamp::now(), uuid: MessageUuid::random() }
    }

    #[test]
    fn limits() {
        assert_eq!(PageLimit::parse(None).unwrap().get(), 20);
        assert_eq!(PageLimit::parse(Some("1")).unwrap().get(), 1);
        assert_eq!(PageLimit::parse(Some("100")).unwrap().get(), 100);
        assert_eq!(PageLimit::parse(Some("007")).unwrap().get(), 7);
        for bad in ["0", "-1", "101", "abc", "", " 5", "5 ", "+5", "1e2", "256", "99999999999999999999"] {
            assert_eq!(PageLimit::parse(Some(bad)), Err(InvalidLimit), "{bad:?}");
        }
    }

    #[test]
    fn cursors_round_trip() {
        for c in [
            Cursor::MessageGroups { owner: UserUuid::random(), activity: key(), group: GroupUuid::random() },
            Cursor::Messages { group: GroupUuid::random(), before: key() },
            Cursor::Blocks { owner: UserUuid::random(), at: Timestamp::now(), blocked: UserUuid::random() },
            Cursor::Export { owner: UserUuid::random(), b: true, group: Some(GroupUuid::random()), after: Some(key()) },
        ] {
            let s = c.encode();
            assert!(s.len() < MAX_CURSOR_LEN);
            assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(Cursor::decode(&s).unwrap(), c);
        }
    }

    #[test]
    fn garbage_and_truncated_cursors_are_refused() {
        let good = Cursor::Messages { group: GroupUuid::random(), before: key() }.encode();
        let forged_key = URL_SAFE_NO_PAD.encode(br#"{"l":"m","g":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399","b":"MSG#x"}"#);
        let extra_field = URL_SAFE_NO_PAD.encode(
            br#"{"l":"m","g":"5ae290ed-55d1-47a0-bc6d-fe2bc2700399","b":"2026-11-24T09:15:02.000000Z#5ae290ed-55d1-47a0-bc6d-fe2bc2700399","pk":"x"}"#,
        );
        for bad in [
            "",
            "garbage!",
            "e30",
            &good[..good.len() - 3],
            &format!("{good}x"),
            &forged_key,
            &extra_field,
            &"A".repeat(600),
        ] {
            assert_eq!(Cursor::decode(bad), Err(InvalidCursor), "{bad:?}");
        }
    }
}
