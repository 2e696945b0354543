//! Cognito user pool triggers: PreSignUp refuses handles that cannot become a
//! profile; PostConfirmation stores the profile.
//!
//! An `Err` from a trigger makes Cognito refuse the operation and show the
//! error's text to the user, so these messages are written for people.

use std::collections::HashMap;

use lambda_http::aws_lambda_events::cognito::{CognitoEventUserPoolsPostConfirmation, CognitoEventUserPoolsPreSignup};

use crate::domain::{CognitoSub, DisplayName, Email, Handle, HandleError, NewProfile, Timestamp, HANDLE_MAX_LEN};
use crate::error::Error;
use crate::store::{Registration, Store};

/// Why a trigger refuses; `Display` is what the user sees.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("{0}")]
    InvalidAttribute(String),
    #[error("The handle {0} is already taken. Please choose another one.")]
    HandleTaken(String),
    #[error("Sign-up is temporarily unavailable. Please try again.")]
    Store(#[source] Error),
}

impl From<Error> for TriggerError {
    fn from(e: Error) -> Self {
        TriggerError::Store(e)
    }
}

fn attribute<'a>(attributes: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    attributes.get(name).map(String::as_str).filter(|v| !v.trim().is_empty())
}

fn handle_of(attributes: &HashMap<String, String>) -> Result<Handle, TriggerError> {
    let raw = attribute(attributes, "preferred_username")
        .ok_or_else(|| TriggerError::InvalidAttribute("Please choose a handle (preferred_username).".into()))?;
    let handle = parse_handle(raw)?;
    if handle.is_reserved() {
        return Err(TriggerError::InvalidAttribute(format!(
            "The handle {handle} is reserved. Please choose another one."
        )));
    }
    Ok(handle)
}

fn parse_handle(raw: &str) -> Result<Handle, TriggerError> {
    Handle::parse(raw).map_err(|e| {
        TriggerError::InvalidAttribute(match e {
            HandleError::Blank => "Please choose a handle (preferred_username).".into(),
            HandleError::TooLong => format!("A handle has at most {HANDLE_MAX_LEN} characters."),
            HandleError::InvalidCharacter => {
                "A handle uses only letters, digits, '_', '.' and '-', and starts with a letter or digit.".into()
            }
        })
    })
}

/// The display name: `name`, or the handle when `name` is not given.
fn display_name_of(attributes: &HashMap<String, String>, handle: &Handle) -> Result<DisplayName, TriggerError> {
    let raw = attribute(attributes, "name").unwrap_or(handle.as_str());
    DisplayName::parse(raw).map_err(|e| TriggerError::InvalidAttribute(format!("The name is not usable: {e}.")))
}

/// Who signs up, for the handle's reservation: their email, lower-cased
/// (the pool's username attribute; the same in PreSignUp and PostConfirmation).
fn signer_of(attributes: &HashMap<String, String>) -> Result<String, TriggerError> {
    attribute(attributes, "email")
        .and_then(|e| Email::parse(e).ok())
        .map(|e| e.as_str().to_ascii_lowercase())
        .ok_or_else(|| TriggerError::InvalidAttribute("Please give a valid email address.".into()))
}

/// PreSignUp: refuse a handle that is invalid, reserved or taken (ignoring
/// case), and reserve it for this sign-up (DynamoDB, one transaction: no
/// profile has it and no other live sign-up holds it). Two sign-ups of one
/// handle cannot both pass, so no confirmed account is left without a
/// profile; an unconfirmed sign-up's reservation lapses after 24 hours.
pub async fn pre_sign_up(
    store: &Store,
    event: CognitoEventUserPoolsPreSignup,
) -> Result<CognitoEventUserPoolsPreSignup, TriggerError> {
    let attributes = &event.request.user_attributes;
    let handle = handle_of(attributes)?;
    display_name_of(attributes, &handle)?;
    let signer = signer_of(attributes)?;
    match store.reserve_handle(&handle, &signer, Timestamp::now()).await {
        Ok(()) => {
            tracing::info!(outcome = "accepted", "pre sign-up");
            Ok(event)
        }
        Err(Error::HandleTaken) => {
            tracing::info!(outcome = "handle_taken", "pre sign-up refused");
            Err(TriggerError::HandleTaken(handle.to_string()))
        }
        Err(e) => Err(TriggerError::Store(e)),
    }
}

/// PostConfirmation: store the profile, its handle claim and its Cognito
/// link in one transaction, and return the event unchanged. Delivered again
/// (Cognito retries, or a forgotten-password confirmation), it changes
/// nothing. It never takes over a profile that already has the handle.
pub async fn post_confirmation(
    store: &Store,
    event: CognitoEventUserPoolsPostConfirmation,
) -> Result<CognitoEventUserPoolsPostConfirmation, TriggerError> {
    let attributes = &event.request.user_attributes;
    let sub = attribute(attributes, "sub")
        .and_then(|s| CognitoSub::parse(s).ok())
        .ok_or_else(|| TriggerError::InvalidAttribute("The account has no usable sub.".into()))?;
    let handle = handle_of(attributes)?;
    let display_name = display_name_of(attributes, &handle)?;
    let email = attribute(attributes, "email")
        .and_then(|e| Email::parse(e).ok())
        .ok_or_else(|| TriggerError::InvalidAttribute("The account has no usable email address.".into()))?;
    let signer = email.as_str().to_ascii_lowercase();
    let new = NewProfile { handle, display_name, email, cognito_sub: Some(sub) };
    match store.register_cognito_user(new, Timestamp::now(), Some(&signer)).await {
        Ok(Registration::Created(profile)) => {
            tracing::info!(user_uuid = %profile.uuid, outcome = "created", "post confirmation");
            Ok(event)
        }
        Ok(Registration::AlreadyRegistered(user)) => {
            tracing::info!(user_uuid = %user.uuid, outcome = "already_registered", "post confirmation");
            Ok(event)
        }
        Err(Error::HandleTaken) => {
            let handle = handle_of(attributes)?;
            tracing::warn!(outcome = "handle_taken", "post confirmation refused");
            Err(TriggerError::HandleTaken(handle.to_string()))
        }
        Err(e) => {
            tracing::error!(error = %e.chain(), "post confirmation failed");
            Err(TriggerError::Store(e))
        }
    }
}

/// What the Lambda runtime reports to Cognito: a type and the message the
/// user sees.
impl From<TriggerError> for lambda_http::lambda_runtime::Diagnostic {
    fn from(e: TriggerError) -> Self {
        let error_type = match &e {
            TriggerError::InvalidAttribute(_) => "InvalidAttribute",
            TriggerError::HandleTaken(_) => "HandleTaken",
            TriggerError::Store(_) => "Unavailable",
        };
        lambda_http::lambda_runtime::Diagnostic { error_type: error_type.into(), error_message: e.to_string() }
    }
}

/// Runs a trigger's work within the invocation's deadline (Lambda's, less
/// [`crate::deadline::MARGIN`]): past it, Cognito gets an error it shows
/// ("Sign-up is temporarily unavailable") instead of a killed invocation.
pub async fn within_deadline<T>(
    deadline_ms: u64,
    work: impl std::future::Future<Output = Result<T, TriggerError>>,
) -> Result<T, TriggerError> {
    crate::deadline::within(Some(deadline_ms), work)
        .await
        .unwrap_or_else(|| Err(TriggerError::Store(Error::unavailable("the invocation's deadline came first"))))
}
