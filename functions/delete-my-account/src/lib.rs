//! The user pool's side of deleting an account: `AdminDeleteUser` of the
//! stack's pool (the function's IAM grant names that pool only).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

use std::future::Future;
use std::pin::Pin;

use aws_sdk_cognitoidentityprovider::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_cognitoidentityprovider::operation::admin_delete_user::AdminDeleteUserError;
use cruddur_core::api::Directory;
use cruddur_core::Error;

/// The environment variable naming the pool.
pub const USER_POOL_ID_ENV: &str = "USER_POOL_ID";

/// One user pool, through the Cognito admin API.
#[derive(Debug, Clone)]
pub struct CognitoDirectory {
    client: aws_sdk_cognitoidentityprovider::Client,
    pool: String,
}

impl CognitoDirectory {
    pub fn new(client: aws_sdk_cognitoidentityprovider::Client, pool: impl Into<String>) -> Self {
        CognitoDirectory { client, pool: pool.into() }
    }
}

impl Directory for CognitoDirectory {
    fn delete_user<'a>(&'a self, username: &'a str) -> Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 'a>> {
        Box::pin(async move {
            match self.client.admin_delete_user().user_pool_id(&self.pool).username(username).send().await {
                Ok(_) => Ok(()),
                // Gone already: an earlier attempt, or an operator.
                Err(e) if matches!(e.as_service_error(), Some(AdminDeleteUserError::UserNotFoundException(_))) => {
                    Ok(())
                }
                Err(e) => {
                    let code = e.as_service_error().and_then(|s| s.code()).unwrap_or("no answer").to_owned();
                    // The SDK error's whole context is logged with it (never a token: requests carry none).
                    Err(Error::Unavailable {
                        what: format!("the user pool refused the deletion ({code})"),
                        cause: Some(DisplayErrorContext(&e).to_string().into()),
                    })
                }
            }
        })
    }
}
