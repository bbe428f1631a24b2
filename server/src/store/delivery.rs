//! Delivery bookkeeping on the notification rows: which push attempt a
//! notification is at, when it was sent, when it failed, and what a
//! (re)connecting socket still needs.
//!
//! The row is the authority; queue jobs only say *when* to look again. Every
//! state change here is a conditional `UPDATE`, so a duplicated job, a second
//! instance or a replayed ack can never count an attempt twice or fail a
//! notification that was received.

use super::rows::{NOTIFICATION_COLUMNS, NotificationRow, now};
use super::{Database, KEYS_PER_STATEMENT, StoreError, on_pool, push_keys_in};
use crate::domain::limit::Limit;
use crate::domain::notification::{SellerId, Seq};
use app::types::Notification;
use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, QueryBuilder};

/// A notification still waiting for its first ack and not failed yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct PendingDelivery {
    pub id: i64,
    pub seller_id: i64,
    pub seq: i64,
    /// Pushes made so far.
    pub attempts: i32,
}

/// Notifications by delivery state, over every seller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryTotals {
    pub pending: i64,
    pub failed: i64,
}

impl Database {
    /// Claims push attempt `attempt` of one notification: moves `attempts` up
    /// to `attempt` if it is below it and the notification is neither
    /// received nor failed. Returns the row only when claimed: only then may
    /// it be pushed as that attempt.
    ///
    /// # Errors
    /// Database failures.
    pub async fn claim_attempt(
        &self,
        seller: SellerId,
        seq: Seq,
        attempt: u32,
    ) -> Result<Option<Notification>, StoreError> {
        let sql = format!(
            "UPDATE notifications SET attempts = $1 \
             WHERE seller_id = $2 AND seq = $3 AND attempts < $1 \
             AND received_at IS NULL AND failed_at IS NULL RETURNING {NOTIFICATION_COLUMNS}"
        );
        let row = on_pool!(self, pool => {
            sqlx::query_as::<_, NotificationRow>(AssertSqlSafe(sql))
                .bind(i64::from(attempt))
                .bind(seller.0)
                .bind(seq.0)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(Notification::from))
    }

    /// Records that these notifications (by id) went out at `sent_at`; the
    /// first time is kept.
    ///
    /// # Errors
    /// Database failures.
    pub async fn mark_sent(&self, ids: &[i64], sent_at: DateTime<Utc>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let lock = self.lock_rows_in_id_order();
        on_pool!(self, pool => {
            let mut sql = QueryBuilder::new("UPDATE notifications SET sent_at = COALESCE(sent_at, ");
            sql.push_bind(sent_at).push(") WHERE sent_at IS NULL AND id IN (SELECT id FROM notifications ");
            sql.push("WHERE sent_at IS NULL AND id IN (");
            let mut list = sql.separated(", ");
            for id in ids {
                list.push_bind(*id);
            }
            sql.push(")").push(lock).push(")");
            sql.build().execute(pool).await.map(drop)
        })?;
        Ok(())
    }

    /// Which of these notifications (any sellers) are still pending:
    /// neither received nor failed.
    ///
    /// # Errors
    /// Database failures.
    pub async fn still_pending(&self, keys: &[(SellerId, Seq)]) -> Result<Vec<(SellerId, Seq)>, StoreError> {
        let mut pending = Vec::new();
        for chunk in keys.chunks(KEYS_PER_STATEMENT) {
            let rows: Vec<(i64, i64)> = on_pool!(self, pool => {
                let mut sql =
                    QueryBuilder::new("SELECT seller_id, seq FROM notifications WHERE received_at IS NULL AND failed_at IS NULL AND ");
                push_keys_in(&mut sql, chunk);
                sql.build_query_as().fetch_all(pool).await
            })?;
            pending.extend(rows.into_iter().map(|(seller, seq)| (SellerId(seller), Seq(seq))));
        }
        pending.sort_unstable();
        Ok(pending)
    }

    /// Marks one notification failed unless it was received (or failed)
    /// meanwhile; true when this call failed it.
    ///
    /// # Errors
    /// Database failures.
    pub async fn mark_failed(&self, seller: SellerId, seq: Seq) -> Result<bool, StoreError> {
        let changed = self
            .update_seqs(
                &["failed_at = ", ""],
                "received_at IS NULL AND failed_at IS NULL AND ",
                seller,
                &[seq],
            )
            .await?;
        Ok(changed == 1)
    }

    /// What a socket that just connected must be sent, one page in seq
    /// order from `cursor + 1` up to `upto`: with the client's `last_seq`,
    /// everything after it (failed or not: it asked); without, every
    /// notification still pending, so a reconnect delivers at once instead
    /// of at the next retry.
    ///
    /// # Errors
    /// Database failures.
    pub async fn catch_up_page(
        &self,
        seller: SellerId,
        cursor: Seq,
        upto: Seq,
        last_seq: Option<Seq>,
        limit: Limit,
    ) -> Result<Vec<Notification>, StoreError> {
        let (filter, after) = match last_seq {
            Some(last_seq) => ("", last_seq.0.max(cursor.0)),
            None => ("AND received_at IS NULL AND failed_at IS NULL ", cursor.0),
        };
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications \
             WHERE seller_id = $1 AND seq > $2 AND seq <= $3 {filter}\
             ORDER BY seq ASC LIMIT $4"
        );
        let rows = on_pool!(self, pool => {
            sqlx::query_as::<_, NotificationRow>(AssertSqlSafe(sql))
                .bind(seller.0)
                .bind(after)
                .bind(upto.0)
                .bind(i64::from(limit.get()))
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(Notification::from).collect())
    }

    /// Pending notifications created before `created_before`, oldest id
    /// first from `after_id + 1`: what the delivery sweep re-schedules.
    ///
    /// # Errors
    /// Database failures.
    pub async fn pending_deliveries(
        &self,
        created_before: DateTime<Utc>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        const SQL: &str = "SELECT id, seller_id, seq, attempts FROM notifications \
             WHERE received_at IS NULL AND failed_at IS NULL AND created_at < $1 AND id > $2 \
             ORDER BY id ASC LIMIT $3";
        Ok(on_pool!(self, pool => {
            sqlx::query_as::<_, PendingDelivery>(SQL)
                .bind(created_before)
                .bind(after_id)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
        })?)
    }

    /// Counts over every seller, for `/metrics`. Reads only the rows not
    /// received (the partial index `notifications_unreceived_idx`), never
    /// the whole history: a scrape every few seconds must stay cheap.
    ///
    /// # Errors
    /// Database failures.
    pub async fn delivery_totals(&self) -> Result<DeliveryTotals, StoreError> {
        const SQL: &str = "SELECT \
                COUNT(*) FILTER (WHERE failed_at IS NULL), \
                COUNT(*) FILTER (WHERE failed_at IS NOT NULL) \
            FROM notifications WHERE received_at IS NULL";
        let (pending, failed) = on_pool!(self, pool => {
            sqlx::query_as::<_, (i64, i64)>(SQL).fetch_one(pool).await
        })?;
        Ok(DeliveryTotals { pending, failed })
    }

    /// The current time as the store writes it, for cut-offs compared with
    /// stored times.
    pub fn now(&self) -> DateTime<Utc> {
        now()
    }
}
