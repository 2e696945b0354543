//! Identifiers: users, message groups, messages, Cognito subjects.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A string that is not a valid identifier of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind}")]
pub struct InvalidId {
    pub kind: &'static str,
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Uuid);

        impl $name {
            /// A new random (v4) identifier.
            pub fn random() -> Self {
                Self(Uuid::new_v4())
            }

            /// Parses the hyphenated form (`8-4-4-4-12` hex digits, either case).
            /// Other forms the `uuid` crate knows (simple, braced, urn) are refused
            /// so that one id has one spelling in URLs, keys and cursors.
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                if s.len() != 36 {
                    return Err(InvalidId { kind: $kind });
                }
                Uuid::try_parse(s).map(Self).map_err(|_| InvalidId { kind: $kind })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_string()
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    };
}

uuid_id!(
    /// A user's internal id (not the Cognito `sub`: seeded profiles exist before
    /// any Cognito account and are linked later).
    UserUuid,
    "user uuid"
);
uuid_id!(
    /// A message group between two users.
    GroupUuid,
    "message group uuid"
);
uuid_id!(
    /// One message.
    MessageUuid,
    "message uuid"
);

impl MessageUuid {
    /// A new message's uuid, carrying its time: a UUIDv7 (RFC 9562) whose
    /// 48-bit Unix-milliseconds field is `at`'s, whose 12 bits after the
    /// version hold `at`'s microseconds within that millisecond (the RFC's
    /// "increased clock precision"), and 62 random bits. So a message's
    /// storage key (`<time>#<uuid>`) follows from its uuid alone: an edit or
    /// a delete finds it with one key, never a search ([`MessageUuid::time`]).
    /// A time before 1970 gets a random (v4) uuid.
    pub fn for_time(at: super::Timestamp) -> Self {
        let micros = at.unix_micros();
        let (millis, within) = (micros.div_euclid(1000), micros.rem_euclid(1000));
        let Ok(millis) = u64::try_from(millis) else { return Self::random() };
        if millis >= 1 << 48 {
            return Self::random();
        }
        let mut bytes = *Uuid::new_v4().as_bytes();
        bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
        // `within` < 1000 < 2^12: the version nibble, then 12 bits.
        let rand_a = 0x7000u16 | within as u16;
        bytes[6..8].copy_from_slice(&rand_a.to_be_bytes());
        // The variant (10xx), over random bits.
        bytes[8] = 0x80 | (bytes[8] & 0x3f);
        Self(Uuid::from_bytes(bytes))
    }

    /// The time a uuid of [`MessageUuid::for_time`] carries; `None` for any
    /// other uuid (messages stored before uuids carried their time, random
    /// ones, forged ones).
    pub fn time(&self) -> Option<super::Timestamp> {
        let bytes = self.0.as_bytes();
        if self.0.get_version_num() != 7 || self.0.get_variant() != uuid::Variant::RFC4122 {
            return None;
        }
        let mut millis = [0u8; 8];
        millis[2..].copy_from_slice(&bytes[..6]);
        let within = i64::from(u16::from_be_bytes([bytes[6], bytes[7]]) & 0x0fff);
        if within >= 1000 {
            return None;
        }
        let millis = i64::try_from(u64::from_be_bytes(millis)).ok()?;
        super::Timestamp::from_unix_micros(millis.checked_mul(1000)?.checked_add(within)?)
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $extra:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// 1-128 characters of ASCII letters, digits and the given
            /// punctuation: never a key separator (`#`).
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                let ok = !s.is_empty()
                    && s.len() <= 128
                    && s.bytes().all(|b| b.is_ascii_alphanumeric() || $extra.contains(&b));
                if ok {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(InvalidId { kind: $kind })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(s: $name) -> String {
                s.0
            }
        }
    };
}

string_id!(
    /// The Cognito `sub` claim of the caller: the only source of identity.
    ///
    /// Real Cognito subjects are UUIDs; this type accepts any 1-128 character
    /// string of ASCII letters, digits, `-` and `_` so that it can never smuggle a
    /// key separator into a storage key.
    CognitoSub,
    "Cognito sub",
    b"-_"
);

string_id!(
    /// An API Gateway WebSocket connection id (such as `L0SM9cOFvHcCIhw=`):
    /// 1-128 characters of ASCII letters, digits and `+ / = - _`.
    ConnectionId,
    "connection id",
    b"+/=-_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_uuid_carries_its_time_to_the_microsecond() {
        for micros in [0, 1, 999, 1_000, 1_764_000_000_123_456, 1_764_000_000_123_999, 253_402_300_799_999_999] {
            let at = super::super::Timestamp::from_unix_micros(micros).unwrap();
            let uuid = MessageUuid::for_time(at);
            assert_eq!(uuid.time(), Some(at), "{micros}");
            assert_eq!(uuid.0.get_version_num(), 7);
            assert_eq!(MessageUuid::parse(&uuid.to_string()).unwrap(), uuid);
        }
        let at = super::super::Timestamp::now();
        assert_ne!(MessageUuid::for_time(at), MessageUuid::for_time(at), "62 random bits");
        // Other uuids carry no time.
        assert_eq!(MessageUuid::random().time(), None);
        assert_eq!(MessageUuid::parse("01890a5d-ac96-7fe8-8000-000000000000").unwrap().time(), None, "fraction 0xfe8");
        let before_1970 = super::super::Timestamp::from_unix_micros(-1).unwrap();
        assert_eq!(MessageUuid::for_time(before_1970).time(), None);
    }

    #[test]
    fn connection_ids_as_api_gateway_makes_them_and_nothing_that_breaks_a_key() {
        assert!(ConnectionId::parse("L0SM9cOFvHcCIhw=").is_ok());
        assert!(ConnectionId::parse("a/b+c_d-e").is_ok());
        for bad in ["", "a#b", "a b", "é", &"x".repeat(129)] {
            assert!(ConnectionId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn uuid_ids_parse_the_hyphenated_form_only() {
        let id = GroupUuid::parse("5ae290ed-55d1-47a0-bc6d-fe2bc2700399").unwrap();
        assert_eq!(id.to_string(), "5ae290ed-55d1-47a0-bc6d-fe2bc2700399");
        // Upper case is the same id, printed canonically.
        let upper = GroupUuid::parse("5AE290ED-55D1-47A0-BC6D-FE2BC2700399").unwrap();
        assert_eq!(upper, id);
        for bad in [
            "",
            "not-a-uuid",
            "5ae290ed55d147a0bc6dfe2bc2700399",
            "{5ae290ed-55d1-47a0-bc6d-fe2bc2700399}",
            "urn:uuid:5ae290ed-55d1-47a0-bc6d-fe2bc2700399",
            "5ae290ed-55d1-47a0-bc6d-fe2bc270039g",
            "5ae290ed-55d1-47a0-bc6d-fe2bc2700399 ",
        ] {
            assert!(GroupUuid::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn cognito_sub_refuses_separators_and_blank() {
        assert!(CognitoSub::parse("0f1c2d3e-aaaa-bbbb-cccc-000000000000").is_ok());
        for bad in ["", "a#b", "a b", "ä", &"x".repeat(129)] {
            assert!(CognitoSub::parse(bad).is_err(), "{bad:?}");
        }
    }
}
