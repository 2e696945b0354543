//! The local stack's set-up against the local engines (DynamoDB Local and
//! moto's Cognito): the table, a user pool and app client shaped like
//! template.yaml's, the seed users in that
//! pool with profiles made through the PostConfirmation path, and the seeded
//! message group. Every step is idempotent. Also: signing a user in.

use std::collections::HashMap;

use crate::seed::{self, SeedOptions, SeedUser};
use aws_sdk_cognitoidentityprovider::error::DisplayErrorContext;
use aws_sdk_cognitoidentityprovider::types::{
    AttributeDataType, AttributeType, AuthFlowType, ExplicitAuthFlowsType, MessageActionType, PasswordPolicyType,
    SchemaAttributeType, UserPoolPolicyType, UsernameAttributeType, VerifiedAttributeType,
};
use aws_sdk_cognitoidentityprovider::Client;
use cruddur_core::domain::{CognitoSub, Handle, Timestamp};
use cruddur_core::store::MESSAGES_TABLE;
use cruddur_core::{triggers, Error, Store};

pub const POOL_NAME: &str = "cruddur-local";
pub const CLIENT_NAME: &str = "cruddur-local-frontend";
/// The seed users' password in the local pool (meets the template's policy).
pub const LOCAL_PASSWORD: &str = "Cruddur-local-1";

/// What the set-up made (or found).
#[derive(Debug, Clone)]
pub struct LocalStack {
    pub pool_id: String,
    pub client_id: String,
    /// (handle, email, Cognito sub) of each seed user.
    pub users: Vec<(String, String, String)>,
}

fn aws<E: std::error::Error + 'static>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {}", DisplayErrorContext(&e))
}

fn core(what: &str) -> impl FnOnce(Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Sets everything up in the pool named [`POOL_NAME`] and the store's table.
pub async fn setup(cognito: &Client, store: &Store, now: Timestamp) -> Result<LocalStack, String> {
    setup_in_pool(cognito, store, now, POOL_NAME).await
}

/// [`setup`] with another pool name (tests run several stacks side by side).
pub async fn setup_in_pool(cognito: &Client, store: &Store, now: Timestamp, pool: &str) -> Result<LocalStack, String> {
    match MESSAGES_TABLE.matches_existing(store.client(), store.table()).await.map_err(core("checking the table"))? {
        Some(true) => {}
        Some(false) => return Err(format!("table {} exists with another schema", store.table())),
        None => MESSAGES_TABLE.create(store.client(), store.table()).await.map_err(core("creating the table"))?,
    }
    let pool_id = ensure_pool(cognito, pool).await?;
    let client_id = ensure_client(cognito, &pool_id, CLIENT_NAME).await?;
    let mut users = Vec::new();
    for user in &seed::USERS {
        let sub = ensure_user(cognito, store, &pool_id, user).await?;
        users.push((user.handle.to_owned(), user.email.to_owned(), sub));
    }
    seed::seed(store, now, SeedOptions::default(), &|_| {}).await.map_err(core("seeding the message group"))?;
    Ok(LocalStack { pool_id, client_id, users })
}

/// The account deletion's user pool for the suites: the local pool named
/// `name` (created if missing) through the function's own Cognito code.
pub async fn local_directory(name: &str) -> std::sync::Arc<dyn cruddur_core::api::Directory> {
    let cognito =
        crate::engines::local_cognito(&crate::fixtures::test_config(), &crate::engines::cognito_endpoint()).await;
    let pool = ensure_pool(&cognito, name).await.unwrap_or_else(|e| panic!("the local pool {name}: {e}"));
    std::sync::Arc::new(delete_my_account::CognitoDirectory::new(cognito, pool))
}

/// The pool named `name`, created like template.yaml's if missing: email
/// as the username, `email`, `name`, `preferred_username` required.
pub async fn ensure_pool(cognito: &Client, name: &str) -> Result<String, String> {
    let pools = cognito.list_user_pools().max_results(60).send().await.map_err(aws("listing user pools"))?;
    if let Some(id) = pools.user_pools().iter().find(|p| p.name() == Some(name)).and_then(|p| p.id()) {
        return Ok(id.to_owned());
    }
    // As in template.yaml: the handle (preferred_username) is set once, at sign-up.
    let required = |name: &str| {
        SchemaAttributeType::builder()
            .name(name)
            .attribute_data_type(AttributeDataType::String)
            .required(true)
            .mutable(name != "preferred_username")
            .build()
    };
    let created = cognito
        .create_user_pool()
        .pool_name(name)
        .username_attributes(UsernameAttributeType::Email)
        .auto_verified_attributes(VerifiedAttributeType::Email)
        .schema(required("email"))
        .schema(required("name"))
        .schema(required("preferred_username"))
        .policies(
            UserPoolPolicyType::builder()
                .password_policy(
                    PasswordPolicyType::builder()
                        .minimum_length(8)
                        .require_lowercase(true)
                        .require_uppercase(true)
                        .require_numbers(true)
                        .require_symbols(false)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .map_err(aws("creating the user pool"))?;
    created.user_pool.and_then(|p| p.id).ok_or_else(|| "the new user pool has no id".to_owned())
}

/// An app client like the template's (no secret, SRP and refresh tokens),
/// plus USER_PASSWORD_AUTH for `cruddur token`.
pub async fn ensure_client(cognito: &Client, pool_id: &str, name: &str) -> Result<String, String> {
    let clients = cognito
        .list_user_pool_clients()
        .user_pool_id(pool_id)
        .max_results(60)
        .send()
        .await
        .map_err(aws("listing app clients"))?;
    if let Some(id) =
        clients.user_pool_clients().iter().find(|c| c.client_name() == Some(name)).and_then(|c| c.client_id())
    {
        return Ok(id.to_owned());
    }
    let created = cognito
        .create_user_pool_client()
        .user_pool_id(pool_id)
        .client_name(name)
        .generate_secret(false)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowUserSrpAuth)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowUserPasswordAuth)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
        .set_write_attributes(Some(vec!["email".into(), "name".into(), "preferred_username".into()]))
        .set_read_attributes(Some(vec![
            "email".into(),
            "email_verified".into(),
            "name".into(),
            "preferred_username".into(),
        ]))
        .send()
        .await
        .map_err(aws("creating the app client"))?;
    created.user_pool_client.and_then(|c| c.client_id).ok_or_else(|| "the new app client has no id".to_owned())
}

fn attribute(name: &str, value: &str) -> Result<AttributeType, String> {
    AttributeType::builder().name(name).value(value).build().map_err(|e| e.to_string())
}

/// The seed user in the pool (confirmed, with the local password) and its
/// profile; returns its `sub`.
async fn ensure_user(cognito: &Client, store: &Store, pool_id: &str, user: &SeedUser<'_>) -> Result<String, String> {
    let existing = cognito.admin_get_user().user_pool_id(pool_id).username(user.email).send().await;
    let attributes: HashMap<String, String> = match existing {
        Ok(found) => {
            found.user_attributes().iter().filter_map(|a| Some((a.name().to_owned(), a.value()?.to_owned()))).collect()
        }
        Err(_) => {
            let created = cognito
                .admin_create_user()
                .user_pool_id(pool_id)
                .username(user.email)
                .message_action(MessageActionType::Suppress)
                .user_attributes(attribute("email", user.email)?)
                .user_attributes(attribute("email_verified", "true")?)
                .user_attributes(attribute("preferred_username", user.handle)?)
                .user_attributes(attribute("name", user.display_name)?)
                .send()
                .await
                .map_err(aws("creating a seed user"))?;
            cognito
                .admin_set_user_password()
                .user_pool_id(pool_id)
                .username(user.email)
                .password(LOCAL_PASSWORD)
                .permanent(true)
                .send()
                .await
                .map_err(aws("setting a seed user's password"))?;
            created
                .user
                .map(|u| u.attributes.unwrap_or_default())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|a| Some((a.name, a.value?)))
                .collect()
        }
    };
    let sub = attributes.get("sub").cloned().ok_or_else(|| format!("{} has no sub", user.email))?;
    ensure_profile(store, &sub, &attributes).await?;
    Ok(sub)
}

/// The profile for this Cognito user, made as in AWS: through the
/// PostConfirmation trigger's code. A profile seeded earlier without an
/// account (`cruddur seed`) is linked instead, as `cognito sync-users` would.
async fn ensure_profile(store: &Store, sub: &str, attributes: &HashMap<String, String>) -> Result<(), String> {
    let parsed = CognitoSub::parse(sub).map_err(|_| format!("{sub:?} is not a usable sub"))?;
    if store.user_by_cognito_sub(&parsed).await.map_err(core("looking up a profile"))?.is_some() {
        return Ok(());
    }
    let attribute = |name: &str| attributes.get(name).map(String::as_str).unwrap_or("");
    let event =
        crate::events::post_confirmation(sub, attribute("preferred_username"), attribute("name"), attribute("email"));
    match triggers::post_confirmation(store, event).await {
        Ok(_) => Ok(()),
        Err(triggers::TriggerError::HandleTaken(_)) => {
            let handle = attributes.get("preferred_username").and_then(|h| Handle::parse(h).ok());
            let profile = match handle {
                Some(h) => store.user_by_handle(&h).await.map_err(core("looking up a handle"))?,
                None => None,
            };
            let profile = profile.ok_or_else(|| format!("the handle of {sub} is taken but has no profile"))?;
            store.link_cognito_sub(profile.uuid, &parsed).await.map_err(core("linking a seeded profile"))?;
            Ok(())
        }
        Err(e) => Err(format!("storing the profile of {sub}: {e}")),
    }
}

/// Tokens from signing in with a password (USER_PASSWORD_AUTH).
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub id_token: String,
}

/// Signs `username` (an email) in against the app client.
pub async fn sign_in(cognito: &Client, client_id: &str, username: &str, password: &str) -> Result<Tokens, String> {
    let out = cognito
        .initiate_auth()
        .client_id(client_id)
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .auth_parameters("USERNAME", username)
        .auth_parameters("PASSWORD", password)
        .send()
        .await
        .map_err(aws("signing in"))?;
    let result = out.authentication_result.ok_or_else(|| "the sign-in asked for a challenge".to_owned())?;
    Ok(Tokens {
        access_token: result.access_token.ok_or("no access token")?,
        id_token: result.id_token.ok_or("no id token")?,
    })
}

/// The email of a seed user given by handle (or an email as is).
pub fn email_of(who: &str) -> Option<String> {
    if who.contains('@') {
        return Some(who.to_owned());
    }
    seed::USERS.iter().find(|u| u.handle.eq_ignore_ascii_case(who)).map(|u| u.email.to_owned())
}
