//! Test doubles for delivery's seams: a fanout whose sockets the test
//! scripts, an in-memory store with the database's conditional rules, and a
//! scheduler that records jobs instead of running them.

use super::fanout::{Answer, Answers, Fanout, SocketId, SocketSendError};
use super::retry::{RetryJob, RetryScheduler, ScheduleError};
use super::store::DeliveryStore;
use crate::domain::limit::Limit;
use crate::domain::notification::{NewNotification, SellerId, Seq};
use crate::domain::order::NewOrder;
use crate::store::{PendingDelivery, StoreError};
use app::types::{Notification, Order};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// How a fake socket answers what it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Behaviour {
    /// Acknowledges at once.
    Acks,
    /// Acknowledges after this long.
    AcksAfter(Duration),
    /// Never answers.
    Silent,
    /// Goes away before answering: its answers end at once.
    Drops,
}

/// One fake socket: where it is, how it answers, what it received.
#[derive(Debug)]
struct FakeSocket {
    seller: SellerId,
    /// On this instance (reachable without routing) or on another one.
    local: bool,
    behaviour: Behaviour,
    received: Vec<i64>,
    /// Emits to it refused as "buffer full" before it takes one again.
    full_for: usize,
}

/// A fanout over scripted sockets, on this instance and on "other" ones.
/// The other instances record their sockets' acks in the shared store, as
/// real ones do in the shared database.
#[derive(Debug)]
pub(super) struct FakeFanout {
    sockets: Mutex<BTreeMap<String, FakeSocket>>,
    /// Cross-instance routing (Redis) down: nothing reaches other instances.
    routing_down: AtomicBool,
    shared: Arc<MemoryStore>,
}

impl FakeFanout {
    pub(super) fn new(shared: Arc<MemoryStore>) -> Self {
        Self { sockets: Mutex::default(), routing_down: AtomicBool::new(false), shared }
    }

    pub(super) fn connect(&self, id: &str, seller: SellerId, local: bool, behaviour: Behaviour) -> SocketId {
        let socket = FakeSocket { seller, local, behaviour, received: Vec::new(), full_for: 0 };
        self.lock().insert(id.to_owned(), socket);
        SocketId(id.to_owned())
    }

    pub(super) fn disconnect(&self, id: &str) {
        self.lock().remove(id);
    }

    pub(super) fn set_routing(&self, up: bool) {
        self.routing_down.store(!up, Ordering::SeqCst);
    }

    /// The next `emits` emits to socket `id` find its buffer full.
    pub(super) fn fill_buffer(&self, id: &str, emits: usize) {
        if let Some(socket) = self.lock().get_mut(id) {
            socket.full_for = emits;
        }
    }

    /// The seqs socket `id` received, in order.
    pub(super) fn received(&self, id: &str) -> Vec<i64> {
        self.lock().get(id).map(|s| s.received.clone()).unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, FakeSocket>> {
        self.sockets.lock().expect("fake fanout lock")
    }
}

/// The answers of every socket an emit reached, each as its behaviour says.
/// The stream ends once every socket answered; a silent socket keeps it
/// open, as a real socket's pending ack does, until delivery gives up.
fn answers(behaviours: Vec<Behaviour>) -> Answers {
    let (sender, mut receiver) = mpsc::unbounded_channel();
    let mut silent = Vec::new();
    for behaviour in behaviours {
        let sender = sender.clone();
        match behaviour {
            Behaviour::Acks => {
                let _ = sender.send(Answer::Acked);
            }
            Behaviour::AcksAfter(delay) => {
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = sender.send(Answer::Acked);
                });
            }
            Behaviour::Silent => silent.push(sender),
            Behaviour::Drops => {}
        }
    }
    Box::pin(futures_util::stream::poll_fn(move |cx| {
        let _held = &silent;
        receiver.poll_recv(cx)
    }))
}

#[async_trait::async_trait]
impl Fanout for FakeFanout {
    fn sockets_of(&self, seller: SellerId) -> Vec<SocketId> {
        let sockets = self.lock();
        sockets
            .iter()
            .filter(|(_, s)| s.local && s.seller == seller)
            .map(|(id, _)| SocketId(id.clone()))
            .collect()
    }

    fn to_socket(&self, socket: &SocketId, notification: &Notification) -> Result<Answers, SocketSendError> {
        let mut sockets = self.lock();
        let socket = sockets.get_mut(&socket.0).filter(|s| s.local).ok_or(SocketSendError::Gone)?;
        if socket.full_for > 0 {
            socket.full_for -= 1;
            return Err(SocketSendError::Full);
        }
        socket.received.push(notification.seq);
        Ok(answers(vec![socket.behaviour]))
    }

    fn reaches_other_instances(&self) -> bool {
        !self.routing_down.load(Ordering::SeqCst)
    }

    fn to_other_instances(&self, seller: SellerId, notifications: &[Notification]) {
        if self.routing_down.load(Ordering::SeqCst) {
            return;
        }
        let mut sockets = self.lock();
        for socket in sockets.values_mut().filter(|s| !s.local && s.seller == seller) {
            let seqs: Vec<Seq> = notifications.iter().map(|n| Seq(n.seq)).collect();
            socket.received.extend(notifications.iter().map(|n| n.seq));
            let delay = match socket.behaviour {
                Behaviour::Acks => Duration::ZERO,
                Behaviour::AcksAfter(delay) => delay,
                Behaviour::Silent | Behaviour::Drops => continue,
            };
            // The other instance records its socket's acks.
            let shared = Arc::clone(&self.shared);
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                shared.acknowledge(seller, &seqs).await.expect("memory store");
            });
        }
    }
}

/// One stored notification and its delivery state.
#[derive(Debug, Clone)]
struct Row {
    notification: Notification,
    attempts: u32,
    received: bool,
    failed: bool,
}

/// The database's delivery rules, in memory, behind one "connection" that
/// each call holds across an await, as a call on the one-connection SQLite
/// pool does: a caller that leaves such a call unpolled stalls every other.
#[derive(Debug, Default)]
pub(super) struct MemoryStore {
    rows: Mutex<BTreeMap<(SellerId, Seq), Row>>,
    next_id: Mutex<i64>,
    connection: tokio::sync::Mutex<()>,
    /// `still_pending` queries so far.
    pending_checks: AtomicUsize,
}

impl MemoryStore {
    async fn connection(&self) -> tokio::sync::MutexGuard<'_, ()> {
        let connection = self.connection.lock().await;
        // A round trip to another task while holding it, as a query to the
        // database's thread is.
        let _ = tokio::spawn(async {}).await;
        connection
    }

    /// How many `still_pending` queries were made.
    pub(super) fn pending_checks(&self) -> usize {
        self.pending_checks.load(Ordering::SeqCst)
    }

    /// Push attempts made so far, received, failed.
    pub(super) fn state(&self, seller: SellerId, seq: i64) -> (u32, bool, bool) {
        let rows = self.rows.lock().expect("store lock");
        let row = &rows[&(seller, Seq(seq))];
        (row.attempts, row.received, row.failed)
    }

    /// Stores notifications without pushing them (as if the process died
    /// between commit and push).
    pub(super) fn insert(&self, seller: SellerId, count: usize) -> Vec<Notification> {
        let items = (0..count).map(|i| new_notification(seller, &format!("n{i}"))).collect();
        self.store(items).into_iter().map(|(_, n)| n).collect()
    }

    fn store(&self, items: Vec<NewNotification>) -> Vec<(SellerId, Notification)> {
        let mut rows = self.rows.lock().expect("store lock");
        let mut next_id = self.next_id.lock().expect("id lock");
        items
            .into_iter()
            .map(|item| {
                let seller = item.seller_id;
                let seq = rows.range((seller, Seq(0))..=(seller, Seq(i64::MAX))).count() as i64 + 1;
                *next_id += 1;
                let notification = Notification {
                    id: *next_id,
                    seq,
                    kind: item.kind.as_str().to_owned(),
                    title: item.title,
                    body: item.body,
                    data: item.data,
                    created_at: "2026-01-01T00:00:00Z".into(),
                    sent_at: None,
                    received_at: None,
                    read_at: None,
                };
                let row =
                    Row { notification: notification.clone(), attempts: 1, received: false, failed: false };
                rows.insert((seller, Seq(seq)), row);
                (seller, notification)
            })
            .collect()
    }
}

pub(super) fn new_notification(seller: SellerId, title: &str) -> NewNotification {
    NewNotification::parse(seller.0, "test", title, "body", None).expect("a valid notification")
}

#[async_trait::async_trait]
impl DeliveryStore for MemoryStore {
    async fn store_notifications(
        &self,
        items: Vec<NewNotification>,
    ) -> Result<Vec<(SellerId, Notification)>, StoreError> {
        let _connection = self.connection().await;
        Ok(self.store(items))
    }

    async fn store_order(&self, _: SellerId, _: NewOrder) -> Result<(Order, Notification), StoreError> {
        let _connection = self.connection().await;
        unimplemented!("orders are stored by the writer; these tests publish notifications")
    }

    async fn claim_attempt(
        &self,
        seller: SellerId,
        seq: Seq,
        attempt: u32,
    ) -> Result<Option<Notification>, StoreError> {
        let _connection = self.connection().await;
        let mut rows = self.rows.lock().expect("store lock");
        Ok(rows.get_mut(&(seller, seq)).filter(|r| r.attempts < attempt && !r.received && !r.failed).map(
            |r| {
                r.attempts = attempt;
                r.notification.clone()
            },
        ))
    }

    async fn mark_sent(&self, _: &[i64], _: DateTime<Utc>) -> Result<(), StoreError> {
        let _connection = self.connection().await;
        Ok(())
    }

    async fn acknowledge(&self, seller: SellerId, seqs: &[Seq]) -> Result<Vec<Seq>, StoreError> {
        let _connection = self.connection().await;
        let mut rows = self.rows.lock().expect("store lock");
        let mut moved: Vec<Seq> = seqs
            .iter()
            .filter(|&&seq| {
                rows.get_mut(&(seller, seq)).filter(|r| !r.received).map(|r| r.received = true).is_some()
            })
            .copied()
            .collect();
        moved.sort_unstable();
        moved.dedup();
        Ok(moved)
    }

    async fn still_pending(&self, pairs: &[(SellerId, Seq)]) -> Result<Vec<(SellerId, Seq)>, StoreError> {
        let _connection = self.connection().await;
        self.pending_checks.fetch_add(1, Ordering::SeqCst);
        let rows = self.rows.lock().expect("store lock");
        let mut pending: Vec<(SellerId, Seq)> = pairs
            .iter()
            .filter(|pair| rows.get(pair).is_some_and(|r| !r.received && !r.failed))
            .copied()
            .collect();
        pending.sort_unstable();
        pending.dedup();
        Ok(pending)
    }

    async fn mark_failed(&self, seller: SellerId, seq: Seq) -> Result<bool, StoreError> {
        let _connection = self.connection().await;
        let mut rows = self.rows.lock().expect("store lock");
        Ok(rows
            .get_mut(&(seller, seq))
            .filter(|r| !r.received && !r.failed)
            .map(|r| r.failed = true)
            .is_some())
    }

    async fn last_seq(&self, seller: SellerId) -> Result<Seq, StoreError> {
        let _connection = self.connection().await;
        let rows = self.rows.lock().expect("store lock");
        Ok(rows.range((seller, Seq(0))..=(seller, Seq(i64::MAX))).next_back().map_or(Seq(0), |(k, _)| k.1))
    }

    async fn last_seqs(&self, sellers: &[SellerId]) -> Result<Vec<(SellerId, Seq)>, StoreError> {
        let _connection = self.connection().await;
        let rows = self.rows.lock().expect("store lock");
        Ok(sellers
            .iter()
            .filter_map(|&seller| {
                let newest = rows.range((seller, Seq(0))..=(seller, Seq(i64::MAX))).next_back();
                newest.map(|(key, _)| (seller, key.1))
            })
            .collect())
    }

    async fn catch_up_page(
        &self,
        seller: SellerId,
        cursor: Seq,
        upto: Seq,
        last_seq: Option<Seq>,
        limit: Limit,
    ) -> Result<Vec<Notification>, StoreError> {
        let _connection = self.connection().await;
        let rows = self.rows.lock().expect("store lock");
        let after = last_seq.map_or(cursor, |l| l.max(cursor));
        Ok(rows
            .range((seller, Seq(after.0 + 1))..=(seller, upto))
            .filter(|(_, r)| last_seq.is_some() || (!r.received && !r.failed))
            .take(limit.get() as usize)
            .map(|(_, r)| r.notification.clone())
            .collect())
    }

    async fn pending_deliveries(
        &self,
        _: DateTime<Utc>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        let _connection = self.connection().await;
        let rows = self.rows.lock().expect("store lock");
        let mut pending: Vec<PendingDelivery> = rows
            .iter()
            .filter(|(_, r)| !r.received && !r.failed && r.notification.id > after_id)
            .map(|((seller, seq), r)| PendingDelivery {
                id: r.notification.id,
                seller_id: seller.0,
                seq: seq.0,
                attempts: i32::try_from(r.attempts).unwrap_or(i32::MAX),
            })
            .collect();
        pending.sort_by_key(|p| p.id);
        pending.truncate(limit as usize);
        Ok(pending)
    }

    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Records scheduled jobs; the test runs them when it chooses.
#[derive(Debug, Default)]
pub(super) struct RecordingScheduler {
    jobs: Mutex<VecDeque<(RetryJob, Duration)>>,
}

impl RecordingScheduler {
    /// Every job scheduled since the last call, in order.
    pub(super) fn take(&self) -> Vec<(RetryJob, Duration)> {
        self.jobs.lock().expect("jobs lock").drain(..).collect()
    }
}

#[async_trait::async_trait]
impl RetryScheduler for RecordingScheduler {
    async fn schedule(&self, jobs: Vec<(RetryJob, Duration)>) -> Result<(), ScheduleError> {
        self.jobs.lock().expect("jobs lock").extend(jobs);
        Ok(())
    }
}

/// Delivery over the three fakes, and handles on them.
pub(super) struct Harness {
    pub(super) delivery: super::Delivery,
    pub(super) fanout: Arc<FakeFanout>,
    pub(super) store: Arc<MemoryStore>,
    pub(super) retries: Arc<RecordingScheduler>,
}

/// As configured by default: 10 s ack timeout, 3 attempts from 1 s.
pub(super) const ACK_TIMEOUT: Duration = Duration::from_secs(10);
pub(super) const RETRY_BASE: Duration = Duration::from_secs(1);
pub(super) const ATTEMPTS: u32 = 3;

pub(super) fn harness() -> Harness {
    let store = Arc::new(MemoryStore::default());
    let fanout = Arc::new(FakeFanout::new(store.clone()));
    let retries = Arc::new(RecordingScheduler::default());
    let delivery = super::Delivery::new(
        store.clone(),
        fanout.clone(),
        retries.clone(),
        &crate::config::DeliveryConfig {
            ack_timeout: ACK_TIMEOUT,
            retry: crate::config::RetryPolicy { attempts: ATTEMPTS, base: RETRY_BASE },
            fault: None,
        },
    );
    Harness { delivery, fanout, store, retries }
}

/// Lets every task that can run, run (paused time does not move).
pub(super) async fn settle_tasks() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}
