//! Seller accounts.

use super::rows::{SellerRow, now};
use super::{Database, StoreError, on_pool, violates_unique};
use crate::domain::notification::SellerId;
use crate::domain::seller::{Email, ShopName};
use app::types::Seller;

/// What login needs: the seller and their password hash.
#[derive(Debug, sqlx::FromRow)]
pub struct Credentials {
    pub id: i64,
    pub email: String,
    pub shop_name: String,
    pub password_hash: String,
}

impl Database {
    /// # Errors
    /// [`StoreError::EmailTaken`] when the email is registered already.
    pub async fn create_seller(
        &self,
        email: &Email,
        password_hash: &str,
        shop_name: &ShopName,
    ) -> Result<Seller, StoreError> {
        const SQL: &str = "INSERT INTO sellers (email, password_hash, shop_name, last_seq, created_at) \
                           VALUES ($1, $2, $3, 0, $4) RETURNING id, email, shop_name";
        let created_at = now();
        let result = on_pool!(self, pool => {
            sqlx::query_as::<_, SellerRow>(SQL)
                .bind(email.as_str())
                .bind(password_hash)
                .bind(shop_name.as_str())
                .bind(created_at)
                .fetch_one(pool)
                .await
        });
        match result {
            Ok(row) => Ok(row.into()),
            Err(e) if violates_unique(&e, "sellers_email_key", "sellers.email") => {
                Err(StoreError::EmailTaken)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// # Errors
    /// Database failures only; an unknown email is `Ok(None)`.
    pub async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError> {
        const SQL: &str = "SELECT id, email, shop_name, password_hash FROM sellers WHERE email = $1";
        Ok(on_pool!(self, pool => {
            sqlx::query_as::<_, Credentials>(SQL).bind(email.as_str()).fetch_optional(pool).await
        })?)
    }

    /// # Errors
    /// [`StoreError::NotFound`] for an unknown id.
    pub async fn seller(&self, id: SellerId) -> Result<Seller, StoreError> {
        const SQL: &str = "SELECT id, email, shop_name FROM sellers WHERE id = $1";
        on_pool!(self, pool => {
            sqlx::query_as::<_, SellerRow>(SQL).bind(id.0).fetch_optional(pool).await
        })?
        .map(Seller::from)
        .ok_or(StoreError::NotFound)
    }
}
