//! Profiles, handle claims and Cognito links.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};

use super::items::{from_item, to_item, ProfileItem, UserRefItem};
use super::{keys, Outcome, Store, MAX_TRANSACTION_ATTEMPTS};
use crate::domain::{CognitoSub, NewProfile, Profile, Timestamp, UserSummary, UserUuid};
use crate::error::{Error, Result};

/// The outcome of storing a newly confirmed Cognito user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// A new profile was created and linked to the `sub`.
    Created(Profile),
    /// This `sub` already has a profile (Cognito delivered the event again).
    AlreadyRegistered(UserSummary),
}

/// The outcome of linking a Cognito account to an existing profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    Linked,
    /// The profile was already linked to this very account: nothing changed.
    AlreadyLinked,
}

/// The items of a new profile's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NewProfileItem {
    Profile,
    Handle,
    Link,
}

/// The items of linking a profile to a Cognito account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkItem {
    Profile,
    Link,
}

pub(super) fn build_err(e: impl Into<crate::error::Cause>) -> Error {
    Error::internal_from("cannot build a request", e)
}

impl Store {
    /// Creates a profile, claims its handle (case-insensitively unique) and,
    /// when a Cognito `sub` is given, links it, all in one transaction.
    ///
    /// Errors: `HandleTaken`, `CognitoSubTaken` (this `sub` already has a
    /// profile), `Unavailable`.
    pub async fn create_profile(&self, new: NewProfile, at: Timestamp) -> Result<Profile> {
        let profile = Profile {
            uuid: UserUuid::random(),
            handle: new.handle,
            display_name: new.display_name,
            email: new.email,
            cognito_sub: new.cognito_sub,
            created_at: at,
        };
        let summary = profile.summary();
        let profile_item = ProfileItem {
            uuid: profile.uuid,
            handle: profile.handle.clone(),
            display_name: profile.display_name.clone(),
            email: profile.email.clone(),
            cognito_user_id: profile.cognito_sub.clone(),
            created_at: at,
        };
        let mut items = vec![
            (NewProfileItem::Profile, self.put_new(to_item(keys::profile(profile.uuid), &profile_item)?)?),
            (
                NewProfileItem::Handle,
                self.put_new(to_item(keys::handle(&profile.handle), &UserRefItem::from(&summary))?)?,
            ),
        ];
        if let Some(sub) = &profile.cognito_sub {
            items.push((
                NewProfileItem::Link,
                self.put_new(to_item(keys::cognito(sub), &UserRefItem::from(&summary))?)?,
            ));
        }
        let outcome = self.run_transaction(&items).await?;
        // The profile's key holds a fresh random uuid: if it exists, it is
        // this very transaction, applied by an earlier attempt whose answer
        // was lost (a server that honours ClientRequestToken never says so).
        if matches!(outcome, Outcome::Applied) || outcome.failed(NewProfileItem::Profile).is_some() {
            return Ok(profile);
        }
        if outcome.failed(NewProfileItem::Link).is_some() {
            return Err(Error::CognitoSubTaken);
        }
        Err(Error::HandleTaken)
    }

    /// Stores a user Cognito has just confirmed. Idempotent: the same `sub`
    /// again (Cognito may deliver the event twice, or concurrently) returns
    /// `AlreadyRegistered` and writes nothing. Never takes over another
    /// profile's handle: that is `HandleTaken`.
    pub async fn register_cognito_user(&self, new: NewProfile, at: Timestamp) -> Result<Registration> {
        let sub = new.cognito_sub.clone().ok_or_else(|| Error::internal("a Cognito user needs a sub"))?;
        match self.create_profile(new, at).await {
            Ok(profile) => Ok(Registration::Created(profile)),
            Err(Error::CognitoSubTaken) => match self.user_by_cognito_sub(&sub).await? {
                Some(user) => Ok(Registration::AlreadyRegistered(user)),
                None => Err(Error::internal("a Cognito link vanished while registering")),
            },
            Err(e) => Err(e),
        }
    }

    pub async fn profile(&self, user: UserUuid) -> Result<Option<Profile>> {
        let item = self.get(keys::profile(user)).await?;
        item.map(|i| from_item::<ProfileItem>(i).map(Profile::from)).transpose()
    }

    /// The user with this handle, ignoring case. One GetItem.
    pub async fn user_by_handle(&self, handle: &crate::domain::Handle) -> Result<Option<UserSummary>> {
        let item = self.get(keys::handle(handle)).await?;
        item.map(|i| from_item::<UserRefItem>(i).map(UserSummary::from)).transpose()
    }

    /// The user linked to this Cognito account. One GetItem.
    pub async fn user_by_cognito_sub(&self, sub: &CognitoSub) -> Result<Option<UserSummary>> {
        let item = self.get(keys::cognito(sub)).await?;
        item.map(|i| from_item::<UserRefItem>(i).map(UserSummary::from)).transpose()
    }

    /// Links an existing profile (for example a seeded one) to a Cognito
    /// account. Re-running it for the same pair changes nothing.
    ///
    /// Errors: `UserNotFound`, `ProfileLinkedElsewhere` (the profile has
    /// another `sub`), `CognitoSubTaken` (the `sub` has another profile).
    pub async fn link_cognito_sub(&self, user: UserUuid, sub: &CognitoSub) -> Result<LinkOutcome> {
        for _ in 1..=MAX_TRANSACTION_ATTEMPTS {
            let profile = self.profile(user).await?.ok_or(Error::UserNotFound)?;
            match &profile.cognito_sub {
                Some(linked) if linked == sub => return Ok(LinkOutcome::AlreadyLinked),
                Some(_) => return Err(Error::ProfileLinkedElsewhere),
                None => {}
            }
            let set_sub = Update::builder()
                .table_name(self.table())
                .set_key(Some(keys::profile(user).into_map()))
                .update_expression("SET cognito_user_id = :sub")
                .condition_expression("attribute_exists(pk) AND attribute_not_exists(cognito_user_id)")
                .expression_attribute_values(":sub", AttributeValue::S(sub.to_string()))
                .build()
                .map_err(build_err)?;
            let link = self.put_new(to_item(keys::cognito(sub), &UserRefItem::from(&profile.summary()))?)?;
            let items =
                [(LinkItem::Profile, TransactWriteItem::builder().update(set_sub).build()), (LinkItem::Link, link)];
            let outcome = self.run_transaction(&items).await?;
            if matches!(outcome, Outcome::Applied) {
                return Ok(LinkOutcome::Linked);
            }
            if outcome.failed(LinkItem::Link).is_some() {
                // The link item exists. If it is ours (an earlier attempt was
                // applied), the next round reports AlreadyLinked.
                match self.user_by_cognito_sub(sub).await? {
                    Some(linked) if linked.uuid == user => continue,
                    _ => return Err(Error::CognitoSubTaken),
                }
            }
            // The profile changed under us (linked concurrently): look again.
        }
        Err(Error::unavailable("linking kept changing under concurrent links"))
    }

    /// A Put that never replaces an existing item.
    pub(super) fn put_new(&self, item: super::items::Item) -> Result<TransactWriteItem> {
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}
