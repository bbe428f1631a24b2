//! Sessions: one row per sign-in, revoked by logout, "sign out everywhere"
//! and a password change. Whether a token still counts is decided here (a
//! cache sits in front of it, outside the store).

use super::rows::now;
use super::{Database, StoreError, on_pool};
use crate::auth::SessionId;
use crate::domain::notification::SellerId;
use chrono::{DateTime, Utc};
use std::time::Duration;

impl Database {
    /// Records a new session of `seller`, valid until `ttl` from now, and
    /// forgets the seller's sessions that have expired.
    ///
    /// # Errors
    /// Database failures.
    pub async fn create_session(
        &self,
        seller: SellerId,
        session: &SessionId,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        const INSERT: &str =
            "INSERT INTO sessions (id, seller_id, created_at, expires_at) VALUES ($1, $2, $3, $4)";
        const FORGET_EXPIRED: &str = "DELETE FROM sessions WHERE seller_id = $1 AND expires_at < $2";
        let created_at = now();
        let expires_at = created_at + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(FORGET_EXPIRED).bind(seller.0).bind(created_at).execute(&mut *tx).await?;
            sqlx::query(INSERT)
                .bind(session.as_str())
                .bind(seller.0)
                .bind(created_at)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// Whether `session` is `seller`'s and not revoked. (Its expiry is the
    /// token's, checked with its signature.)
    ///
    /// # Errors
    /// Database failures.
    pub async fn session_active(&self, seller: SellerId, session: &SessionId) -> Result<bool, StoreError> {
        const SQL: &str = "SELECT revoked_at IS NULL FROM sessions WHERE id = $1 AND seller_id = $2";
        let active: Option<bool> = on_pool!(self, pool => {
            sqlx::query_scalar(SQL).bind(session.as_str()).bind(seller.0).fetch_optional(pool).await
        })?;
        Ok(active == Some(true))
    }

    /// When `seller` last signed out everywhere (`None`: never, or no such
    /// seller: then no session of theirs counts anyway).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown seller; database failures.
    pub async fn sessions_revoked_at(&self, seller: SellerId) -> Result<Option<DateTime<Utc>>, StoreError> {
        const SQL: &str = "SELECT sessions_revoked_at FROM sellers WHERE id = $1";
        let row: Option<Option<DateTime<Utc>>> = on_pool!(self, pool => {
            sqlx::query_scalar(SQL).bind(seller.0).fetch_optional(pool).await
        })?;
        row.ok_or(StoreError::NotFound)
    }

    /// Revokes one session; returns how many rows changed (0 when it was
    /// revoked already or is not the seller's).
    ///
    /// # Errors
    /// Database failures.
    pub async fn revoke_session(&self, seller: SellerId, session: &SessionId) -> Result<u64, StoreError> {
        const SQL: &str =
            "UPDATE sessions SET revoked_at = $3 WHERE id = $1 AND seller_id = $2 AND revoked_at IS NULL";
        let revoked = on_pool!(self, pool => {
            sqlx::query(SQL).bind(session.as_str()).bind(seller.0).bind(now()).execute(pool).await
                .map(|done| done.rows_affected())
        })?;
        Ok(revoked)
    }

    /// Revokes every session of `seller`, and with them every token issued
    /// until now; returns how many sessions were still active.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown seller; database failures.
    pub async fn revoke_all_sessions(&self, seller: SellerId) -> Result<u64, StoreError> {
        self.revoke_all(seller, None).await
    }

    /// Replaces `seller`'s password hash and revokes every session, in one
    /// transaction: no token issued with the old password outlives it.
    /// Returns how many sessions were still active.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown seller; database failures.
    pub async fn change_password(&self, seller: SellerId, password_hash: &str) -> Result<u64, StoreError> {
        self.revoke_all(seller, Some(password_hash)).await
    }

    async fn revoke_all(&self, seller: SellerId, new_password_hash: Option<&str>) -> Result<u64, StoreError> {
        const SELLER: &str = "UPDATE sellers SET sessions_revoked_at = $2, \
                              password_hash = COALESCE($3, password_hash) WHERE id = $1";
        const SESSIONS: &str =
            "UPDATE sessions SET revoked_at = $2 WHERE seller_id = $1 AND revoked_at IS NULL";
        let revoked_at = now();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let seller_row = sqlx::query(SELLER)
                .bind(seller.0)
                .bind(revoked_at)
                .bind(new_password_hash)
                .execute(&mut *tx)
                .await?;
            if seller_row.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            let sessions = sqlx::query(SESSIONS).bind(seller.0).bind(revoked_at).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(sessions.rows_affected())
        })
    }

    /// The seller's password hash, for checking the current password.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown seller; database failures.
    pub async fn password_hash(&self, seller: SellerId) -> Result<String, StoreError> {
        const SQL: &str = "SELECT password_hash FROM sellers WHERE id = $1";
        let hash: Option<String> = on_pool!(self, pool => {
            sqlx::query_scalar(SQL).bind(seller.0).fetch_optional(pool).await
        })?;
        hash.ok_or(StoreError::NotFound)
    }
}
