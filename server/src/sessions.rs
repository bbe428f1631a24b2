//! Whether a token still counts: its signature and expiry (`crate::auth`),
//! then its session in the store, which logout, "sign out everywhere" and a
//! password change revoke. Every door asks here: the HTTP extractor, the
//! pages' guard and the socket handshake.
//!
//! HTTP requests read a cache of sessions found active in the last
//! [`CACHE_TTL`], so a busy dashboard does not cost a query per request.
//! A revocation clears this instance's cache at once; another instance's
//! cache may still pass the revoked token's HTTP requests for up to
//! [`CACHE_TTL`]. Socket handshakes always read the store, so a revoked
//! session never opens a socket, and its open sockets are disconnected on
//! every instance by the caller (`gateway::disconnect_*`). A socket's events
//! are never checked one by one: the handshake was.

use crate::auth::{InvalidToken, JwtKeys, SessionId, TokenClaims};
use crate::domain::notification::SellerId;
use crate::store::{Database, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// How long a session found active is believed without asking the store.
pub const CACHE_TTL: Duration = Duration::from_secs(10);
/// Above this many cached sessions, stale ones are swept on the next insert.
const SWEEP_ABOVE: usize = 100_000;

/// How current the answer must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// At most [`CACHE_TTL`] old: HTTP requests.
    Cached,
    /// From the store: socket handshakes.
    Fresh,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A bad or expired token, or a revoked session: sign in again.
    #[error("invalid, expired or revoked token")]
    Invalid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<InvalidToken> for SessionError {
    fn from(_: InvalidToken) -> Self {
        Self::Invalid
    }
}

/// Sessions: start, check, end. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Sessions {
    database: Database,
    keys: JwtKeys,
    /// Sessions found active, with their seller and when they were checked.
    active: Arc<Mutex<HashMap<CacheKey, (SellerId, Instant)>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum CacheKey {
    Session(SessionId),
    /// A token without a session id, known by its seller and issue time.
    Unnamed {
        seller: SellerId,
        issued_at: u64,
    },
}

impl CacheKey {
    fn of(claims: &TokenClaims) -> Self {
        match &claims.session {
            Some(session) => Self::Session(session.clone()),
            None => Self::Unnamed { seller: claims.seller, issued_at: claims.issued_at },
        }
    }
}

impl Sessions {
    pub fn new(database: Database, keys: JwtKeys) -> Self {
        Self { database, keys, active: Arc::default() }
    }

    /// How long a session's tokens live.
    pub fn ttl(&self) -> Duration {
        self.keys.ttl()
    }

    /// Starts a session for `seller`: its row, and the token that names it.
    ///
    /// # Errors
    /// Database failures; signing, which does not fail.
    pub async fn start(&self, seller: SellerId) -> anyhow::Result<(SessionId, String)> {
        let session = SessionId::generate();
        self.database.create_session(seller, &session, self.keys.ttl()).await?;
        let token = self.keys.issue(seller, &session)?;
        Ok((session, token))
    }

    /// What `token` says, when it is valid and its session counts.
    ///
    /// # Errors
    /// [`SessionError::Invalid`] for a bad or expired token or a revoked
    /// session; [`SessionError::Store`] when the store cannot say.
    pub async fn authenticate(&self, token: &str, freshness: Freshness) -> Result<TokenClaims, SessionError> {
        let claims = self.keys.verify(token)?;
        let key = CacheKey::of(&claims);
        if freshness == Freshness::Cached && self.cached(&key) {
            return Ok(claims);
        }
        let active = match &claims.session {
            Some(session) => self.database.session_active(claims.seller, session).await?,
            // Counts unless the seller signed out everywhere after it was issued.
            None => match self.database.sessions_revoked_at(claims.seller).await {
                Ok(revoked_at) => revoked_at.is_none_or(|at| claims.issued_at > unix_seconds(at)),
                Err(StoreError::NotFound) => false,
                Err(error) => return Err(error.into()),
            },
        };
        if !active {
            return Err(SessionError::Invalid);
        }
        self.remember(key, claims.seller);
        Ok(claims)
    }

    /// Ends one session (logout); returns whether it was active.
    ///
    /// # Errors
    /// Database failures.
    pub async fn end(&self, seller: SellerId, session: &SessionId) -> Result<bool, StoreError> {
        let revoked = self.database.revoke_session(seller, session).await?;
        self.active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&CacheKey::Session(session.clone()));
        Ok(revoked > 0)
    }

    /// Ends every session of `seller` ("sign out everywhere"); returns how
    /// many were active.
    ///
    /// # Errors
    /// Database failures.
    pub async fn end_all(&self, seller: SellerId) -> Result<u64, StoreError> {
        let revoked = self.database.revoke_all_sessions(seller).await?;
        self.forget_seller(seller);
        Ok(revoked)
    }

    /// Sets `seller`'s password hash and ends every session of theirs;
    /// returns how many were active.
    ///
    /// # Errors
    /// Database failures.
    pub async fn change_password(&self, seller: SellerId, password_hash: &str) -> Result<u64, StoreError> {
        let revoked = self.database.change_password(seller, password_hash).await?;
        self.forget_seller(seller);
        Ok(revoked)
    }

    fn cached(&self, key: &CacheKey) -> bool {
        let active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        active.get(key).is_some_and(|(_, checked)| checked.elapsed() < CACHE_TTL)
    }

    fn remember(&self, key: CacheKey, seller: SellerId) {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        if active.len() > SWEEP_ABOVE {
            active.retain(|_, (_, checked)| checked.elapsed() < CACHE_TTL);
        }
        active.insert(key, (seller, Instant::now()));
    }

    /// Forgets every cached session of `seller`.
    fn forget_seller(&self, seller: SellerId) {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        active.retain(|_, (owner, _)| *owner != seller);
    }
}

fn unix_seconds(at: chrono::DateTime<chrono::Utc>) -> u64 {
    u64::try_from(at.timestamp()).unwrap_or(0)
}
