//! Passwords (argon2id), session tokens (JWT, HS256), where a request carries
//! its credentials (Bearer header, session cookie) and the constant-time check
//! of shared secrets. Pure functions plus the keys: the HTTP and Socket.IO
//! doors both read credentials and call [`JwtKeys::verify`] through here, so
//! they accept exactly the same sessions.

use crate::domain::notification::SellerId;
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// Hashes a password with argon2id and a random salt (PHC string).
///
/// CPU-heavy (tens of ms): call it through [`off_the_async_workers`].
///
/// # Errors
/// Only if the hasher rejects its own parameters.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("failed to hash a password: {e}"))
}

/// True when `password` matches `hash`. A malformed hash never matches.
///
/// CPU-heavy: call it through [`off_the_async_workers`].
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// Password hashing allowed at once. Each argon2 run holds 19 MiB and a
/// core for tens of milliseconds: unbounded, a burst of sign-ups would take
/// every core and hundreds of MiB (and an attacker could do it on purpose).
static HASHING: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZero::get))
});

/// Runs `work` (argon2) on the blocking pool, at most one per core at once;
/// the others wait their turn.
///
/// # Errors
/// When the blocking task panicked.
pub async fn off_the_async_workers<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    let _permit = HASHING.acquire().await.map_err(|_| anyhow::anyhow!("the hashing semaphore is closed"))?;
    tokio::task::spawn_blocking(work).await.map_err(|e| anyhow::anyhow!("password hashing task failed: {e}"))
}

/// A valid hash of a password nobody knows. Login checks unknown emails
/// against it, so they take as long as known ones and do not reveal which
/// emails are registered.
pub fn decoy_hash() -> &'static str {
    static DECOY: LazyLock<String> = LazyLock::new(|| {
        hash_password("decoy password, never accepted").expect("BUG: argon2 defaults are valid")
    });
    &DECOY
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The seller id, as a string (RFC 7519 `sub`).
    sub: String,
    iat: u64,
    exp: u64,
    /// The session's id (`sessions`), so it can be revoked. Tokens minted
    /// elsewhere with `JWT_SECRET` may lack it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
}

/// A session's id: 128 random bits, hex. The row in `sessions` that says
/// whether its tokens still count.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionId(Arc<str>);

impl SessionId {
    pub fn generate() -> Self {
        Self(format!("{:032x}", rand::random::<u128>()).into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub seller: SellerId,
    /// `None` for a token without `sid` (minted elsewhere with `JWT_SECRET`):
    /// only "sign out everywhere" can end it, by its `issued_at`.
    pub session: Option<SessionId>,
    /// `iat`, in seconds since the Unix epoch.
    pub issued_at: u64,
}

/// Why a token was refused. Deliberately not more precise: clients only need
/// to know they must log in again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid or expired token")]
pub struct InvalidToken;

/// Signs and checks session tokens. Cheap to clone.
#[derive(Clone)]
pub struct JwtKeys {
    inner: Arc<Keys>,
}

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeys").field("secret", &"***").field("ttl", &self.inner.ttl).finish()
    }
}

impl JwtKeys {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            inner: Arc::new(Keys {
                encoding: EncodingKey::from_secret(secret),
                decoding: DecodingKey::from_secret(secret),
                validation,
                ttl,
            }),
        }
    }

    /// How long issued tokens live.
    pub fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// A token for `seller`'s session `session`.
    ///
    /// # Errors
    /// Only if signing fails, which HS256 with a byte key does not.
    pub fn issue(&self, seller: SellerId, session: &SessionId) -> anyhow::Result<String> {
        let iat = unix_now();
        let claims = Claims {
            sub: seller.0.to_string(),
            iat,
            exp: iat + self.inner.ttl.as_secs(),
            sid: Some(session.as_str().to_owned()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.inner.encoding)
            .map_err(|e| anyhow::anyhow!("failed to sign a token: {e}"))
    }

    /// What a token says, when its signature and expiry hold. Whether its
    /// session still counts is the store's to say.
    ///
    /// # Errors
    /// [`InvalidToken`] for a bad signature, another algorithm, an expired
    /// token or a malformed subject or session id.
    pub fn verify(&self, token: &str) -> Result<TokenClaims, InvalidToken> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.inner.decoding, &self.inner.validation)
            .map_err(|_| InvalidToken)?;
        let seller = match data.claims.sub.parse::<i64>() {
            Ok(id) if id > 0 => SellerId(id),
            _ => return Err(InvalidToken),
        };
        let session = match data.claims.sid {
            None => None,
            Some(sid) if sid.len() == 32 && sid.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(SessionId(sid.into()))
            }
            Some(_) => return Err(InvalidToken),
        };
        Ok(TokenClaims { seller, session, issued_at: data.claims.iat })
    }
}

/// The session cookie the dashboard gets at login (HttpOnly, SameSite=Lax).
pub const SESSION_COOKIE: &str = "liveshop_session";

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
pub fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

/// The session cookie's value, if the request carries a non-empty one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

/// Whether `given` equals the configured secret (the ingest API key), in
/// time independent of where they differ.
pub fn secret_matches(expected: &SecretString, given: &str) -> bool {
    use subtle::ConstantTimeEq;
    expected.expose_secret().as_bytes().ct_eq(given.as_bytes()).into()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(3600))
    }

    #[test]
    fn session_cookie_is_found_among_others() {
        use axum::http::HeaderValue;
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static("theme=dark; liveshop_session=abc.def; x=1"));
        assert_eq!(session_cookie(&headers).as_deref(), Some("abc.def"));
        headers.insert(COOKIE, HeaderValue::from_static("liveshop_session="));
        assert_eq!(session_cookie(&headers), None);
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        use axum::http::HeaderValue;
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("bearer t0k"));
        assert_eq!(bearer_token(&headers).as_deref(), Some("t0k"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&headers), None);
    }

    #[test]
    fn secret_comparison_is_exact() {
        let key = SecretString::from("abc".to_owned());
        assert!(secret_matches(&key, "abc"));
        assert!(!secret_matches(&key, "abd"));
        assert!(!secret_matches(&key, "ab"));
        assert!(!secret_matches(&key, ""));
    }

    #[test]
    fn a_password_matches_its_hash_only() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn decoy_hash_accepts_nothing_plausible() {
        assert!(!verify_password("", decoy_hash()));
        assert!(!verify_password("password", decoy_hash()));
    }

    fn sign(keys: &JwtKeys, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &keys.inner.encoding).unwrap()
    }

    #[test]
    fn issued_token_verifies_to_its_seller_and_session() {
        let keys = keys();
        let session = SessionId::generate();
        let token = keys.issue(SellerId(42), &session).unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!((claims.seller, claims.session), (SellerId(42), Some(session)));
        assert!(claims.issued_at.abs_diff(unix_now()) <= 1);
    }

    #[test]
    fn a_token_without_a_session_id_verifies_and_a_malformed_one_does_not() {
        let keys = keys();
        let exp = unix_now() + 60;
        let without = sign(&keys, &Claims { sub: "7".into(), iat: 5, exp, sid: None });
        let claims = keys.verify(&without).unwrap();
        assert_eq!((claims.seller, claims.session, claims.issued_at), (SellerId(7), None, 5));
        for sid in ["", "abc", "zz000000000000000000000000000000", "0123456789abcdef0123456789abcdef0"] {
            let malformed = sign(&keys, &Claims { sub: "7".into(), iat: 5, exp, sid: Some(sid.into()) });
            assert_eq!(keys.verify(&malformed), Err(InvalidToken), "{sid:?}");
        }
    }

    #[test]
    fn token_signed_with_another_secret_is_refused() {
        let other = JwtKeys::new(b"another secret, 32 bytes long!!!", Duration::from_secs(3600));
        let token = other.issue(SellerId(1), &SessionId::generate()).unwrap();
        assert_eq!(keys().verify(&token), Err(InvalidToken));
    }

    #[test]
    fn expired_token_is_refused() {
        let keys = keys();
        let claims = Claims { sub: "1".into(), iat: 1, exp: 2, sid: None };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.inner.encoding).unwrap();
        assert_eq!(keys.verify(&token), Err(InvalidToken));
    }

    #[test]
    fn garbage_and_unsigned_tokens_are_refused() {
        let keys = keys();
        assert_eq!(keys.verify(""), Err(InvalidToken));
        assert_eq!(keys.verify("a.b.c"), Err(InvalidToken));
        // alg "none" with the same claims.
        let unsigned =
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIiwiaWF0IjoxLCJleHAiOjQxMDI0NDQ4MDB9.";
        assert_eq!(keys.verify(unsigned), Err(InvalidToken));
    }
}
