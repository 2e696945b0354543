//! A client's `Idempotency-Key` (IETF httpapi draft "The Idempotency-Key
//! HTTP Header Field"): the same key, from the same caller, for the same
//! request means "this request, again".

/// Longest accepted key.
pub const IDEMPOTENCY_KEY_MAX_LEN: usize = 255;

/// How long a key is remembered (its record expires through DynamoDB TTL).
pub const IDEMPOTENCY_KEY_LIFETIME_SECS: i64 = 24 * 60 * 60;

/// 1 to 255 printable ASCII characters (space to `~`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an idempotency key is 1 to 255 printable ASCII characters")]
pub struct InvalidIdempotencyKey;

impl IdempotencyKey {
    pub fn parse(raw: &[u8]) -> Result<Self, InvalidIdempotencyKey> {
        let printable = raw.iter().all(|b| (0x20..=0x7e).contains(b));
        if raw.is_empty() || raw.len() > IDEMPOTENCY_KEY_MAX_LEN || !printable {
            return Err(InvalidIdempotencyKey);
        }
        String::from_utf8(raw.to_vec()).map(IdempotencyKey).map_err(|_| InvalidIdempotencyKey)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_1_to_255_printable_ascii_characters() {
        for ok in ["a", "9f1c1d0e-7f62-4a4c-9a53-3c1c7c3ad0f1", "with space and ~!@#$%^&*()", &"k".repeat(255)] {
            assert_eq!(IdempotencyKey::parse(ok.as_bytes()).unwrap().as_str(), ok);
        }
        for bad in [&b""[..], "k".repeat(256).as_bytes(), b"tab\there", b"new\nline", b"\x7f", "caf\u{e9}".as_bytes()] {
            assert_eq!(IdempotencyKey::parse(bad), Err(InvalidIdempotencyKey), "{bad:?}");
        }
    }
}
