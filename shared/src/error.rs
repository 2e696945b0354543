//! The core's one error type. Each variant is a distinct outcome a caller
//! handles differently; the HTTP layer maps each to the contract's code.

/// What can go wrong in a core operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A cursor that does not belong to the list it was given for.
    #[error("the cursor does not belong to this list")]
    InvalidCursor,
    /// The caller is not a member of a group that exists.
    #[error("the caller is not a member of this message group")]
    NotMember,
    /// No group with this uuid exists.
    #[error("no such message group")]
    GroupNotFound,
    /// No user with this handle / uuid / Cognito sub.
    #[error("no such user")]
    UserNotFound,
    /// No message with this uuid in the message group.
    #[error("no such message")]
    MessageNotFound,
    /// The caller did not send the message they try to change.
    #[error("only a message's sender may change it")]
    NotMessageSender,
    /// The message was deleted: there is nothing left to edit.
    #[error("the message is deleted")]
    MessageDeleted,
    /// The recipient cannot be written to (they block the caller, or they
    /// left): one answer for both, so a block is not revealed.
    #[error("the recipient cannot be written to")]
    RecipientUnavailable,
    /// The caller blocks the recipient: they unblock first.
    #[error("the caller blocks this user")]
    UnblockToSend,
    #[error("a user cannot block themselves")]
    CannotBlockSelf,
    #[error("a user cannot start a message group with themselves")]
    CannotMessageSelf,
    /// An Idempotency-Key the caller already used for a different request.
    #[error("the idempotency key was used for another request")]
    IdempotencyKeyReused,
    /// Another profile already has this handle (compared case-insensitively).
    #[error("the handle is taken")]
    HandleTaken,
    /// This Cognito account is already linked to a (possibly different) profile.
    #[error("the Cognito account is already linked to a profile")]
    CognitoSubTaken,
    /// The profile is already linked to a different Cognito account.
    #[error("the profile is linked to another Cognito account")]
    ProfileLinkedElsewhere,
    /// The database did not answer in time or kept refusing (throttling,
    /// server errors, transaction conflicts) after retries. Nothing was
    /// half-written: every multi-item write is one transaction.
    #[error("the database is unavailable: {what}")]
    Unavailable {
        what: String,
        #[source]
        cause: Option<Cause>,
    },
    /// A bug or an item that does not have the shape this code writes.
    #[error("internal error: {what}")]
    Internal {
        what: String,
        #[source]
        cause: Option<Cause>,
    },
}

/// What an error came from (an SDK error, a mapping error), kept whole.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

impl Error {
    pub fn unavailable(what: impl Into<String>) -> Self {
        Error::Unavailable { what: what.into(), cause: None }
    }

    pub fn internal(what: impl Into<String>) -> Self {
        Error::Internal { what: what.into(), cause: None }
    }

    /// `Internal`, caused by `cause`.
    pub fn internal_from(what: impl Into<String>, cause: impl Into<Cause>) -> Self {
        Error::Internal { what: what.into(), cause: Some(cause.into()) }
    }

    /// The error and every cause under it, on one line (for logs and
    /// operators; plain Display of an SDK error says only "dispatch failure").
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut next = std::error::Error::source(self);
        while let Some(cause) = next {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            next = cause.source();
        }
        text
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the Lambda runtime reports when a function fails with a core error
/// (the WebSocket authorizer): its kind and its message, never its causes'
/// details (those are logged).
impl From<Error> for lambda_http::lambda_runtime::Diagnostic {
    fn from(e: Error) -> Self {
        let error_type = match &e {
            Error::Unavailable { .. } => "Unavailable",
            _ => "Internal",
        };
        lambda_http::lambda_runtime::Diagnostic { error_type: error_type.into(), error_message: e.to_string() }
    }
}
