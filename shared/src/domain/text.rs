//! User-supplied text: handles, display names, emails and message text.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest message, in Unicode scalar values, after trimming.
pub const MESSAGE_MAX_CHARS: usize = 1024;
/// Longest handle, in bytes (handles are ASCII).
pub const HANDLE_MAX_LEN: usize = 32;
/// Longest display name, in Unicode scalar values, after trimming.
pub const DISPLAY_NAME_MAX_CHARS: usize = 64;
/// Longest email address (RFC 5321 path limit).
pub const EMAIL_MAX_LEN: usize = 254;

/// Implements `as_str`, `Display`, `TryFrom<String>` (through `parse`) and
/// `From<T> for String` for a string newtype with a `parse(&str)` constructor.
macro_rules! string_type {
    ($name:ident, $err:ty) => {
        impl $name {
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
            type Error = $err;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
    };
}

// ---------------------------------------------------------------- handle

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    #[error("the handle is blank")]
    Blank,
    #[error("the handle is longer than {HANDLE_MAX_LEN} characters")]
    TooLong,
    #[error("a handle is ASCII letters, digits, '_', '.' or '-', starting with a letter or digit")]
    InvalidCharacter,
}

/// A user's handle, as the user typed it (`AndrewBrown`).
///
/// 1 to 32 ASCII letters, digits, `_`, `.` or `-`, starting with a letter or a
/// digit. No `@`, no white space: the `@` belongs to URLs, not to the handle.
/// Uniqueness is case-insensitive: compare [`Handle::normalized`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Handle(String);

impl Handle {
    pub fn parse(s: &str) -> Result<Self, HandleError> {
        let first = s.bytes().next().ok_or(HandleError::Blank)?;
        if s.len() > HANDLE_MAX_LEN {
            return Err(HandleError::TooLong);
        }
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
        if !first.is_ascii_alphanumeric() || !s.bytes().all(allowed) {
            return Err(HandleError::InvalidCharacter);
        }
        Ok(Self(s.to_owned()))
    }

    /// The case-insensitive identity of the handle (ASCII lower case).
    pub fn normalized(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    /// True when both name the same account (`Bayko` and `bayko`).
    /// Whether this handle is one nobody may sign up with: names that
    /// suggest the service speaks (admin, support, cruddur, ...), compared
    /// ignoring case and the separators `_ . -` (so `Ad.Min` is `admin`).
    pub fn is_reserved(&self) -> bool {
        let bare: String =
            self.0.chars().filter(|c| !matches!(c, '_' | '.' | '-')).map(|c| c.to_ascii_lowercase()).collect();
        RESERVED_HANDLES.contains(&bare.as_str())
    }

    pub fn same_as(&self, other: &Handle) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}
string_type!(Handle, HandleError);

/// Handles refused at sign-up (see [`Handle::is_reserved`]), without separators.
pub const RESERVED_HANDLES: &[&str] = &[
    "abuse",
    // Shown for every account that was deleted.
    "deleted",
    "admin",
    "administrator",
    "anonymous",
    "api",
    "billing",
    "cruddur",
    "cruddurteam",
    "everyone",
    "help",
    "helpdesk",
    "hostmaster",
    "info",
    "mod",
    "moderator",
    "noreply",
    "null",
    "official",
    "postmaster",
    "root",
    "security",
    "staff",
    "support",
    "sysadmin",
    "system",
    "team",
    "undefined",
    "webmaster",
    "www",
];

// ---------------------------------------------------------- display name

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DisplayNameError {
    #[error("the display name is blank")]
    Blank,
    #[error("the display name is longer than {DISPLAY_NAME_MAX_CHARS} characters")]
    TooLong,
    #[error("the display name contains control characters")]
    ControlCharacter,
    #[error("the display name contains invisible formatting characters (direction overrides, zero-width characters)")]
    FormatCharacter,
}

/// A person's name as shown to others: trimmed, 1 to 64 characters, no
/// control characters and no format characters (Unicode category Cf:
/// bidirectional overrides that make "evil" read as "live", zero-width
/// characters that make two names look identical).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(s: &str) -> Result<Self, DisplayNameError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(DisplayNameError::Blank);
        }
        if s.chars().count() > DISPLAY_NAME_MAX_CHARS {
            return Err(DisplayNameError::TooLong);
        }
        if s.chars().any(char::is_control) {
            return Err(DisplayNameError::ControlCharacter);
        }
        if s.chars().any(is_format_character) {
            return Err(DisplayNameError::FormatCharacter);
        }
        Ok(Self(s.to_owned()))
    }
}
string_type!(DisplayName, DisplayNameError);

/// Unicode general category Cf (format), Unicode 16.0
/// (DerivedGeneralCategory.txt): soft hyphen, Arabic and Syriac marks,
/// Mongolian vowel separator, zero-width space/joiners, bidirectional marks,
/// embeddings, overrides and isolates, word joiner and invisible operators,
/// BOM, interlinear annotation, and the tag characters.
fn is_format_character(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

// ----------------------------------------------------------------- email

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a usable email address")]
pub struct EmailError;

/// An email address, as far as this service cares: one `@` with something on
/// both sides, no white space or control characters, at most 254 bytes.
/// (Cognito verifies the address; this only keeps garbage out of the table.)
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, EmailError> {
        let s = s.trim();
        let (local, domain) = s.split_once('@').ok_or(EmailError)?;
        let ok = !local.is_empty()
            && !domain.is_empty()
            && !domain.contains('@')
            && s.len() <= EMAIL_MAX_LEN
            && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(EmailError)
        }
    }
}
string_type!(Email, EmailError);

/// Emails are personal data: never printed by `{:?}`, so they cannot reach a
/// log line through a derived `Debug` of a larger struct.
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(<redacted>)")
    }
}

// --------------------------------------------------------- message text

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MessageTextError {
    #[error("the message is blank")]
    Blank,
    #[error("the message is longer than {MESSAGE_MAX_CHARS} characters")]
    TooLong,
    #[error("the message contains control characters other than line breaks and tabs")]
    ControlCharacter,
}

/// The text of a message: surrounding white space trimmed, then 1 to 1024
/// Unicode scalar values, no control characters except `\n`, `\r` and `\t`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageText(String);

impl MessageText {
    pub fn parse(s: &str) -> Result<Self, MessageTextError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(MessageTextError::Blank);
        }
        // Count scalar values, stopping early: a 1 MB body costs no more than
        // 1025 steps here.
        if s.chars().nth(MESSAGE_MAX_CHARS).is_some() {
            return Err(MessageTextError::TooLong);
        }
        if s.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            return Err(MessageTextError::ControlCharacter);
        }
        Ok(Self(s.to_owned()))
    }
}
string_type!(MessageText, MessageTextError);

/// Message text is private: `{:?}` shows only its length, so it cannot reach
/// a log line through a derived `Debug`.
impl fmt::Debug for MessageText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageText(<{} chars>)", self.0.chars().count())
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn reserved_handles_are_recognised_ignoring_case_and_separators() {
        assert!(RESERVED_HANDLES.len() >= 20);
        for h in ["admin", "Admin", "ad.min", "SUPPORT", "cruddur", "Cruddur-Team", "root", "no_reply"] {
            assert!(Handle::parse(h).unwrap().is_reserved(), "{h}");
        }
        for h in ["andrewbrown", "administrators", "bayko", "rooted"] {
            assert!(!Handle::parse(h).unwrap().is_reserved(), "{h}");
        }
    }

    #[test]
    fn display_names_with_format_characters_are_refused() {
        for name in ["\u{202E}evil", "Andrew\u{200B}Brown", "A\u{2066}b\u{2069}", "\u{FEFF}Bom", "Soft\u{AD}hyphen"] {
            assert_eq!(DisplayName::parse(name), Err(DisplayNameError::FormatCharacter), "{name:?}");
        }
        for name in ["Andrew Brown", "Zoë", "李雷", "José 😀"] {
            assert!(DisplayName::parse(name).is_ok(), "{name}");
        }
    }
    use super::*;

    #[test]
    fn message_text_is_trimmed() {
        assert_eq!(MessageText::parse("  hi there \n").unwrap().as_str(), "hi there");
    }

    #[test]
    fn blank_and_white_space_only_messages_are_refused() {
        for s in ["", " ", "\n\t  \r\n", "\u{3000}\u{2003}"] {
            assert_eq!(MessageText::parse(s), Err(MessageTextError::Blank), "{s:?}");
        }
    }

    #[test]
    fn length_is_counted_in_unicode_scalar_values_after_trimming() {
        // 1024 multi-byte characters (3 bytes each) pass, 1025 do not.
        let ok = "€".repeat(1024);
        assert_eq!(MessageText::parse(&ok).unwrap().as_str().chars().count(), 1024);
        assert_eq!(MessageText::parse(&"€".repeat(1025)), Err(MessageTextError::TooLong));
        // Emoji outside the BMP: one scalar value each.
        assert!(MessageText::parse(&"😀".repeat(1024)).is_ok());
        assert_eq!(MessageText::parse(&"😀".repeat(1025)), Err(MessageTextError::TooLong));
        // A combining sequence counts as its scalar values (e + U+0301 = 2).
        assert!(MessageText::parse(&"e\u{301}".repeat(512)).is_ok());
        assert_eq!(MessageText::parse(&format!("{}e", "e\u{301}".repeat(512))), Err(MessageTextError::TooLong));
        // Surrounding white space does not count.
        assert!(MessageText::parse(&format!("   {}   ", "a".repeat(1024))).is_ok());
    }

    #[test]
    fn control_characters_are_refused_except_line_breaks_and_tabs() {
        assert!(MessageText::parse("line one\nline two\r\n\tindented").is_ok());
        for s in ["a\0b", "bell\u{7}", "esc\u{1b}[31m", "del\u{7f}", "c1\u{85}x"] {
            assert_eq!(MessageText::parse(s), Err(MessageTextError::ControlCharacter), "{s:?}");
        }
    }

    #[test]
    fn message_text_debug_hides_the_text() {
        let t = MessageText::parse("secret plans").unwrap();
        assert_eq!(format!("{t:?}"), "MessageText(<12 chars>)");
    }

    #[test]
    fn handles_accept_letters_digits_and_separators() {
        for s in ["bayko", "AndrewBrown", "a", "x_y.z-1", "7seas", &"a".repeat(32)] {
            assert_eq!(Handle::parse(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn handles_refuse_blank_long_and_invalid_characters() {
        assert_eq!(Handle::parse(""), Err(HandleError::Blank));
        assert_eq!(Handle::parse(&"a".repeat(33)), Err(HandleError::TooLong));
        for s in ["@bayko", "bay ko", " bayko", "bayko ", "_bayko", ".x", "bay#ko", "bäyko", "a/b", "a\0"] {
            assert_eq!(Handle::parse(s), Err(HandleError::InvalidCharacter), "{s:?}");
        }
    }

    #[test]
    fn handles_compare_case_insensitively_but_keep_their_spelling() {
        let a = Handle::parse("Bayko").unwrap();
        let b = Handle::parse("bAYKO").unwrap();
        assert!(a.same_as(&b));
        assert_eq!(a.normalized(), b.normalized());
        assert_eq!(a.as_str(), "Bayko");
    }

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Andrew Brown ").unwrap().as_str(), "Andrew Brown");
        assert_eq!(DisplayName::parse("   "), Err(DisplayNameError::Blank));
        assert_eq!(DisplayName::parse(&"é".repeat(65)), Err(DisplayNameError::TooLong));
        assert!(DisplayName::parse(&"é".repeat(64)).is_ok());
        assert_eq!(DisplayName::parse("a\u{0}b"), Err(DisplayNameError::ControlCharacter));
    }

    #[test]
    fn emails_need_one_at_and_no_spaces() {
        assert!(Email::parse("andrew@example.com").is_ok());
        for s in ["", "andrew", "@example.com", "andrew@", "a b@example.com", "a@b@c"] {
            assert_eq!(Email::parse(s), Err(EmailError), "{s:?}");
        }
        assert_eq!(format!("{:?}", Email::parse("a@b.c").unwrap()), "Email(<redacted>)");
    }
}
