//! Reading and updating a seller's notifications. Inserts live in
//! [`super::writer`]; every query here is scoped by `seller_id`, so a seller
//! can never read or change another seller's rows.

use super::rows::{NOTIFICATION_COLUMNS, NotificationRow, now};
use super::{Database, KEYS_PER_STATEMENT, StoreError, on_pool, push_keys_in};
use crate::domain::limit::Limit;
use crate::domain::notification::{SellerId, Seq};
use crate::domain::sync::{AckSeqs, DeltaQuery};
use app::types::{DeltaPage, Notification, Stats};
use sqlx::{AssertSqlSafe, QueryBuilder};
use std::collections::HashSet;

// One `UPDATE` marks a whole ack group (its limit plus one job's seqs), so
// the group's row locks are taken in one id order and two groups, or a group
// and a batch of sent marks, never deadlock.
const _: () = assert!(KEYS_PER_STATEMENT >= super::acks::MAX_GROUP_PAIRS + AckSeqs::MAX);

impl Database {
    /// Newest first, optionally only those with `seq < before`.
    ///
    /// # Errors
    /// Database failures.
    pub async fn list_notifications(
        &self,
        seller: SellerId,
        before: Option<Seq>,
        limit: Limit,
    ) -> Result<Vec<Notification>, StoreError> {
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications \
             WHERE seller_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
        );
        let before = before.map_or(i64::MAX, |s| s.0);
        let rows = on_pool!(self, pool => {
            sqlx::query_as::<_, NotificationRow>(AssertSqlSafe(sql))
                .bind(seller.0)
                .bind(before)
                .bind(i64::from(limit.get()))
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(Notification::from).collect())
    }

    /// CONTRACT: ascending by seq from `after + 1`; `last_seq` is the seller's
    /// newest overall. The rows are read before `last_seq`, so `last_seq` is
    /// never below the page's last seq.
    ///
    /// # Errors
    /// Database failures.
    pub async fn delta(&self, seller: SellerId, query: DeltaQuery) -> Result<DeltaPage, StoreError> {
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications \
             WHERE seller_id = $1 AND seq > $2 ORDER BY seq ASC LIMIT $3"
        );
        let limit = query.limit.get() as usize;
        // One row past the page tells whether more follow.
        let mut rows = on_pool!(self, pool => {
            sqlx::query_as::<_, NotificationRow>(AssertSqlSafe(sql))
                .bind(seller.0)
                .bind(query.after.0)
                .bind(i64::try_from(limit + 1).unwrap_or(i64::MAX))
                .fetch_all(pool)
                .await
        })?;
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        let last_seq = self.last_seq(seller).await?;
        Ok(DeltaPage {
            notifications: rows.into_iter().map(Notification::from).collect(),
            last_seq,
            has_more,
        })
    }

    /// The seller's newest seq (0 before the first notification).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown seller.
    pub async fn last_seq(&self, seller: SellerId) -> Result<i64, StoreError> {
        const SQL: &str = "SELECT last_seq FROM sellers WHERE id = $1";
        on_pool!(self, pool => {
            sqlx::query_scalar::<_, i64>(SQL).bind(seller.0).fetch_optional(pool).await
        })?
        .ok_or(StoreError::NotFound)
    }

    /// The newest seq of each of these sellers, in one statement per
    /// [`KEYS_PER_STATEMENT`] sellers (unknown sellers are left out).
    ///
    /// # Errors
    /// Database failures.
    pub async fn last_seqs(&self, sellers: &[SellerId]) -> Result<Vec<(SellerId, Seq)>, StoreError> {
        let mut newest = Vec::with_capacity(sellers.len());
        for chunk in sellers.chunks(KEYS_PER_STATEMENT) {
            let rows: Vec<(i64, i64)> = on_pool!(self, pool => {
                let mut sql = QueryBuilder::new("SELECT id, last_seq FROM sellers WHERE id IN (");
                let mut ids = sql.separated(", ");
                for seller in chunk {
                    ids.push_bind(seller.0);
                }
                ids.push_unseparated(")");
                sql.build_query_as().fetch_all(pool).await
            })?;
            newest.extend(rows.into_iter().map(|(seller, seq)| (SellerId(seller), Seq(seq))));
        }
        Ok(newest)
    }

    /// Marks these seqs received; returns those that moved to received now,
    /// in seq order (already received ones, unknown seqs and other sellers'
    /// are not among them).
    ///
    /// # Errors
    /// Database failures.
    pub async fn acknowledge(&self, seller: SellerId, seqs: &[Seq]) -> Result<Vec<Seq>, StoreError> {
        let pairs: Vec<(SellerId, Seq)> = seqs.iter().map(|seq| (seller, *seq)).collect();
        let moved = self.acknowledge_many(&pairs).await?;
        let mut moved: Vec<Seq> = moved.into_iter().map(|(_, seq)| seq).collect();
        moved.sort_unstable();
        Ok(moved)
    }

    /// Marks any sellers' seqs received in one transaction (what
    /// [`super::acks::AckWriter`] commits for a group); returns the pairs that
    /// moved to received now.
    ///
    /// # Errors
    /// Database failures; nothing is marked then.
    pub async fn acknowledge_many(
        &self,
        pairs: &[(SellerId, Seq)],
    ) -> Result<HashSet<(SellerId, Seq)>, StoreError> {
        let mut moved = HashSet::with_capacity(pairs.len());
        if pairs.is_empty() {
            return Ok(moved);
        }
        let time = now();
        let lock = self.lock_rows_in_id_order();
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for chunk in pairs.chunks(KEYS_PER_STATEMENT) {
                // Received implies sent, even when the ack overtakes the
                // write of `sent_at` (it is recorded after the emit, off the
                // push's path).
                let mut sql = QueryBuilder::new("UPDATE notifications SET received_at = ");
                sql.push_bind(time).push(", sent_at = COALESCE(sent_at, ").push_bind(time);
                sql.push(") WHERE received_at IS NULL AND id IN (SELECT id FROM notifications ");
                sql.push("WHERE received_at IS NULL AND ");
                push_keys_in(&mut sql, chunk);
                sql.push(lock).push(") RETURNING seller_id, seq");
                let rows: Vec<(i64, i64)> = sql.build_query_as().fetch_all(&mut *tx).await?;
                moved.extend(rows.into_iter().map(|(seller, seq)| (SellerId(seller), Seq(seq))));
            }
            tx.commit().await
        })?;
        Ok(moved)
    }

    /// `UPDATE notifications SET {set[0]}<now>{set[1]}<now>… WHERE seller_id =
    /// <seller> AND {condition}seq IN (<seqs>)`: the current time goes
    /// between the pieces of `set`. Returns the number of rows changed.
    pub(super) async fn update_seqs(
        &self,
        set: &[&'static str],
        condition: &'static str,
        seller: SellerId,
        seqs: &[Seq],
    ) -> Result<u64, StoreError> {
        let time = now();
        let affected = on_pool!(self, pool => {
            let mut sql = QueryBuilder::new("UPDATE notifications SET ");
            for (i, piece) in set.iter().enumerate() {
                if i > 0 {
                    sql.push_bind(time);
                }
                sql.push(*piece);
            }
            sql.push(" WHERE seller_id = ").push_bind(seller.0).push(" AND ").push(condition).push("seq IN (");
            let mut list = sql.separated(", ");
            for seq in seqs {
                list.push_bind(seq.0);
            }
            sql.push(")");
            sql.build().execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(affected)
    }

    /// Marks one notification read (keeping the first read time).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the seller has no such seq.
    pub async fn mark_read(&self, seller: SellerId, seq: Seq) -> Result<Notification, StoreError> {
        let sql = format!(
            "UPDATE notifications SET read_at = COALESCE(read_at, $3) \
             WHERE seller_id = $1 AND seq = $2 RETURNING {NOTIFICATION_COLUMNS}"
        );
        let read_at = now();
        on_pool!(self, pool => {
            sqlx::query_as::<_, NotificationRow>(AssertSqlSafe(sql))
                .bind(seller.0)
                .bind(seq.0)
                .bind(read_at)
                .fetch_optional(pool)
                .await
        })?
        .map(Notification::from)
        .ok_or(StoreError::NotFound)
    }

    /// Marks every unread notification read; returns how many changed.
    ///
    /// # Errors
    /// Database failures.
    pub async fn mark_all_read(&self, seller: SellerId) -> Result<u64, StoreError> {
        let sql = format!(
            "UPDATE notifications SET read_at = $2 WHERE read_at IS NULL AND id IN \
             (SELECT id FROM notifications WHERE seller_id = $1 AND read_at IS NULL{})",
            self.lock_rows_in_id_order()
        );
        let read_at = now();
        Ok(on_pool!(self, pool => {
            sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(seller.0)
                .bind(read_at)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?)
    }

    /// CONTRACT: `GET /api/notifications/stats`.
    ///
    /// # Errors
    /// Database failures.
    pub async fn stats(&self, seller: SellerId) -> Result<Stats, StoreError> {
        const SQL: &str = "SELECT \
                COUNT(*) AS total, \
                COUNT(*) FILTER (WHERE read_at IS NULL) AS unread, \
                COUNT(*) FILTER (WHERE sent_at IS NOT NULL) AS sent, \
                COUNT(*) FILTER (WHERE received_at IS NOT NULL) AS received, \
                COUNT(*) FILTER (WHERE received_at IS NULL AND failed_at IS NULL) AS pending, \
                COUNT(*) FILTER (WHERE received_at IS NULL AND failed_at IS NOT NULL) AS failed \
            FROM notifications WHERE seller_id = $1";
        let (total, unread, sent, received, pending, failed) = on_pool!(self, pool => {
            sqlx::query_as::<_, (i64, i64, i64, i64, i64, i64)>(SQL).bind(seller.0).fetch_one(pool).await
        })?;
        let last_seq = self.last_seq(seller).await?;
        Ok(Stats { total, unread, sent, received, pending, failed, last_seq })
    }
}
