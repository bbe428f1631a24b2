//! The seam between delivery and the database: the reads and conditional
//! updates delivery's policy is made of. [`SqlStore`] is the real one (the
//! group-commit writer and the SQLite/PostgreSQL pool); the delivery tests
//! use an in-memory one with the same rules, so they can run on paused time.
//!
//! Every state change is conditional on the row (see `store::delivery`):
//! the row, not the caller, is the authority on what is left to do.

use crate::domain::limit::Limit;
use crate::domain::notification::{NewNotification, SellerId, Seq};
use crate::domain::order::NewOrder;
use crate::store::acks::AckWriter;
use crate::store::writer::Writer;
use crate::store::{Database, PendingDelivery, StoreError};
use app::types::{Notification, Order};
use chrono::{DateTime, Utc};
use std::fmt;

/// What delivery reads and writes.
#[async_trait::async_trait]
pub trait DeliveryStore: Send + Sync + fmt::Debug + 'static {
    /// Stores notifications (any sellers), all or none, counting push
    /// attempt 1 on each row.
    async fn store_notifications(
        &self,
        items: Vec<NewNotification>,
    ) -> Result<Vec<(SellerId, Notification)>, StoreError>;

    /// Stores an order and its `order.created` notification together.
    async fn store_order(
        &self,
        seller: SellerId,
        order: NewOrder,
    ) -> Result<(Order, Notification), StoreError>;

    /// Moves `attempts` up to `attempt` if below it and still pending;
    /// the row only when this call claimed it.
    async fn claim_attempt(
        &self,
        seller: SellerId,
        seq: Seq,
        attempt: u32,
    ) -> Result<Option<Notification>, StoreError>;

    /// These rows (by id) went out at `at`; the first time is kept.
    async fn mark_sent(&self, ids: &[i64], at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Marks these seqs received; returns those that moved now.
    async fn acknowledge(&self, seller: SellerId, seqs: &[Seq]) -> Result<Vec<Seq>, StoreError>;

    /// Which of these notifications (any sellers) are neither received nor
    /// failed.
    async fn still_pending(&self, pairs: &[(SellerId, Seq)]) -> Result<Vec<(SellerId, Seq)>, StoreError>;

    /// Marks one notification failed unless received or failed; true when
    /// this call did.
    async fn mark_failed(&self, seller: SellerId, seq: Seq) -> Result<bool, StoreError>;

    /// The seller's newest seq.
    async fn last_seq(&self, seller: SellerId) -> Result<Seq, StoreError>;

    /// The newest seq of each of these sellers (unknown ones left out).
    async fn last_seqs(&self, sellers: &[SellerId]) -> Result<Vec<(SellerId, Seq)>, StoreError>;

    /// One page of what a connecting socket lacks (see
    /// `Database::catch_up_page`).
    async fn catch_up_page(
        &self,
        seller: SellerId,
        cursor: Seq,
        upto: Seq,
        last_seq: Option<Seq>,
        limit: Limit,
    ) -> Result<Vec<Notification>, StoreError>;

    /// Pending notifications created before `created_before`, by id from
    /// `after_id + 1`.
    async fn pending_deliveries(
        &self,
        created_before: DateTime<Utc>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<PendingDelivery>, StoreError>;

    /// The current time as the store writes it.
    fn now(&self) -> DateTime<Utc>;
}

/// The database, with notifications and received marks each written by a
/// group-commit task: concurrent publishes share a transaction, and so do
/// concurrent acks.
#[derive(Debug, Clone)]
pub struct SqlStore {
    database: Database,
    writer: Writer,
    acks: AckWriter,
}

impl SqlStore {
    /// Starts the writer and ack tasks on `database`.
    pub fn spawn(database: Database) -> Self {
        Self { writer: Writer::spawn(database.clone()), acks: AckWriter::spawn(database.clone()), database }
    }
}

#[async_trait::async_trait]
impl DeliveryStore for SqlStore {
    async fn store_notifications(
        &self,
        items: Vec<NewNotification>,
    ) -> Result<Vec<(SellerId, Notification)>, StoreError> {
        self.writer.publish(items).await
    }

    async fn store_order(
        &self,
        seller: SellerId,
        order: NewOrder,
    ) -> Result<(Order, Notification), StoreError> {
        self.writer.place_order(seller, order).await
    }

    async fn claim_attempt(
        &self,
        seller: SellerId,
        seq: Seq,
        attempt: u32,
    ) -> Result<Option<Notification>, StoreError> {
        self.database.claim_attempt(seller, seq, attempt).await
    }

    async fn mark_sent(&self, ids: &[i64], at: DateTime<Utc>) -> Result<(), StoreError> {
        self.database.mark_sent(ids, at).await
    }

    async fn acknowledge(&self, seller: SellerId, seqs: &[Seq]) -> Result<Vec<Seq>, StoreError> {
        self.acks.acknowledge(seller, seqs).await
    }

    async fn still_pending(&self, pairs: &[(SellerId, Seq)]) -> Result<Vec<(SellerId, Seq)>, StoreError> {
        self.database.still_pending(pairs).await
    }

    async fn mark_failed(&self, seller: SellerId, seq: Seq) -> Result<bool, StoreError> {
        self.database.mark_failed(seller, seq).await
    }

    async fn last_seq(&self, seller: SellerId) -> Result<Seq, StoreError> {
        self.database.last_seq(seller).await.map(Seq)
    }

    async fn last_seqs(&self, sellers: &[SellerId]) -> Result<Vec<(SellerId, Seq)>, StoreError> {
        self.database.last_seqs(sellers).await
    }

    async fn catch_up_page(
        &self,
        seller: SellerId,
        cursor: Seq,
        upto: Seq,
        last_seq: Option<Seq>,
        limit: Limit,
    ) -> Result<Vec<Notification>, StoreError> {
        self.database.catch_up_page(seller, cursor, upto, last_seq, limit).await
    }

    async fn pending_deliveries(
        &self,
        created_before: DateTime<Utc>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        self.database.pending_deliveries(created_before, after_id, limit).await
    }

    fn now(&self) -> DateTime<Utc> {
        self.database.now()
    }
}
