//! Live delivery that loses nothing: the core every door goes through.
//!
//! The guarantee is at least once, idempotent by `seq` on the client:
//! 1. [`Delivery::publish`] stores first (through the group-commit writer,
//!    which counts push attempt 1 on the row) and only then pushes, so the
//!    database (and the delta API) always has what was pushed.
//! 2. The first push goes to every socket of the seller at once, with an
//!    ack: this instance emits to its own sockets, and hands the
//!    notifications to the other instances in groups, which push them to
//!    theirs ([`Delivery::push_relayed`]). The first ack, whichever door and
//!    instance it comes through (the ack callback, the `notifications:ack`
//!    event, `POST /api/notifications/ack`), records `received_at` in the
//!    shared database and is counted once ([`Delivery::acknowledge`]).
//! 3. What the database still has pending when the ack window
//!    (`ACK_TIMEOUT_MS`) ends ([`unconfirmed`]) becomes a job in the
//!    persistent retry queue ([`RetryScheduler`]); each
//!    retry stores the step that follows it *before* pushing, so a crash
//!    mid-retry leaves the next step stored. After `RETRY_ATTEMPTS` pushes the
//!    notification is marked failed, and still served by replay, sync and the
//!    delta API.
//! 4. A socket that connects is sent, at once, everything after its
//!    `last_seq`, or without one everything still pending
//!    ([`Delivery::catch_up`]), never more at a time than its buffer holds.
//! 5. What a crash could leave without a job (stored but never pushed, or a
//!    first push whose ack wait died with the process) is found by the
//!    [`sweep`] at start-up and every minute, and scheduled again.
//! 6. A live socket that missed a push someone else acknowledged (Redis was
//!    down, a full buffer) is sent it from the store: every socket's
//!    [`cursors`] entry is compared with the store's newest seqs every
//!    [`RECONCILE_EVERY`] ([`Delivery::reconcile`]).
//!
//! Attempts are claimed on the row with a conditional update
//! ([`DeliveryStore::claim_attempt`]), so duplicate jobs (a sweep racing a
//! retry, two instances) never push the same attempt twice.
//!
//! This module is policy only. It reaches sockets through [`Fanout`], the
//! database through [`DeliveryStore`] and the queue through
//! [`RetryScheduler`]; it must not depend on socketioxide, apalis, axum or
//! sqlx, so its tests run on paused time with fakes (`tests.rs`).

mod backoff;
mod cursors;
pub mod fanout;
mod in_flight;
pub mod latency;
pub mod retry;
mod sent_marks;
pub mod store;
pub mod sweep;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
mod unconfirmed;

pub use backoff::{chain_bound, random_retry_delay, retry_delay};

use crate::config::{DeliveryConfig, Fault, RetryPolicy};
use crate::domain::limit::Limit;
use crate::domain::notification::{NewNotification, SellerId, Seq};
use crate::domain::order::NewOrder;
use crate::domain::sync::AckSeqs;
use crate::store::StoreError;
use app::types::{Notification, Order};
use chrono::{SubsecRound, Utc};
use cursors::{Cursors, Held, Lagging};
use fanout::{Answer, Answers, Fanout, SocketId, SocketSendError};
use futures_util::StreamExt;
use futures_util::future::join_all;
use in_flight::InFlight;
use retry::{RetryJob, RetryScheduler, ScheduleError};
use sent_marks::SentMarks;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use store::DeliveryStore;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use unconfirmed::Unconfirmed;

/// Replay emits to one socket awaiting their acks at once. Below the
/// socket's outgoing buffer (128 packets by default), so live pushes still
/// find room while a backlog streams.
const REPLAY_WINDOW: usize = 64;
/// How long an emit waits before trying a full buffer again (for a replay:
/// when none of its own emits is in flight to free room).
const FULL_BUFFER_PAUSE: Duration = Duration::from_millis(2);
/// A live push waiting out a full buffer doubles its pause up to this: a
/// socket that stays full (a phone in the background, not reading) costs a
/// few wake-ups a second per push, not hundreds.
const FULL_BUFFER_PAUSE_MAX: Duration = Duration::from_millis(64);
/// How often a draining process looks whether its first pushes are over.
const HAND_OVER_POLL: Duration = Duration::from_millis(20);
/// Sellers whose sockets are being repaired from the store at once (a
/// missed-push send or a catch-up tried again): after an outage the repairs
/// queue for these, and leave the database's other work its connections.
const REPAIRS_AT_ONCE: usize = 4;
/// How often every socket's cursor is compared with the store's newest seqs.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(1);
/// How long a socket may lack a seq, with nothing on its way to it, before
/// it is sent from the store: a push relayed from another instance, or a
/// push task not yet run, arrives well within it.
pub const RECONCILE_GRACE: Duration = Duration::from_secs(2);

/// The door a first ack came through, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckDoor {
    /// The client answered the `notification` emit's ack.
    Callback,
    /// The socket's `notifications:ack` event.
    Event,
    /// `POST /api/notifications/ack`.
    Http,
}

impl AckDoor {
    fn as_str(self) -> &'static str {
        match self {
            Self::Callback => "callback",
            Self::Event => "event",
            Self::Http => "http",
        }
    }
}

/// Why a retry job could not run (the queue runs it again).
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
}

/// Stores, pushes, settles acks and runs retries. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Delivery {
    store: Arc<dyn DeliveryStore>,
    fanout: Arc<dyn Fanout>,
    retries: Arc<dyn RetryScheduler>,
    /// How long a push waits for its ack.
    ack_timeout: Duration,
    retry: RetryPolicy,
    /// Writes `sent_at` in batches, off the push's path.
    sent_marks: SentMarks,
    /// When each push of this instance still waiting for its ack went out.
    in_flight: Arc<InFlight>,
    /// First pushes whose ack window ended with no ack seen here.
    unconfirmed: Unconfirmed,
    /// What each socket here has been sent.
    cursors: Arc<Cursors>,
    /// Repairs from the store under way ([`REPAIRS_AT_ONCE`]).
    repairs: Arc<Semaphore>,
    /// First pushes whose ack window is not yet handed to the checks.
    first_pushes: Arc<AtomicUsize>,
    counters: Arc<DeliveryCounters>,
    /// A crash point the crash tests ask for (never in production).
    fault: Option<Fault>,
}

/// Since this process started, for `/metrics`.
#[derive(Debug, Default)]
pub struct DeliveryCounters {
    /// Notification emits to a seller or a socket.
    pub pushed: AtomicU64,
    /// First acks recorded, whatever their door.
    pub acked: AtomicU64,
    /// Retry jobs stored.
    pub retries_queued: AtomicU64,
    /// Retry pushes made.
    pub retried: AtomicU64,
    /// Notifications marked failed.
    pub failed: AtomicU64,
    /// Notifications sent again to a live socket that missed them.
    pub missed_resent: AtomicU64,
    /// Push → first ack, for every first ack answering a push of this
    /// instance that is still in flight.
    pub ack_latency: latency::AckLatency,
}

impl DeliveryCounters {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Counts a first push from its spawn until its ack window is handed to the
/// checks, whatever ends it (a panic included).
struct FirstPush(Arc<AtomicUsize>);

impl FirstPush {
    fn start(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(count))
    }
}

impl Drop for FirstPush {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One emitted notification, waiting for its answers.
struct Sent {
    seq: Seq,
    emitted: Instant,
    answers: Answers,
    /// Signalled when another door acknowledges it.
    acknowledged: Arc<tokio::sync::Notify>,
}

impl Delivery {
    pub fn new(
        store: Arc<dyn DeliveryStore>,
        fanout: Arc<dyn Fanout>,
        retries: Arc<dyn RetryScheduler>,
        config: &DeliveryConfig,
    ) -> Self {
        let sent_marks = SentMarks::spawn(Arc::clone(&store));
        let (unconfirmed, inbox) = unconfirmed::channel();
        let delivery = Self {
            store,
            fanout,
            retries,
            ack_timeout: config.ack_timeout,
            retry: config.retry,
            sent_marks,
            in_flight: Arc::default(),
            unconfirmed,
            cursors: Arc::default(),
            repairs: Arc::new(Semaphore::new(REPAIRS_AT_ONCE)),
            first_pushes: Arc::default(),
            counters: Arc::default(),
            fault: config.fault,
        };
        // Both run as long as the process: each holds a clone (so the
        // checker's inbox stays open).
        let checker = delivery.clone();
        tokio::spawn(unconfirmed::run(inbox, move |due| {
            let checker = checker.clone();
            async move { checker.retry_unconfirmed(due).await }
        }));
        let reconciler = delivery.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(RECONCILE_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                reconciler.reconcile().await;
            }
        });
        delivery
    }

    /// A socket of `seller` connected here, its client having everything up
    /// to `last_seq` when it gave one (call before it joins the seller's
    /// room, then [`Delivery::catch_up`]): from now on what it is sent is
    /// tracked.
    pub fn socket_connected(&self, socket: SocketId, seller: SellerId, last_seq: Option<Seq>) {
        self.cursors.join(socket, seller, last_seq);
    }

    /// The socket disconnected.
    pub fn socket_disconnected(&self, socket: &SocketId) {
        self.cursors.leave(socket);
    }

    pub fn counters(&self) -> &DeliveryCounters {
        &self.counters
    }

    /// Stores notifications (any sellers, all or none) and pushes them in
    /// the background: the publisher's answer never waits for acks.
    ///
    /// # Errors
    /// [`StoreError::UnknownSeller`] naming the first item whose seller does
    /// not exist; database failures. Nothing is pushed then.
    pub async fn publish(
        &self,
        items: Vec<NewNotification>,
    ) -> Result<Vec<(SellerId, Notification)>, StoreError> {
        let stored = self.store.store_notifications(items).await?;
        self.crash_point_after_commit();
        let mut by_seller: BTreeMap<SellerId, Vec<Notification>> = BTreeMap::new();
        for (seller, notification) in &stored {
            by_seller.entry(*seller).or_default().push(notification.clone());
        }
        for (seller, notifications) in by_seller {
            self.push(seller, notifications);
        }
        Ok(stored)
    }

    /// Stores a storefront order with its `order.created` notification, and
    /// pushes the notification in the background.
    ///
    /// # Errors
    /// [`StoreError::UnknownSeller`] for an unknown seller; database failures.
    pub async fn publish_order(
        &self,
        seller: SellerId,
        order: NewOrder,
    ) -> Result<(Order, Notification), StoreError> {
        let (order, notification) = self.store.store_order(seller, order).await?;
        self.crash_point_after_commit();
        self.push(seller, vec![notification.clone()]);
        Ok((order, notification))
    }

    /// `LIVESHOP_TEST_FAULT=abort-after-commit`: dies the way a crash
    /// between commit and push would, so the crash tests need not fake the
    /// state it leaves.
    fn crash_point_after_commit(&self) {
        if self.fault == Some(Fault::AbortAfterCommit) {
            tracing::error!("test fault: aborting after commit, before any push");
            std::process::abort();
        }
    }

    fn push(&self, seller: SellerId, notifications: Vec<Notification>) {
        let delivery = self.clone();
        let counted = FirstPush::start(&self.first_pushes);
        tokio::spawn(async move {
            delivery.push_first(seller, notifications).await;
            drop(counted);
        });
    }

    /// Push attempt 1 of freshly stored notifications (counted when they were
    /// stored, so nothing stands between the commit and the emit): to the
    /// other instances, and to this instance's sockets; once the ack window
    /// has ended, the database decides which need attempt 2.
    async fn push_first(&self, seller: SellerId, notifications: Vec<Notification>) {
        let window_ends = Instant::now() + self.ack_timeout;
        self.fanout.to_other_instances(seller, &notifications);
        let (unacknowledged, reached_sockets) = self.push_here(seller, &notifications).await;
        // Sockets here that went away without an ack (a dropped client) end
        // the wait at once, unless other instances' sockets may still ack
        // within the window.
        let alone = !self.fanout.reaches_other_instances();
        let check_at = if reached_sockets && alone { window_ends.min(Instant::now()) } else { window_ends };
        self.unconfirmed.check_at(check_at, seller, unacknowledged);
    }

    /// Pushes notifications another instance stored (and handed over) to
    /// this instance's sockets of `seller`, and records their acks; the
    /// instance that stored them decides on retries.
    pub async fn push_relayed(&self, seller: SellerId, notifications: Vec<Notification>) {
        self.push_here(seller, &notifications).await;
    }

    /// Emits each notification, in seq order, to every socket of `seller` on
    /// this instance, waits (at most the ack timeout from the start) for their answers and
    /// records each first ack; returns the seqs no socket here acknowledged,
    /// and whether this instance had sockets of `seller`.
    /// Answers are read once every socket's emits are done: a socket whose
    /// buffer stays full delays the recording of the others' acks (never
    /// their emits) by at most the ack window.
    async fn push_here(&self, seller: SellerId, notifications: &[Notification]) -> (Vec<Seq>, bool) {
        let started = Instant::now();
        let sockets = self.fanout.sockets_of(seller);
        let deadline = started + self.ack_timeout;
        // Sockets side by side: one with a full buffer (a slow phone) does
        // not hold back the seller's other devices.
        let per_socket =
            join_all(sockets.iter().map(|socket| self.emit_all(seller, socket, notifications, deadline)))
                .await;
        let mut answers: Vec<Vec<Answers>> = notifications.iter().map(|_| Vec::new()).collect();
        for socket_answers in per_socket {
            for (answers, socket_answer) in answers.iter_mut().zip(socket_answers) {
                answers.push(socket_answer);
            }
        }
        let mut unacknowledged = Vec::new();
        let mut sent = Vec::new();
        for (notification, answers) in notifications.iter().zip(answers) {
            if answers.is_empty() {
                unacknowledged.push(Seq(notification.seq));
            } else {
                let answers: Answers = Box::pin(futures_util::stream::select_all(answers));
                sent.push(self.sent(seller, notification, answers, started));
            }
        }
        let answered = join_all(sent.into_iter().map(|sent| self.await_answers(seller, sent))).await;
        unacknowledged.extend(answered.into_iter().filter_map(|(seq, acked)| (!acked).then_some(seq)));
        (unacknowledged, !sockets.is_empty())
    }

    /// Emits `notifications` in seq order to one socket; returns the answers
    /// of those emitted, in order, stopping at the first the socket refused
    /// (the rest are left to the retries, like an unanswered emit).
    async fn emit_all(
        &self,
        seller: SellerId,
        socket: &SocketId,
        notifications: &[Notification],
        deadline: Instant,
    ) -> Vec<Answers> {
        let mut answers = Vec::with_capacity(notifications.len());
        for notification in notifications {
            match self.emit_until_room(socket, notification, deadline).await {
                Ok(socket_answers) => answers.push(socket_answers),
                Err(error) => {
                    tracing::info!(sid = %socket, seller_id = seller.0, %error, "push stopped for a socket");
                    break;
                }
            }
        }
        answers
    }

    /// One emit to one socket, waiting out a full buffer (the client is
    /// alive and reading) until `deadline`, trying again after growing pauses.
    async fn emit_until_room(
        &self,
        socket: &SocketId,
        notification: &Notification,
        deadline: Instant,
    ) -> Result<Answers, SocketSendError> {
        let mut pause = FULL_BUFFER_PAUSE;
        // While it waits for room the push is on its way: the socket is not
        // lagging meanwhile.
        let mut _held: Option<Held> = None;
        loop {
            match self.emit(socket, notification) {
                Err(SocketSendError::Full) if Instant::now() < deadline => {
                    _held.get_or_insert_with(|| self.cursors.hold(socket));
                    tokio::time::sleep(pause.min(deadline - Instant::now())).await;
                    pause = (pause * 2).min(FULL_BUFFER_PAUSE_MAX);
                }
                result => return result,
            }
        }
    }

    /// One emit to one socket, recorded on its cursor when it went out.
    fn emit(&self, socket: &SocketId, notification: &Notification) -> Result<Answers, SocketSendError> {
        match self.fanout.to_socket(socket, notification) {
            Ok(answers) => {
                self.cursors.sent(socket, Seq(notification.seq));
                Ok(answers)
            }
            Err(SocketSendError::Gone) => {
                // Its disconnect is on its way; forget it now either way.
                self.cursors.leave(socket);
                Err(SocketSendError::Gone)
            }
            Err(error) => Err(error),
        }
    }

    /// First pushes whose ack window ended with no ack seen here: attempt 2
    /// of each one the database still has pending (no instance, no door
    /// recorded an ack).
    async fn retry_unconfirmed(&self, due: Vec<(SellerId, Seq)>) {
        match self.store.still_pending(&due).await {
            Ok(pending) => {
                let jobs = pending
                    .into_iter()
                    .map(|(seller, seq)| {
                        (RetryJob::new(seller, seq, 2), random_retry_delay(self.retry.base, 1))
                    })
                    .collect();
                self.schedule(jobs).await;
            }
            Err(error) => {
                // They are stored either way: the sweep finds them.
                tracing::error!(count = due.len(), %error, "failed to read what is still pending");
            }
        }
    }

    /// Runs one retry job: push attempt `job.attempt` if the notification is
    /// still unacknowledged, after storing the step that follows it; or, past
    /// the last attempt, mark it failed.
    ///
    /// # Errors
    /// Database or queue failures (the queue then runs the job again).
    pub async fn run_retry(&self, job: RetryJob) -> Result<(), RetryError> {
        let (seller, seq) = (job.seller(), job.seq());
        if job.attempt > self.retry.attempts {
            if self.store.mark_failed(seller, seq).await? {
                DeliveryCounters::add(&self.counters.failed, 1);
                tracing::warn!(
                    seller_id = seller.0,
                    seq = seq.0,
                    attempts = self.retry.attempts,
                    "job failed: notification never acknowledged, marked failed"
                );
            }
            return Ok(());
        }
        let Some(notification) = self.store.claim_attempt(seller, seq, job.attempt).await? else {
            tracing::info!(
                seller_id = seller.0,
                seq = seq.0,
                attempt = job.attempt,
                "job completed: already acknowledged (or this attempt was made)"
            );
            return Ok(());
        };
        // The next step is stored before this push, so a crash from here on
        // loses nothing; after the last attempt it is the failure check.
        let next_in = if job.attempt < self.retry.attempts {
            self.ack_timeout + random_retry_delay(self.retry.base, job.attempt)
        } else {
            self.ack_timeout
        };
        self.retries.schedule(vec![(RetryJob::new(seller, seq, job.attempt + 1), next_in)]).await?;
        DeliveryCounters::add(&self.counters.retries_queued, 1);
        DeliveryCounters::add(&self.counters.retried, 1);
        tracing::info!(
            seller_id = seller.0,
            seq = seq.0,
            attempt = job.attempt,
            "job retried: pushing again"
        );

        let notifications = vec![notification];
        self.fanout.to_other_instances(seller, &notifications);
        let delivery = self.clone();
        tokio::spawn(async move { delivery.push_here(seller, &notifications).await });
        Ok(())
    }

    /// Sends a socket that just connected what it lacks, in seq order, each
    /// with its ack: every notification after `last_seq` when the client gave
    /// one (it has the rest), else every one still pending. Bounded by the
    /// newest seq at the start: later ones reach the socket through its
    /// seller's pushes, as it is already in the seller's room.
    ///
    /// At most [`REPLAY_WINDOW`] emits wait for their acks at once, and a
    /// full buffer is waited out, never taken for a closed socket: a backlog
    /// of thousands streams as fast as the client acknowledges. What was
    /// pushed to this very socket since it connected is not sent again, so a
    /// publish racing a connect is not pushed twice.
    ///
    /// Holds the socket's cursor (the hold `socket_connected` counted) until
    /// it settles it; if the store fails, the catch-up is tried again by
    /// [`Delivery::reconcile`].
    pub async fn catch_up(&self, socket: SocketId, seller: SellerId, last_seq: Option<Seq>) {
        let _held = self.cursors.adopt(&socket);
        let upto = match self.store.last_seq(seller).await {
            Ok(upto) => upto,
            Err(error) => {
                tracing::error!(sid = %socket, seller_id = seller.0, %error, "catch-up failed; trying again shortly");
                return;
            }
        };
        // Each emit's ack wait runs as its own task: a wait polled only from
        // here would stall, holding whatever it holds (the database
        // connection, mid-ack), whenever this loop awaits something else.
        let mut waiting = JoinSet::new();
        let mut cursor = Seq(0);
        let mut count = 0_usize;
        let mut complete = false;
        'pages: loop {
            let page = match self.store.catch_up_page(seller, cursor, upto, last_seq, Limit::MAX_LIMIT).await
            {
                Ok(page) => page,
                Err(error) => {
                    tracing::error!(sid = %socket, seller_id = seller.0, %error, "catch-up failed; trying again shortly");
                    break;
                }
            };
            let Some(last) = page.last().map(|n| Seq(n.seq)) else {
                complete = true;
                break;
            };
            for notification in &page {
                if self.cursors.was_sent(&socket, Seq(notification.seq)) {
                    continue;
                }
                loop {
                    if waiting.len() >= REPLAY_WINDOW {
                        waiting.join_next().await;
                    }
                    match self.emit(&socket, notification) {
                        Ok(answers) => {
                            let sent = self.sent(seller, notification, answers, Instant::now());
                            let delivery = self.clone();
                            waiting.spawn(async move { delivery.await_answers(seller, sent).await });
                            count += 1;
                            break;
                        }
                        Err(SocketSendError::Full) => {
                            // Room comes back as the client reads; our own
                            // emits' acks are the surest sign of it.
                            if waiting.join_next().await.is_none() {
                                tokio::time::sleep(FULL_BUFFER_PAUSE).await;
                            }
                        }
                        Err(SocketSendError::Gone) => {
                            tracing::info!(sid = %socket, seller_id = seller.0, "catch-up stopped: socket gone");
                            break 'pages;
                        }
                    }
                }
            }
            if page.len() < Limit::MAX_LIMIT.get() as usize {
                complete = true;
                break;
            }
            cursor = last;
        }
        // Without a `last_seq` only what is pending was sent: what was
        // acknowledged before it connected is history, for sync and replay.
        if complete {
            self.cursors.caught_up(&socket, upto);
        }
        if count > 0 {
            tracing::info!(
                sid = %socket,
                seller_id = seller.0,
                last_seq = ?last_seq.map(|s| s.0),
                upto = upto.0,
                count,
                "delta recovery: caught up a connected socket"
            );
        }
        // What goes unanswered here stays pending, and its retry chain (or
        // the sweep) already covers it.
        while waiting.join_next().await.is_some() {}
    }

    /// One look at every socket here: those that have lacked seqs for
    /// longer than [`RECONCILE_GRACE`] are sent them from the store, and
    /// those whose connect catch-up failed get it again; each seller's in a
    /// task of its own, at most [`REPAIRS_AT_ONCE`] at a time.
    pub async fn reconcile(&self) {
        for (socket, seller, last_seq) in self.cursors.owed_catch_ups() {
            self.spawn_repair(
                move |delivery| async move { delivery.catch_up(socket, seller, last_seq).await },
            );
        }
        let sellers = self.cursors.sellers();
        if sellers.is_empty() {
            return;
        }
        let newest: HashMap<SellerId, Seq> = match self.store.last_seqs(&sellers).await {
            Ok(newest) => newest.into_iter().collect(),
            Err(error) => {
                tracing::warn!(%error, "cannot compare sockets with the store now; trying again shortly");
                return;
            }
        };
        let mut by_seller: BTreeMap<SellerId, Vec<Lagging>> = BTreeMap::new();
        for lagging in self.cursors.lagging(Instant::now(), RECONCILE_GRACE, &newest) {
            by_seller.entry(lagging.seller).or_default().push(lagging);
        }
        for (seller, sockets) in by_seller {
            self.spawn_repair(move |delivery| async move { delivery.send_missed(seller, sockets).await });
        }
    }

    /// Runs one repair from the store in a task of its own, once one of the
    /// [`REPAIRS_AT_ONCE`] permits is free.
    fn spawn_repair<F, Fut>(&self, repair: F)
    where
        F: FnOnce(Self) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let (delivery, repairs) = (self.clone(), Arc::clone(&self.repairs));
        tokio::spawn(async move {
            let _permit = repairs.acquire_owned().await;
            repair(delivery).await;
        });
    }

    /// Sends lagging sockets of `seller` what they lack, read from the
    /// store once for all of them, in seq order, each notification with one
    /// ack wait over every socket it went to (which records the first ack
    /// of what is still pending).
    async fn send_missed(&self, seller: SellerId, sockets: Vec<Lagging>) {
        // `lagging` counted these holds.
        let _held: Vec<Held> = sockets.iter().map(|lagging| self.cursors.adopt(&lagging.socket)).collect();
        let (Some(after), Some(upto)) =
            (sockets.iter().map(|s| s.after).min(), sockets.iter().map(|s| s.upto).max())
        else {
            return;
        };
        let mut complete = vec![true; sockets.len()];
        let mut waiting = JoinSet::new();
        let mut resent = 0_usize;
        let mut cursor = after;
        loop {
            let page = match self
                .store
                .catch_up_page(seller, cursor, upto, Some(after), Limit::MAX_LIMIT)
                .await
            {
                Ok(page) => page,
                Err(error) => {
                    tracing::error!(seller_id = seller.0, %error, "sending missed notifications failed; trying again shortly");
                    complete.iter_mut().for_each(|c| *c = false);
                    break;
                }
            };
            let Some(last) = page.last().map(|n| Seq(n.seq)) else { break };
            let started = Instant::now();
            let deadline = started + self.ack_timeout;
            let lacking: Vec<Vec<Notification>> = sockets
                .iter()
                .map(|lagging| {
                    let lacks = |n: &&Notification| {
                        let seq = Seq(n.seq);
                        seq > lagging.after && seq <= lagging.upto && self.cursors.lacks(&lagging.socket, seq)
                    };
                    page.iter().filter(lacks).cloned().collect()
                })
                .collect();
            let emitted = join_all(
                sockets
                    .iter()
                    .zip(&lacking)
                    .map(|(lagging, lacking)| self.emit_all(seller, &lagging.socket, lacking, deadline)),
            )
            .await;
            // One wait per notification, over the answers of every socket
            // it went to, as a push's.
            let mut by_seq: BTreeMap<i64, (&Notification, Vec<Answers>)> = BTreeMap::new();
            for ((lacking, answers), complete) in lacking.iter().zip(emitted).zip(&mut complete) {
                *complete &= answers.len() == lacking.len();
                resent += answers.len();
                for (notification, answers) in lacking.iter().zip(answers) {
                    by_seq
                        .entry(notification.seq)
                        .or_insert_with(|| (notification, Vec::new()))
                        .1
                        .push(answers);
                }
            }
            for (notification, answers) in by_seq.into_values() {
                let answers: Answers = Box::pin(futures_util::stream::select_all(answers));
                let sent = self.sent(seller, notification, answers, started);
                let delivery = self.clone();
                waiting.spawn(async move { delivery.await_answers(seller, sent).await });
            }
            if page.len() < Limit::MAX_LIMIT.get() as usize {
                break;
            }
            cursor = last;
        }
        for (lagging, complete) in sockets.iter().zip(complete) {
            if complete {
                self.cursors.caught_up(&lagging.socket, lagging.upto);
            }
        }
        if resent > 0 {
            DeliveryCounters::add(&self.counters.missed_resent, resent);
            tracing::warn!(
                seller_id = seller.0,
                sockets = sockets.len(),
                after = after.0,
                upto = upto.0,
                resent,
                "delta recovery: sent live sockets what they missed"
            );
        }
        // What goes unanswered stays as it is: pending ones have their
        // retry chain, the rest were acknowledged by another socket.
        while waiting.join_next().await.is_some() {}
    }

    /// Records acks that came by event or over HTTP: `received_at` on each
    /// seq not yet received. Returns how many moved to received now.
    ///
    /// # Errors
    /// Database failures.
    pub async fn acknowledge(
        &self,
        seller: SellerId,
        seqs: &AckSeqs,
        door: AckDoor,
    ) -> Result<u64, StoreError> {
        let moved = self.store.acknowledge(seller, seqs.as_slice()).await?;
        self.count_first_acks(seller, &moved, door);
        // Every seq asked about, moved now or received before: pushes of
        // them still waiting here (a replay's window) need not wait longer.
        for &seq in seqs.as_slice() {
            self.in_flight.acknowledged(seller, seq);
        }
        Ok(moved.len() as u64)
    }

    /// Counts first acks and times those answering a push still in flight
    /// here (from when it went out).
    fn count_first_acks(&self, seller: SellerId, moved: &[Seq], door: AckDoor) {
        if moved.is_empty() {
            return;
        }
        DeliveryCounters::add(&self.counters.acked, moved.len());
        for &seq in moved {
            let latency = self.in_flight.since_push(seller, seq);
            if let Some(latency) = latency {
                self.counters.ack_latency.record(latency);
            }
            tracing::info!(
                seller_id = seller.0,
                seq = seq.0,
                door = door.as_str(),
                latency_ms = latency.map(|l| l.as_millis()),
                "ack received"
            );
        }
    }

    /// Emitted (the push began at `emitted`): counted, timed, and its
    /// `sent_at` queued.
    fn sent(
        &self,
        seller: SellerId,
        notification: &Notification,
        answers: Answers,
        emitted: Instant,
    ) -> Sent {
        // Microseconds: the precision both databases store.
        self.sent_marks.record(notification.id, Utc::now().trunc_subsecs(6));
        DeliveryCounters::add(&self.counters.pushed, 1);
        let seq = Seq(notification.seq);
        let acknowledged = self.in_flight.start(seller, seq, emitted);
        Sent { seq, emitted, answers, acknowledged }
    }

    /// Waits, at most the ack timeout, for one emit's answers, and records
    /// the first ack; returns the seq and whether it was acknowledged (by an
    /// answer recorded here, or by another door meanwhile).
    async fn await_answers(&self, seller: SellerId, sent: Sent) -> (Seq, bool) {
        let Sent { seq, emitted, mut answers, acknowledged } = sent;
        let deadline = emitted + self.ack_timeout;
        let mut acked = false;
        loop {
            let answer = tokio::select! {
                answer = tokio::time::timeout_at(deadline, answers.next()) => answer,
                () = acknowledged.notified() => {
                    // Recorded (and counted) by `acknowledge`.
                    acked = true;
                    break;
                }
            };
            let Ok(Some(answer)) = answer else { break };
            if answer != Answer::Acked {
                continue;
            }
            match self.store.acknowledge(seller, &[seq]).await {
                Ok(moved) => {
                    self.count_first_acks(seller, &moved, AckDoor::Callback);
                    acked = true;
                }
                Err(error) => {
                    // Unrecorded: it stays pending, and is retried after the window.
                    tracing::error!(seller_id = seller.0, seq = seq.0, %error, "failed to record an ack");
                }
            }
            // Later sockets' answers change nothing.
            break;
        }
        self.in_flight.finish(seller, seq, emitted);
        if !acked {
            tracing::info!(seller_id = seller.0, seq = seq.0, "no ack within the ack timeout");
        }
        (seq, acked)
    }

    /// Before this process exits (draining, after its sockets are gone):
    /// hands every push still waiting here for its ack window to the
    /// persistent queue now, so no notification depends on this process.
    pub async fn hand_over(&self) {
        // Their ack waits end as their sockets close, and each then hands
        // what it did not see acknowledged to the checks; one whose socket
        // hangs ends at its deadline.
        let deadline = Instant::now() + self.ack_timeout;
        while self.first_pushes.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            tokio::time::sleep(HAND_OVER_POLL).await;
        }
        let handed = self.unconfirmed.check_all_now().await;
        tracing::info!(handed, "handed unacknowledged pushes over to the retry queue");
    }

    /// Stores retry jobs; on failure the sweep finds the notifications later.
    async fn schedule(&self, jobs: Vec<(RetryJob, Duration)>) {
        let count = jobs.len();
        if count == 0 {
            return;
        }
        match self.retries.schedule(jobs).await {
            Ok(()) => {
                DeliveryCounters::add(&self.counters.retries_queued, count);
                tracing::info!(count, "job queued: unacknowledged notifications will be retried");
            }
            Err(error) => tracing::error!(count, %error, "failed to queue retries; the sweep will"),
        }
    }
}
