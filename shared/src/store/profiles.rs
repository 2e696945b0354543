//! Profiles, handle claims and Cognito links.

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem, Update};

use super::items::{from_item, to_item, ProfileItem, ReservationItem, UserRefItem};
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
    /// The sign-up's handle reservation, released (or absent).
    Reservation,
    /// The handle is not held for a deleted account.
    Hold,
}

/// The items of reserving a handle at sign-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReserveItem {
    Claim,
    Reservation,
    Hold,
}

/// How long a handle stays reserved for a sign-up that is never confirmed.
pub const RESERVATION_LIFETIME_SECS: i64 = 24 * 3600;

/// The items of linking a profile to a Cognito account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkItem {
    Profile,
    Link,
}

/// A Cognito link's user, and whether their account's deletion has begun.
fn link_of(item: Option<super::items::Item>) -> Result<Option<(UserSummary, bool)>> {
    let item = item.map(from_item::<UserRefItem>).transpose()?;
    Ok(item.map(|i| {
        let leaving = i.leaving_at.is_some();
        (UserSummary::from(i), leaving)
    }))
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
        self.create_profile_reserved(UserUuid::random(), new, at, None).await
    }

    /// [`Store::create_profile`] with a uuid chosen by the caller, which must
    /// be new (a fixture whose sample events name the user's uuid). Errors
    /// as `create_profile`.
    pub async fn create_profile_as(&self, uuid: UserUuid, new: NewProfile, at: Timestamp) -> Result<Profile> {
        self.create_profile_reserved(uuid, new, at, None).await
    }

    /// [`Store::create_profile`], releasing the handle's reservation made at
    /// sign-up by `reserved_by` in the same transaction; another sign-up's
    /// live reservation of the handle makes it `HandleTaken`.
    async fn create_profile_reserved(
        &self,
        uuid: UserUuid,
        new: NewProfile,
        at: Timestamp,
        reserved_by: Option<&str>,
    ) -> Result<Profile> {
        let profile = Profile {
            uuid,
            handle: new.handle,
            display_name: new.display_name,
            email: new.email,
            cognito_sub: new.cognito_sub,
            created_at: at,
            leaving_at: None,
        };
        let summary = profile.summary();
        let profile_item = ProfileItem {
            uuid: profile.uuid,
            handle: profile.handle.clone(),
            display_name: profile.display_name.clone(),
            email: profile.email.clone(),
            cognito_user_id: profile.cognito_sub.clone(),
            created_at: at,
            leaving_at: None,
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
        if let Some(by) = reserved_by {
            // Released with the profile's creation; held by another live
            // sign-up, it makes this creation fail (HandleTaken).
            let release = Delete::builder()
                .table_name(self.table())
                .set_key(Some(keys::reservation(&profile.handle).into_map()))
                .condition_expression("attribute_not_exists(pk) OR reserved_by = :by OR expires_at < :now")
                .expression_attribute_values(":by", AttributeValue::S(by.to_owned()))
                .expression_attribute_values(":now", AttributeValue::N(at.unix_seconds().to_string()))
                .build()
                .map_err(build_err)?;
            items.push((NewProfileItem::Reservation, TransactWriteItem::builder().delete(release).build()));
        }
        items.push((NewProfileItem::Hold, self.not_held(&profile.handle, at)?));
        let outcome = self.run_transaction(&items).await?;
        // The profile's key holds a new uuid: if it exists, it is
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
    ///
    /// `reserved_by`: who reserved the handle at sign-up ([`Store::reserve_handle`]);
    /// the reservation is released in the same transaction.
    pub async fn register_cognito_user(
        &self,
        new: NewProfile,
        at: Timestamp,
        reserved_by: Option<&str>,
    ) -> Result<Registration> {
        let sub = new.cognito_sub.clone().ok_or_else(|| Error::internal("a Cognito user needs a sub"))?;
        match self.create_profile_reserved(UserUuid::random(), new, at, reserved_by).await {
            Ok(profile) => Ok(Registration::Created(profile)),
            Err(Error::CognitoSubTaken) => match self.user_by_cognito_sub(&sub).await? {
                Some(user) => Ok(Registration::AlreadyRegistered(user)),
                None => Err(Error::internal("a Cognito link vanished while registering")),
            },
            Err(e) => Err(e),
        }
    }

    /// Holds `handle` for one sign-up (`by`: who signs up, e.g. their email)
    /// until it is confirmed ([`Store::register_cognito_user`] releases it) or
    /// [`RESERVATION_LIFETIME_SECS`] pass. In one transaction: the handle has
    /// no profile, and no other live reservation holds it; so two sign-ups of
    /// one handle cannot both pass, and a confirmed account always gets its
    /// profile. Reserving again for the same `by` renews it.
    ///
    /// Errors: `HandleTaken`.
    pub async fn reserve_handle(&self, handle: &crate::domain::Handle, by: &str, now: Timestamp) -> Result<()> {
        let free = ConditionCheck::builder()
            .table_name(self.table())
            .set_key(Some(keys::handle(handle).into_map()))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_err)?;
        let item = ReservationItem {
            handle: handle.clone(),
            reserved_by: by.to_owned(),
            expires_at: now.unix_seconds() + RESERVATION_LIFETIME_SECS,
        };
        let reserve = Put::builder()
            .table_name(self.table())
            .set_item(Some(to_item(keys::reservation(handle), &item)?))
            .condition_expression("attribute_not_exists(pk) OR reserved_by = :by OR expires_at < :now")
            .expression_attribute_values(":by", AttributeValue::S(by.to_owned()))
            .expression_attribute_values(":now", AttributeValue::N(now.unix_seconds().to_string()))
            .build()
            .map_err(build_err)?;
        let items = [
            (ReserveItem::Claim, TransactWriteItem::builder().condition_check(free).build()),
            (ReserveItem::Reservation, TransactWriteItem::builder().put(reserve).build()),
            (ReserveItem::Hold, self.not_held(handle, now)?),
        ];
        match self.run_transaction(&items).await? {
            Outcome::Applied => Ok(()),
            Outcome::ConditionsFailed(_) => Err(Error::HandleTaken),
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

    /// The user linked to this Cognito account, unless their account's
    /// deletion has begun. One GetItem.
    pub async fn user_by_cognito_sub(&self, sub: &CognitoSub) -> Result<Option<UserSummary>> {
        // The item read here, not through `cognito_link`: one async layer
        // less in the authorizer's future (its layout's query depth).
        let link = link_of(self.get(keys::cognito(sub)).await?)?;
        Ok(link.and_then(|(user, leaving)| (!leaving).then_some(user)))
    }

    /// The user linked to this Cognito account, and whether their account's
    /// deletion has begun. One GetItem.
    pub async fn cognito_link(&self, sub: &CognitoSub) -> Result<Option<(UserSummary, bool)>> {
        link_of(self.get(keys::cognito(sub)).await?)
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

    /// The check that `handle` is not held for a deleted account at `now`
    /// (no hold, or one that has expired and TTL has not removed yet).
    fn not_held(&self, handle: &crate::domain::Handle, now: Timestamp) -> Result<TransactWriteItem> {
        let check = ConditionCheck::builder()
            .table_name(self.table())
            .set_key(Some(keys::held_handle(handle).into_map()))
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
            .expression_attribute_values(":now", AttributeValue::N(now.unix_seconds().to_string()))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
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
