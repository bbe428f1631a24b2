//! Group commit: the one path by which notifications (and orders) are written.
//!
//! Publishers send a [`Publish`] to one writer task per process and await its
//! reply. The task takes every job waiting in its queue (up to
//! [`MAX_GROUP_ROWS`] rows) and commits them in **one** transaction. A
//! transaction costs one disk sync whatever its size, so under load many
//! publishes share each sync instead of queueing behind their own.
//!
//! Within a group each job stays all-or-nothing: a job naming an unknown
//! seller fails alone (found before anything is written), and if the group's
//! transaction fails as a whole its jobs are retried one by one, so one bad
//! job never takes the others down.
//!
//! Seqs: for each seller the transaction bumps `last_seq` by the number of
//! rows it adds and numbers them from the old value + 1, in queue order.
//! Sellers are updated in id order, so concurrent writers (other instances on
//! one PostgreSQL) cannot deadlock; the row lock on the seller serialises
//! them, so seq order is commit order.

use super::group::{Reply, ask, next_group};
use super::rows::{now, rfc3339};
use super::{Database, StoreError, on_pool};
use crate::domain::notification::{NewNotification, SellerId};
use crate::domain::order::NewOrder;
use app::types::{Notification, Order};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, QueryBuilder, Sqlite, SqlitePool, Transaction};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;
use tokio::sync::mpsc;

/// Rows one group may hold; a larger backlog is split over several groups.
pub const MAX_GROUP_ROWS: usize = 2_000;
/// No wait for more inserts after the first: the publisher's answer and the
/// seller's push both follow the commit.
const LINGER: Duration = Duration::ZERO;
/// Jobs waiting for the writer before publishers wait to enqueue.
const QUEUE_CAPACITY: usize = 8_192;
/// Rows per INSERT statement: 8 parameters each stays far below SQLite's
/// 32 766 and PostgreSQL's 65 535 parameter limits.
const ROWS_PER_INSERT: usize = 1_000;

/// What a job writes.
#[derive(Debug, Clone)]
pub enum Publish {
    /// Notifications for any sellers, stored all or none.
    Notifications(Vec<NewNotification>),
    /// A storefront order and its `order.created` notification, together.
    Order { seller: SellerId, order: NewOrder },
}

impl Publish {
    fn rows(&self) -> usize {
        match self {
            Self::Notifications(items) => items.len(),
            Self::Order { .. } => 1,
        }
    }

    fn sellers(&self) -> impl Iterator<Item = SellerId> + '_ {
        let (many, one) = match self {
            Self::Notifications(items) => (Some(items.iter().map(|n| n.seller_id)), None),
            Self::Order { seller, .. } => (None, Some(*seller)),
        };
        many.into_iter().flatten().chain(one)
    }
}

/// What a job wrote, as the API returns it.
#[derive(Debug, Clone)]
pub enum Published {
    Notifications(Vec<(SellerId, Notification)>),
    Order { order: Box<Order>, notification: Box<Notification> },
}

struct Job {
    publish: Publish,
    reply: Reply<Published>,
}

/// Handle to the writer task. Cloning shares the task; the task stops when
/// every handle is dropped and its queue is drained.
#[derive(Debug, Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer task for `database`.
    pub fn spawn(database: Database) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run(database, queue));
        Self { jobs }
    }

    /// Stores notifications (any sellers), all or none.
    ///
    /// # Errors
    /// [`StoreError::UnknownSeller`] naming the first item whose seller does
    /// not exist; database failures.
    pub async fn publish(
        &self,
        items: Vec<NewNotification>,
    ) -> Result<Vec<(SellerId, Notification)>, StoreError> {
        match self.submit(Publish::Notifications(items)).await? {
            Published::Notifications(stored) => Ok(stored),
            Published::Order { .. } => unreachable!("BUG: a notification job answered with an order"),
        }
    }

    /// Stores an order and its `order.created` notification together.
    ///
    /// # Errors
    /// [`StoreError::UnknownSeller`] for an unknown seller; database failures.
    pub async fn place_order(
        &self,
        seller: SellerId,
        order: NewOrder,
    ) -> Result<(Order, Notification), StoreError> {
        match self.submit(Publish::Order { seller, order }).await {
            Ok(Published::Order { order, notification }) => Ok((*order, *notification)),
            Ok(Published::Notifications(_)) => unreachable!("BUG: an order job answered with notifications"),
            Err(e) => Err(e),
        }
    }

    async fn submit(&self, publish: Publish) -> Result<Published, StoreError> {
        ask(&self.jobs, |reply| Job { publish, reply }).await
    }
}

async fn run(database: Database, mut queue: mpsc::Receiver<Job>) {
    while let Some(group) = next_group(&mut queue, MAX_GROUP_ROWS, LINGER, |job| job.publish.rows()).await {
        commit_group(&database, group).await;
    }
    tracing::debug!("database writer stopped");
}

async fn commit_group(database: &Database, group: Vec<Job>) {
    let (publishes, replies): (Vec<Publish>, Vec<_>) =
        group.into_iter().map(|job| (job.publish, job.reply)).unzip();
    match write(database, &publishes).await {
        Ok(results) => {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
        Err(error) if publishes.len() > 1 => {
            tracing::warn!(error = %error, jobs = publishes.len(), "group commit failed; retrying its jobs one by one");
            for (publish, reply) in publishes.into_iter().zip(replies) {
                let result = match write(database, std::slice::from_ref(&publish)).await {
                    Ok(mut results) => results.pop().unwrap_or(Err(StoreError::WriterStopped)),
                    Err(e) => Err(e.into()),
                };
                let _ = reply.send(result);
            }
        }
        Err(error) => {
            tracing::error!(error = %error, "publish failed");
            if let Some(reply) = replies.into_iter().next() {
                let _ = reply.send(Err(error.into()));
            }
        }
    }
}

/// Opens the write transaction. On SQLite, `BEGIN IMMEDIATE` takes the write
/// lock up front: a deferred transaction that reads first could fail with
/// SQLITE_BUSY when it upgrades, instead of waiting for the busy timeout.
trait BeginWrite {
    type Db: sqlx::Database;
    async fn begin_write(&self) -> Result<Transaction<'static, Self::Db>, sqlx::Error>;
}

impl BeginWrite for SqlitePool {
    type Db = Sqlite;
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Db = Postgres;
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.begin().await
    }
}

/// One row to insert, with its place in the answer.
struct PendingRow {
    job: usize,
    seller: SellerId,
    notification: NewNotification,
    seq: i64,
}

/// Writes every accepted job in one transaction. `Err` means nothing was
/// written; job-level refusals are `Ok` entries holding an error.
async fn write(
    database: &Database,
    publishes: &[Publish],
) -> Result<Vec<Result<Published, StoreError>>, sqlx::Error> {
    let created_at = now();
    on_pool!(database, pool => {
        let mut tx = pool.begin_write().await?;

        // 1. Which sellers exist. Sellers are never deleted, so the answer
        //    holds for the rest of the transaction.
        let wanted: HashSet<i64> = publishes.iter().flat_map(Publish::sellers).map(|s| s.0).collect();
        let mut existing = HashSet::with_capacity(wanted.len());
        let wanted: Vec<i64> = wanted.into_iter().collect();
        for chunk in wanted.chunks(ROWS_PER_INSERT) {
            let mut sql = QueryBuilder::new("SELECT id FROM sellers WHERE id IN (");
            let mut list = sql.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            sql.push(")");
            let ids: Vec<(i64,)> = sql.build_query_as().fetch_all(&mut *tx).await?;
            existing.extend(ids.into_iter().map(|(id,)| id));
        }

        // 2. Refuse jobs naming an unknown seller; insert accepted orders.
        let mut results: Vec<Option<Result<Published, StoreError>>> = Vec::with_capacity(publishes.len());
        let mut orders: HashMap<usize, Order> = HashMap::new();
        let mut pending: Vec<PendingRow> = Vec::new();
        for (job, publish) in publishes.iter().enumerate() {
            if let Some((index, seller)) =
                publish.sellers().enumerate().find(|(_, seller)| !existing.contains(&seller.0))
            {
                results.push(Some(Err(StoreError::UnknownSeller { index, seller_id: seller.0 })));
                continue;
            }
            results.push(None);
            match publish {
                Publish::Notifications(items) => pending.extend(items.iter().map(|n| PendingRow {
                    job,
                    seller: n.seller_id,
                    notification: n.clone(),
                    seq: 0,
                })),
                Publish::Order { seller, order } => {
                    const SQL: &str = "INSERT INTO orders (seller_id, customer_name, items, note, total_cents, created_at) \
                                       VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
                    let id: i64 = sqlx::query_scalar(SQL)
                        .bind(seller.0)
                        .bind(&order.customer_name)
                        .bind(Json(&order.items))
                        .bind(order.note.as_deref())
                        .bind(order.total_cents)
                        .bind(created_at)
                        .fetch_one(&mut *tx)
                        .await?;
                    let stored = stored_order(id, *seller, order, created_at);
                    pending.push(PendingRow {
                        job,
                        seller: *seller,
                        notification: NewNotification::order_created(&stored),
                        seq: 0,
                    });
                    orders.insert(job, stored);
                }
            }
        }

        // 3. Reserve each seller's seqs, in seller-id order.
        let mut counts: BTreeMap<i64, i64> = BTreeMap::new();
        for row in &pending {
            *counts.entry(row.seller.0).or_default() += 1;
        }
        let mut next_seq: HashMap<i64, i64> = HashMap::with_capacity(counts.len());
        for (seller, count) in counts {
            const SQL: &str = "UPDATE sellers SET last_seq = last_seq + $2 WHERE id = $1 RETURNING last_seq";
            let last: i64 = sqlx::query_scalar(SQL).bind(seller).bind(count).fetch_one(&mut *tx).await?;
            next_seq.insert(seller, last - count + 1);
        }
        for row in &mut pending {
            let next = next_seq.get_mut(&row.seller.0).expect("BUG: every pending seller has a reserved range");
            row.seq = *next;
            *next += 1;
        }

        // 4. Insert the rows, learning their ids.
        let mut ids: HashMap<(i64, i64), i64> = HashMap::with_capacity(pending.len());
        for chunk in pending.chunks(ROWS_PER_INSERT) {
            let mut sql = QueryBuilder::new(
                "INSERT INTO notifications (seller_id, seq, type, title, body, data, created_at, attempts) ",
            );
            sql.push_values(chunk, |mut values, row| {
                values
                    .push_bind(row.seller.0)
                    .push_bind(row.seq)
                    .push_bind(row.notification.kind.as_str().to_owned())
                    .push_bind(row.notification.title.clone())
                    .push_bind(row.notification.body.clone())
                    .push_bind(Json(row.notification.data.clone()))
                    .push_bind(created_at)
                    // The first push follows the commit at once: it is
                    // counted here, so the push path writes nothing before
                    // it emits. (Crash before it: the sweep retries it.)
                    .push_bind(1_i32);
            });
            sql.push(" RETURNING id, seller_id, seq");
            let returned: Vec<(i64, i64, i64)> = sql.build_query_as().fetch_all(&mut *tx).await?;
            ids.extend(returned.into_iter().map(|(id, seller, seq)| ((seller, seq), id)));
        }

        tx.commit().await?;

        // 5. Answer each job with its rows, in request order.
        let mut stored: Vec<Vec<(SellerId, Notification)>> = vec![Vec::new(); publishes.len()];
        for row in pending {
            let id = ids[&(row.seller.0, row.seq)];
            stored[row.job].push((row.seller, wire_notification(id, row.seq, row.notification, created_at)));
        }
        Ok(results
            .into_iter()
            .zip(stored)
            .enumerate()
            .map(|(job, (refused, mut rows))| match refused {
                Some(refusal) => refusal,
                None => match orders.remove(&job) {
                    Some(order) => Ok(Published::Order {
                        order: Box::new(order),
                        notification: Box::new(rows.pop().expect("BUG: an order job stores one notification").1),
                    }),
                    None => Ok(Published::Notifications(rows)),
                },
            })
            .collect())
    })
}

fn wire_notification(id: i64, seq: i64, new: NewNotification, created_at: DateTime<Utc>) -> Notification {
    Notification {
        id,
        seq,
        kind: new.kind.as_str().to_owned(),
        title: new.title,
        body: new.body,
        data: new.data,
        created_at: rfc3339(created_at),
        sent_at: None,
        received_at: None,
        read_at: None,
    }
}

fn stored_order(id: i64, seller: SellerId, order: &NewOrder, created_at: DateTime<Utc>) -> Order {
    Order {
        id,
        seller_id: seller.0,
        customer_name: order.customer_name.clone(),
        items: order.items.clone(),
        note: order.note.clone(),
        total_cents: order.total_cents,
        created_at: rfc3339(created_at),
    }
}
