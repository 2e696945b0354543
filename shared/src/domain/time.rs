//! Time stamps and the time-ordered, unique key of a message.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use super::ids::MessageUuid;

/// `2026-11-24T09:15:02.123456Z`: fixed width, so the text sorts as the time
/// does (for years 0000-9999), and microseconds, so it round-trips exactly.
const FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a time stamp of the form 2026-11-24T09:15:02.123456Z")]
pub struct InvalidTimestamp;

/// A UTC instant with microsecond precision, written as ISO-8601.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    /// Truncates to microseconds and converts to UTC.
    pub fn from_datetime(t: OffsetDateTime) -> Self {
        let t = t.to_offset(UtcOffset::UTC);
        let micros = t.microsecond();
        // Replacing the sub-second part with a whole number of microseconds
        // cannot fail; fall back to whole seconds if it ever did.
        let t = t.replace_microsecond(micros).unwrap_or(t);
        Self(t)
    }

    /// The time `micros` microseconds after the Unix epoch; `None` when it is
    /// beyond what the date-time type holds. For tests and seeding.
    pub fn from_unix_micros(micros: i64) -> Option<Self> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000).ok().map(Self::from_datetime)
    }

    /// Whole seconds since the Unix epoch (DynamoDB's TTL unit).
    pub fn unix_seconds(&self) -> i64 {
        self.0.unix_timestamp()
    }

    pub fn unix_micros(&self) -> i64 {
        // Years 0000-9999 fit easily in i64 microseconds.
        (self.0.unix_timestamp_nanos() / 1000) as i64
    }

    pub fn parse(s: &str) -> Result<Self, InvalidTimestamp> {
        let t = time::PrimitiveDateTime::parse(s, FORMAT).map_err(|_| InvalidTimestamp)?;
        let t = t.assume_utc();
        if !(0..=9999).contains(&t.year()) {
            return Err(InvalidTimestamp);
        }
        Ok(Self(t))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.format(FORMAT) {
            Ok(s) => f.write_str(&s),
            Err(_) => Err(fmt::Error),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl TryFrom<String> for Timestamp {
    type Error = InvalidTimestamp;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Timestamp> for String {
    fn from(t: Timestamp) -> String {
        t.to_string()
    }
}

/// Where a message sits in its message group: its time, then its uuid.
///
/// Ordered by time first, so sorting keys sorts messages chronologically; the
/// uuid makes two messages written at the same microsecond two different keys
/// (the original design keyed by the bare time stamp, and the second message
/// silently replaced the first).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageKey {
    pub at: Timestamp,
    pub uuid: MessageUuid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a message key")]
pub struct InvalidMessageKey;

impl MessageKey {
    /// The key of the message whose uuid is `uuid`, when the uuid carries
    /// its time ([`MessageUuid::for_time`]).
    pub fn of(uuid: MessageUuid) -> Option<Self> {
        uuid.time().map(|at| MessageKey { at, uuid })
    }

    pub fn parse(s: &str) -> Result<Self, InvalidMessageKey> {
        let (at, uuid) = s.split_once('#').ok_or(InvalidMessageKey)?;
        Ok(Self {
            at: Timestamp::parse(at).map_err(|_| InvalidMessageKey)?,
            uuid: MessageUuid::parse(uuid).map_err(|_| InvalidMessageKey)?,
        })
    }
}

impl fmt::Display for MessageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.at, self.uuid)
    }
}

impl fmt::Debug for MessageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageKey({self})")
    }
}

impl TryFrom<String> for MessageKey {
    type Error = InvalidMessageKey;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<MessageKey> for String {
    fn from(k: MessageKey) -> String {
        k.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_text_at_microsecond_precision() {
        let t = Timestamp::now();
        let text = t.to_string();
        assert_eq!(text.len(), "2026-11-24T09:15:02.123456Z".len());
        assert!(text.ends_with('Z'));
        assert_eq!(Timestamp::parse(&text).unwrap(), t);
    }

    #[test]
    fn timestamp_text_sorts_like_time() {
        let a = Timestamp::parse("2019-12-31T23:59:59.999999Z").unwrap();
        let b = Timestamp::parse("2020-01-01T00:00:00.000000Z").unwrap();
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
    }

    #[test]
    fn malformed_timestamps_are_refused() {
        for s in [
            "",
            "2026-11-24",
            "2026-11-24T09:15:02Z",
            "2026-11-24T09:15:02.123456+00:00",
            "2026-13-24T09:15:02.123456Z",
            "2026-11-24T09:15:02.123456Zjunk",
        ] {
            assert!(Timestamp::parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn message_keys_at_the_same_time_differ_and_order_by_time_first() {
        let at = Timestamp::parse("2026-11-24T09:15:02.000000Z").unwrap();
        let a = MessageKey { at, uuid: MessageUuid::random() };
        let b = MessageKey { at, uuid: MessageUuid::random() };
        assert_ne!(a.to_string(), b.to_string());
        let later = MessageKey {
            at: Timestamp::parse("2026-11-24T09:15:02.000001Z").unwrap(),
            uuid: MessageUuid::parse("00000000-0000-0000-0000-000000000000").unwrap(),
        };
        assert!(a < later && b < later);
        assert!(a.to_string() < later.to_string());
        assert_eq!(MessageKey::parse(&a.to_string()).unwrap(), a);
        assert!(MessageKey::parse("2026-11-24T09:15:02.000000Z").is_err());
        assert!(MessageKey::parse("2026-11-24T09:15:02.000000Z#nope").is_err());
    }
}
