//! Reading orders. Orders are inserted by [`super::writer`], in the same
//! transaction as their `order.created` notification.

use super::rows::OrderRow;
use super::{Database, StoreError, on_pool};
use crate::domain::limit::Limit;
use crate::domain::notification::SellerId;
use app::types::Order;

impl Database {
    /// Newest first.
    ///
    /// # Errors
    /// Database failures.
    pub async fn list_orders(&self, seller: SellerId, limit: Limit) -> Result<Vec<Order>, StoreError> {
        const SQL: &str = "SELECT id, seller_id, customer_name, items, note, total_cents, created_at \
                           FROM orders WHERE seller_id = $1 ORDER BY id DESC LIMIT $2";
        let rows = on_pool!(self, pool => {
            sqlx::query_as::<_, OrderRow>(SQL).bind(seller.0).bind(i64::from(limit.get())).fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(Order::from).collect())
    }
}
