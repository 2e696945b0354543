//! `cruddur cognito ...`: the user pool's users, and linking them to profiles.

use aws_sdk_cognitoidentityprovider::error::DisplayErrorContext;
use aws_sdk_cognitoidentityprovider::types::UserType;
use clap::Subcommand;
use cruddur_core::domain::{CognitoSub, Handle};
use cruddur_core::store::LinkOutcome;
use cruddur_core::{Error, Store};

use crate::output::{print_table, progress};
use crate::{Failure, Target};

// The variants are the subcommands' names (list-users, sync-users, repair-users).
#[allow(clippy::enum_variant_names)]
#[derive(Subcommand)]
pub enum CognitoCommand {
    /// The pool's users with their handle (preferred_username) and sub.
    ListUsers {
        #[arg(long, env = "AWS_COGNITO_USER_POOL_ID")]
        user_pool_id: String,
    },
    /// Link each confirmed, enabled Cognito user whose verified email is the
    /// profile's to the profile with the same handle (re-running changes nothing).
    SyncUsers {
        #[arg(long, env = "AWS_COGNITO_USER_POOL_ID")]
        user_pool_id: String,
    },
    /// Confirmed users without a profile (a sign-up whose PostConfirmation
    /// failed): create the profile as PostConfirmation would when the handle
    /// is free, else say who holds it. And account deletions that began but
    /// did not finish (`DELETE /api/me` cut short): the pool's user deleted
    /// if it is still there, the rest completed. Re-running changes nothing.
    RepairUsers {
        #[arg(long, env = "AWS_COGNITO_USER_POOL_ID")]
        user_pool_id: String,
    },
}

/// What a user pool says about one user.
struct PoolUser {
    username: String,
    handle: Option<String>,
    sub: Option<String>,
    status: String,
    enabled: bool,
    email: Option<String>,
    email_verified: bool,
    name: Option<String>,
}

fn attribute(user: &UserType, name: &str) -> Option<String> {
    user.attributes().iter().find(|a| a.name() == name).and_then(|a| a.value()).map(str::to_owned)
}

async fn pool_users(target: &Target, pool: &str) -> Result<Vec<PoolUser>, Failure> {
    let client = target.cognito().await;
    let mut users = Vec::new();
    let mut pages = client.list_users().user_pool_id(pool).into_paginator().items().send();
    while let Some(user) = pages.next().await {
        let user = user.map_err(|e| Failure {
            message: format!("cannot list the users of pool {pool} on {}", target.describe()),
            cause: Some(DisplayErrorContext(&e).to_string()),
            code: 1,
        })?;
        users.push(PoolUser {
            username: user.username().unwrap_or_default().to_owned(),
            handle: attribute(&user, "preferred_username"),
            sub: attribute(&user, "sub"),
            status: user.user_status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            enabled: user.enabled(),
            email: attribute(&user, "email"),
            email_verified: attribute(&user, "email_verified").is_some_and(|v| v.eq_ignore_ascii_case("true")),
            name: attribute(&user, "name"),
        });
    }
    Ok(users)
}

pub async fn run(command: CognitoCommand, target: &Target, store: &Store) -> Result<(), Failure> {
    match command {
        CognitoCommand::ListUsers { user_pool_id } => {
            let users = pool_users(target, &user_pool_id).await?;
            let count = users.len();
            let rows = users
                .into_iter()
                .map(|u| vec![u.username, u.handle.unwrap_or_default(), u.sub.unwrap_or_default(), u.status])
                .collect();
            print_table(&["username", "preferred_username", "sub", "status"], rows);
            println!("{count} user(s)");
            Ok(())
        }
        CognitoCommand::RepairUsers { user_pool_id } => {
            println!(
                "repairing confirmed users of pool {user_pool_id} without a profile in table {}",
                target.config.table
            );
            let users = pool_users(target, &user_pool_id).await?;
            let mut rows = Vec::new();
            // Deleted here: not users without a profile to repair below.
            let mut deleted_now = Vec::new();
            for (uuid, sub) in store.unfinished_deletions().await.map_err(|e| target.failure(e))? {
                let account = users.iter().find(|u| sub.as_ref().is_some_and(|s| u.sub.as_deref() == Some(s.as_str())));
                if let Some(account) = account {
                    let client = target.cognito().await;
                    let deleted =
                        client.admin_delete_user().user_pool_id(&user_pool_id).username(&account.username).send().await;
                    deleted.map_err(|e| Failure {
                        message: format!("cannot delete user {} of pool {user_pool_id}", account.username),
                        cause: Some(DisplayErrorContext(&e).to_string()),
                        code: 1,
                    })?;
                    deleted_now.push(account.username.clone());
                }
                store.finish_account_deletion(uuid).await.map_err(|e| target.failure(e))?;
                // Its connection records are gone; an open connection ends at
                // its token's expiry or API Gateway's 2 hours (the function
                // closes them; the CLI has no @connections endpoint).
                let (username, handle) = account.map_or((String::new(), String::new()), |a| {
                    (a.username.clone(), a.handle.clone().unwrap_or_default())
                });
                rows.push(vec![username, handle, format!("deletion of user {uuid} completed")]);
            }
            for user in users.iter().filter(|u| u.status == "CONFIRMED" && !deleted_now.contains(&u.username)) {
                if let Some(outcome) = repair(store, user).await.map_err(|e| target.failure(e))? {
                    rows.push(vec![user.username.clone(), user.handle.clone().unwrap_or_default(), outcome]);
                }
            }
            if rows.is_empty() {
                println!("every confirmed user has a profile, no deletion is unfinished: nothing to repair");
            } else {
                print_table(&["username", "preferred_username", "outcome"], rows);
            }
            Ok(())
        }
        CognitoCommand::SyncUsers { user_pool_id } => {
            println!("linking the users of pool {user_pool_id} to the profiles in table {}", target.config.table);
            let users = pool_users(target, &user_pool_id).await?;
            let bar = progress(users.len() as u64, "linking");
            let (mut linked, mut already, mut problems) = (0, 0, Vec::new());
            for user in &users {
                match link(store, user).await {
                    Ok(LinkOutcome::Linked) => linked += 1,
                    Ok(LinkOutcome::AlreadyLinked) => already += 1,
                    Err(Problem::Store(e)) => return Err(target.failure(e)),
                    Err(Problem::Skipped(why)) => {
                        problems.push(vec![user.username.clone(), user.handle.clone().unwrap_or_default(), why])
                    }
                }
                bar.inc(1);
            }
            bar.finish_and_clear();
            print_table(
                &["linked now", "already linked", "not linked"],
                vec![vec![linked.to_string(), already.to_string(), problems.len().to_string()]],
            );
            println!("linked {linked}, already linked {already}, not linked {}", problems.len());
            if !problems.is_empty() {
                println!("not linked:");
                print_table(&["username", "preferred_username", "why"], problems);
            }
            Ok(())
        }
    }
}

/// What repairing one confirmed user did.
async fn repair(store: &Store, user: &PoolUser) -> Result<Option<String>, Error> {
    let (Some(sub), Some(handle), Some(email)) = (&user.sub, &user.handle, &user.email) else {
        return Ok(Some("no sub, handle or email: nothing to build a profile from".into()));
    };
    let Ok(parsed) = CognitoSub::parse(sub) else { return Ok(Some("the sub is not usable".into())) };
    if store.user_by_cognito_sub(&parsed).await?.is_some() {
        return Ok(None); // has a profile
    }
    let name = user.name.clone().unwrap_or_else(|| handle.clone());
    let event = cruddur_devkit::events::post_confirmation(sub, handle, &name, email);
    Ok(Some(match cruddur_core::triggers::post_confirmation(store, event).await {
        Ok(_) => "profile created".into(),
        Err(cruddur_core::triggers::TriggerError::HandleTaken(_)) => {
            let holder = match Handle::parse(handle) {
                Ok(h) => store.user_by_handle(&h).await?,
                Err(_) => None,
            };
            match holder {
                Some(holder) => {
                    format!("not repaired: the handle is held by profile {} (@{})", holder.uuid, holder.handle)
                }
                None => "not repaired: the handle is reserved by another sign-up".into(),
            }
        }
        Err(cruddur_core::triggers::TriggerError::Store(e)) => return Err(e),
        Err(e) => format!("not repaired: {e}"),
    }))
}

enum Problem {
    Store(Error),
    Skipped(String),
}

/// Links `user` to the profile that has their handle, only when nothing
/// about the account could be an impostor's: users can change their own
/// standard attributes with their access token, so a handle alone proves
/// nothing. The account must be confirmed and enabled, its email verified,
/// and that email the profile's own (ignoring case).
async fn link(store: &Store, user: &PoolUser) -> Result<LinkOutcome, Problem> {
    let skipped = |why: &str| Problem::Skipped(why.to_owned());
    if user.status != "CONFIRMED" {
        return Err(skipped(&format!("not confirmed (status {})", user.status)));
    }
    if !user.enabled {
        return Err(skipped("disabled"));
    }
    if !user.email_verified {
        return Err(skipped("email not verified"));
    }
    let handle = user.handle.as_deref().ok_or_else(|| skipped("no preferred_username"))?;
    let handle = Handle::parse(handle).map_err(|_| skipped("preferred_username is not a valid handle"))?;
    let sub = user.sub.as_deref().and_then(|s| CognitoSub::parse(s).ok()).ok_or_else(|| skipped("no usable sub"))?;
    let summary = store
        .user_by_handle(&handle)
        .await
        .map_err(Problem::Store)?
        .ok_or_else(|| skipped("no profile with this handle"))?;
    let profile = store.profile(summary.uuid).await.map_err(Problem::Store)?.ok_or_else(|| skipped("no profile"))?;
    let same_email = user.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(profile.email.as_str()));
    if !same_email {
        return Err(skipped("the verified email is not the profile's"));
    }
    match store.link_cognito_sub(profile.uuid, &sub).await {
        Ok(outcome) => Ok(outcome),
        Err(Error::ProfileLinkedElsewhere) => Err(skipped("the profile is linked to another Cognito user")),
        Err(Error::CognitoSubTaken) => Err(skipped("this Cognito user is linked to another profile")),
        Err(e) => Err(Problem::Store(e)),
    }
}
