//! Bearer-token verification as API Gateway's HTTP API JWT authorizer does
//! it for a Cognito user pool: RS256 signature against the pool's JWKS, `iss`,
//! `exp`, `nbf` and `iat` (not in the future), the audience (`aud`, or
//! `client_id` when there is no `aud`, as API Gateway reads them) in the
//! allowed list; and `token_use` = `access` (the deployed authorizer requires
//! the access token's scope: an ID token is refused there too).
//!
//! The pool's keys (JWKS) are cached for an hour, fetched by one request at a
//! time however many requests wait for them, refetched early only for an
//! unknown key id (at most every 10 s), and refused above 64 KiB.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use tokio::sync::RwLock;

/// What a token must satisfy.
#[derive(Debug, Clone)]
pub struct VerifierSettings {
    /// `https://cognito-idp.<region>.amazonaws.com/<pool id>` (moto issues the same).
    pub issuer: String,
    /// Allowed app client ids.
    pub audiences: Vec<String>,
    /// Where the pool publishes its signing keys.
    pub jwks_url: String,
}

/// Why a request is refused with 401. Logged by kind, never with the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    MissingToken,
    Malformed,
    UnknownKey,
    BadSignature,
    Expired,
    WrongIssuer,
    WrongAudience,
    NotAnAccessToken,
    IssuedInTheFuture,
    KeysUnavailable,
}

/// Claims as the authorizer hands them to the function: a map of strings.
pub type Claims = Map<String, Value>;

type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

pub struct Verifier {
    settings: VerifierSettings,
    keys: RwLock<Option<(Instant, Arc<JwkSet>)>>,
    /// Held while fetching: one fetch at a time for all waiting requests.
    fetching: tokio::sync::Mutex<()>,
    http: HttpClient,
}

/// Unknown key ids trigger a JWKS refresh at most this often.
const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(10);
/// Cached keys are used this long before they are fetched again.
const KEYS_LIFETIME: Duration = Duration::from_secs(3600);
/// A JWKS larger than this is refused (a pool has two keys, about 1 KiB).
const MAX_JWKS_BYTES: usize = 64 * 1024;

impl Verifier {
    pub fn new(settings: VerifierSettings) -> Result<Self, String> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| format!("cannot load the system's root certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Verifier {
            settings,
            keys: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(()),
            http: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    /// Verifies an `Authorization` header value; the claims on success.
    pub async fn verify(&self, authorization: Option<&str>) -> Result<Claims, AuthError> {
        let raw = authorization.map(str::trim).filter(|v| !v.is_empty()).ok_or(AuthError::MissingToken)?;
        // API Gateway accepts the token with or without the Bearer prefix.
        let token = match raw.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => raw,
        };
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::Malformed);
        }
        let kid = header.kid.ok_or(AuthError::Malformed)?;
        let key = self.key(&kid).await?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = 0;
        // The audience is checked below: access tokens carry it as client_id.
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => AuthError::Expired,
                ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                _ => AuthError::Malformed,
            }
        })?;
        let claims = data.claims;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        if claims.get("iat").and_then(Value::as_u64).is_none_or(|iat| iat > now) {
            return Err(AuthError::IssuedInTheFuture);
        }
        if claims.get("token_use").and_then(Value::as_str) != Some("access") {
            return Err(AuthError::NotAnAccessToken);
        }
        // As API Gateway: `aud` when the token has one, else `client_id`.
        let audience = claims.get("aud").or_else(|| claims.get("client_id")).and_then(Value::as_str);
        if !audience.is_some_and(|a| self.settings.audiences.iter().any(|allowed| allowed == a)) {
            return Err(AuthError::WrongAudience);
        }
        Ok(claims)
    }

    /// The decoding key for `kid`: from the cached JWKS while it is fresh;
    /// fetched again when it is older than [`KEYS_LIFETIME`], or early for an
    /// unknown key id (keys rotate) but not more often than every few seconds.
    async fn key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        if let Some(found) = self.cached_key(kid).await {
            return found;
        }
        // One fetch at a time: whoever waited here finds the keys the
        // fetch before them brought (fresh, so no second fetch).
        let _fetching = self.fetching.lock().await;
        if let Some(found) = self.cached_key(kid).await {
            return found;
        }
        let set = Arc::new(self.fetch_keys().await?);
        *self.keys.write().await = Some((Instant::now(), set.clone()));
        let jwk = set.find(kid).ok_or(AuthError::UnknownKey)?;
        DecodingKey::from_jwk(jwk).map_err(|_| AuthError::KeysUnavailable)
    }

    /// The answer the cache gives, or `None` when the keys must be fetched.
    async fn cached_key(&self, kid: &str) -> Option<Result<DecodingKey, AuthError>> {
        let cached = self.keys.read().await.clone();
        let (fetched, set) = cached?;
        if fetched.elapsed() >= KEYS_LIFETIME {
            return None;
        }
        match set.find(kid) {
            Some(jwk) => Some(DecodingKey::from_jwk(jwk).map_err(|_| AuthError::KeysUnavailable)),
            None if fetched.elapsed() < REFRESH_AT_MOST_EVERY => Some(Err(AuthError::UnknownKey)),
            None => None,
        }
    }

    async fn fetch_keys(&self) -> Result<JwkSet, AuthError> {
        let uri: hyper::Uri = self.settings.jwks_url.parse().map_err(|_| AuthError::KeysUnavailable)?;
        let fetch = async {
            let response = self.http.get(uri).await.map_err(|_| AuthError::KeysUnavailable)?;
            if !response.status().is_success() {
                return Err(AuthError::KeysUnavailable);
            }
            let body = http_body_util::Limited::new(response.into_body(), MAX_JWKS_BYTES)
                .collect()
                .await
                .map_err(|_| AuthError::KeysUnavailable)?
                .to_bytes();
            serde_json::from_slice::<JwkSet>(&body).map_err(|_| AuthError::KeysUnavailable)
        };
        match tokio::time::timeout(Duration::from_secs(5), fetch).await {
            Ok(result) => result,
            Err(_) => Err(AuthError::KeysUnavailable),
        }
    }
}

/// Claims as API Gateway passes them: every value a string (numbers and
/// booleans printed, arrays as `[a b]`).
pub fn stringify_claims(claims: &Claims) -> Map<String, Value> {
    claims
        .iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Array(items) => {
                    let parts: Vec<String> =
                        items.iter().map(|i| i.as_str().map(str::to_owned).unwrap_or_else(|| i.to_string())).collect();
                    format!("[{}]", parts.join(" "))
                }
                other => other.to_string(),
            };
            (k.clone(), Value::String(s))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_become_strings_as_api_gateway_passes_them() {
        let claims: Claims =
            serde_json::from_str(r#"{"sub":"abc","exp":1700000000,"admin":true,"groups":["a","b"]}"#).unwrap();
        let s = stringify_claims(&claims);
        assert_eq!(s["sub"], "abc");
        assert_eq!(s["exp"], "1700000000");
        assert_eq!(s["admin"], "true");
        assert_eq!(s["groups"], "[a b]");
    }
}
