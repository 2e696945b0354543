//! Cognito access-token verification, one implementation for every place that
//! checks a token: the WebSocket API's `$connect` authorizer (a Lambda
//! function) and the local API (HTTP routes and the local WebSocket). It
//! checks what API Gateway's HTTP API JWT authorizer checks for a user pool: RS256 signature against the pool's JWKS, `iss`,
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

use crate::config::ConfigError;

/// What a token must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierSettings {
    /// `https://cognito-idp.<region>.amazonaws.com/<pool id>` (moto issues the same).
    pub issuer: String,
    /// Allowed app client ids.
    pub audiences: Vec<String>,
    /// Where the pool publishes its signing keys.
    pub jwks_url: String,
}

impl VerifierSettings {
    /// A Cognito user pool on AWS: its issuer and its public JWKS.
    pub fn cognito(region: &str, user_pool_id: &str, audiences: Vec<String>) -> Self {
        let issuer = format!("https://cognito-idp.{region}.amazonaws.com/{user_pool_id}");
        VerifierSettings { jwks_url: format!("{issuer}/.well-known/jwks.json"), issuer, audiences }
    }

    /// From a Lambda function's environment: `USER_POOL_ID`,
    /// `USER_POOL_CLIENT_ID` (comma-separated ids), `AWS_REGION`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).ok_or(ConfigError {
                name,
                value: String::new(),
                why: "required: the token verifier needs it",
            })
        };
        let region = required("AWS_REGION")?;
        let pool = required("USER_POOL_ID")?;
        let clients = required("USER_POOL_CLIENT_ID")?;
        let audiences: Vec<String> =
            clients.split(',').map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned).collect();
        if !pool.contains('_') || audiences.is_empty() {
            return Err(ConfigError { name: "USER_POOL_ID", value: pool, why: "expected <region>_<id>" });
        }
        Ok(Self::cognito(&region, &pool, audiences))
    }
}

/// Why a token is refused. Logged by kind, never with the token.
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

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("settings", &self.settings).finish_non_exhaustive()
    }
}

pub struct Verifier {
    settings: VerifierSettings,
    keys: RwLock<Option<(Instant, Arc<JwkSet>)>>,
    /// Held while fetching: one fetch at a time for all waiting requests.
    fetching: tokio::sync::Mutex<()>,
    /// When the last fetch failed: requests that waited for it do not each
    /// fetch again one after another (they answer at once, from the stale
    /// keys or with `KeysUnavailable`).
    failed_at: std::sync::Mutex<Option<Instant>>,
    http: HttpClient,
}

/// Unknown key ids trigger a JWKS refresh at most this often.
const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(10);
/// Cached keys are used this long before they are fetched again.
const KEYS_LIFETIME: Duration = Duration::from_secs(3600);
/// Keys past their lifetime still serve, while fetching fresh ones fails,
/// for at most this long (stale-while-revalidate, bounded).
const KEYS_STALE_FOR: Duration = Duration::from_secs(24 * 3600);
/// After a failed fetch, the next is tried no sooner than this.
const RETRY_FETCH_AFTER: Duration = Duration::from_secs(1);
/// A JWKS larger than this is refused (a pool has two keys, about 1 KiB).
const MAX_JWKS_BYTES: usize = 64 * 1024;

impl Verifier {
    pub fn new(settings: VerifierSettings) -> Self {
        let https =
            hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots().https_or_http().enable_http1().build();
        Verifier {
            settings,
            keys: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(()),
            failed_at: std::sync::Mutex::new(None),
            http: Client::builder(TokioExecutor::new()).build(https),
        }
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
    /// unknown key id (keys rotate) but not more often than every few
    /// seconds. While a refresh is under way, or after it failed, keys up to
    /// [`KEYS_STALE_FOR`] old still serve (stale-while-revalidate), so a
    /// request with a known key never waits on the pool's endpoint, and
    /// requests that waited for a failed fetch do not fetch again one by one.
    async fn key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        if let Some(found) = self.cached_key(kid).await {
            return found;
        }
        // One fetch at a time. Someone else is fetching: the stale keys
        // answer at once if they know `kid`; else wait for that fetch.
        let _fetching = match self.fetching.try_lock() {
            Ok(guard) => guard,
            Err(_) => {
                if let Some(found) = self.stale_key(kid).await {
                    return found;
                }
                self.fetching.lock().await
            }
        };
        // Whoever waited finds the keys the fetch before them brought.
        if let Some(found) = self.cached_key(kid).await {
            return found;
        }
        if self.failed_at.lock().ok().and_then(|f| *f).is_some_and(|at| at.elapsed() < RETRY_FETCH_AFTER) {
            return self.stale_key(kid).await.unwrap_or(Err(AuthError::KeysUnavailable));
        }
        match self.fetch_keys().await {
            Ok(set) => {
                let set = Arc::new(set);
                *self.keys.write().await = Some((Instant::now(), set.clone()));
                if let Ok(mut failed) = self.failed_at.lock() {
                    *failed = None;
                }
                let jwk = set.find(kid).ok_or(AuthError::UnknownKey)?;
                DecodingKey::from_jwk(jwk).map_err(|_| AuthError::KeysUnavailable)
            }
            Err(e) => {
                if let Ok(mut failed) = self.failed_at.lock() {
                    *failed = Some(Instant::now());
                }
                tracing::warn!("the user pool's signing keys cannot be fetched; stale keys serve if they can");
                self.stale_key(kid).await.unwrap_or(Err(e))
            }
        }
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

    /// `kid`'s key from cached keys past their lifetime but within
    /// [`KEYS_STALE_FOR`]; `None` when they are older or do not know it.
    async fn stale_key(&self, kid: &str) -> Option<Result<DecodingKey, AuthError>> {
        let cached = self.keys.read().await.clone();
        let (fetched, set) = cached?;
        if fetched.elapsed() >= KEYS_STALE_FOR {
            return None;
        }
        set.find(kid).map(|jwk| DecodingKey::from_jwk(jwk).map_err(|_| AuthError::KeysUnavailable))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// A JWKS endpoint on loopback serving one RSA key `k1` while `up`,
    /// else 500; counts the fetches.
    async fn jwks_server(up: Arc<AtomicBool>, fetches: Arc<AtomicUsize>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (up, fetches) = (up.clone(), fetches.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_req| {
                        let (up, fetches) = (up.clone(), fetches.clone());
                        async move {
                            fetches.fetch_add(1, Ordering::SeqCst);
                            let (status, body) = if up.load(Ordering::SeqCst) {
                                (
                                    200,
                                    r#"{"keys":[{"kty":"RSA","kid":"k1","alg":"RS256","use":"sig","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw","e":"AQAB"}]}"#,
                                )
                            } else {
                                (500, "{}")
                            };
                            let mut response = hyper::Response::new(http_body_util::Full::new(Bytes::from(body)));
                            *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        url
    }

    fn verifier(jwks_url: String) -> Verifier {
        Verifier::new(VerifierSettings { issuer: "https://issuer".into(), audiences: vec!["c".into()], jwks_url })
    }

    #[tokio::test]
    async fn stale_keys_serve_while_the_pool_cannot_be_reached_and_waiters_do_not_refetch_one_by_one() {
        let (up, fetches) = (Arc::new(AtomicBool::new(true)), Arc::new(AtomicUsize::new(0)));
        let v = Arc::new(verifier(jwks_server(up.clone(), fetches.clone()).await));
        assert!(v.key("k1").await.is_ok(), "fetched");
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        // The keys are past their lifetime and the pool's endpoint fails.
        let set = v.keys.read().await.clone().unwrap().1;
        *v.keys.write().await = Some((Instant::now() - KEYS_LIFETIME - Duration::from_secs(1), set.clone()));
        up.store(false, Ordering::SeqCst);
        assert!(v.key("k1").await.is_ok(), "the stale key serves while the refresh fails");
        assert_eq!(fetches.load(Ordering::SeqCst), 2, "a refresh was tried");
        // Twenty requests at once right after: none fetches again.
        let waiting: Vec<_> = (0..20)
            .map(|_| {
                let v = v.clone();
                tokio::spawn(async move { v.key("k1").await.is_ok() })
            })
            .collect();
        for w in waiting {
            assert!(w.await.unwrap());
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 2, "no fetch per waiter");
        // An unknown key with the pool down: a server problem, not a bad token.
        assert_eq!(v.key("k2").await.err(), Some(AuthError::KeysUnavailable));
        // Past the stale bound, nothing serves.
        *v.keys.write().await = Some((Instant::now() - KEYS_STALE_FOR - Duration::from_secs(1), set));
        *v.failed_at.lock().unwrap() = None;
        assert_eq!(v.key("k1").await.err(), Some(AuthError::KeysUnavailable));
        // The pool is back: fresh keys again.
        up.store(true, Ordering::SeqCst);
        *v.failed_at.lock().unwrap() = None;
        assert!(v.key("k1").await.is_ok());
    }

    #[test]
    fn settings_come_from_the_functions_environment() {
        let env = |name: &str| match name {
            "AWS_REGION" => Some("eu-west-1".to_owned()),
            "USER_POOL_ID" => Some("eu-west-1_Abc".to_owned()),
            "USER_POOL_CLIENT_ID" => Some("one, two".to_owned()),
            _ => None,
        };
        let s = VerifierSettings::from_lookup(env).unwrap();
        assert_eq!(s.issuer, "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc");
        assert_eq!(s.jwks_url, "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc/.well-known/jwks.json");
        assert_eq!(s.audiences, ["one", "two"]);
        let missing = VerifierSettings::from_lookup(|n| if n == "USER_POOL_ID" { None } else { env(n) });
        assert_eq!(missing.unwrap_err().name, "USER_POOL_ID");
    }
}
