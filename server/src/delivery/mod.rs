//! Live delivery that loses nothing.
//!
//! The guarantee is at least once, idempotent by `seq` on the client:
//! 1. A notification is committed before anything is pushed, so the database
//!    (and the delta API) always has it.
//! 2. The first push ([`Delivery::push`]) goes to every socket of the seller
//!    at once, with an ack; `received_at` is recorded on the first ack.
//! 3. What is not acknowledged within `ACK_TIMEOUT_MS` (or whose socket
//!    dropped) becomes a job in the persistent [`RetryQueue`]; each retry
//!    schedules the next one *before* pushing, so a crash mid-retry leaves the
//!    next step stored. After `RETRY_ATTEMPTS` pushes the notification is
//!    marked failed, and still served by replay, sync and the delta API.
//! 4. A socket that connects is sent, at once, everything after its
//!    `last_seq`, or without one everything still pending
//!    ([`Delivery::catch_up`]).
//! 5. What a crash could leave without a job (stored but never pushed, or a
//!    first push whose ack wait died with the process) is found by the
//!    [`sweep`] at start-up and every minute, and scheduled again.
//!
//! Attempts are counted on the row: the first when it is stored, each retry
//! with a conditional update ([`Database::claim_attempt`]), so duplicate jobs
//! (a sweep racing a retry, two instances) never push the same attempt twice.

mod backoff;
pub mod latency;
mod sent_marks;
pub mod sweep;

pub use backoff::{chain_bound, random_retry_delay, retry_delay};

use crate::config::RetryPolicy;
use crate::domain::limit::Limit;
use crate::domain::notification::{SellerId, Seq};
use crate::gateway::bus::Bus;
use crate::gateway::{NOTIFICATION, Socket, SocketIo, seller_room};
use crate::queue::{JobResult, RetryJob, RetryQueue};
use crate::store::Database;
use apalis::prelude::Data;
use app::types::Notification;
use chrono::{DateTime, SubsecRound, Utc};
use futures_util::Stream;
use futures_util::StreamExt;
use futures_util::future::join_all;
use sent_marks::SentMarks;
use serde::de::IgnoredAny;
use socketioxide::AckError;
use socketioxide::socket::Sid;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Pushes notifications to sockets and runs their retries. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Delivery {
    io: SocketIo,
    /// Whether emits can reach other instances now (Redis up).
    bus: Bus,
    database: Database,
    queue: RetryQueue,
    ack_timeout: Duration,
    retry: RetryPolicy,
    sent_marks: SentMarks,
    counters: Arc<DeliveryCounters>,
}

/// Since this process started, for `/metrics`.
#[derive(Debug, Default)]
pub struct DeliveryCounters {
    /// Notification emits to a room or a socket.
    pub pushed: AtomicU64,
    /// First acks recorded.
    pub acked: AtomicU64,
    /// Retry jobs stored.
    pub retries_queued: AtomicU64,
    /// Retry pushes made.
    pub retried: AtomicU64,
    /// Notifications marked failed.
    pub failed: AtomicU64,
    /// Push → first ack, for every push an ack answered in time.
    pub ack_latency: latency::AckLatency,
}

impl DeliveryCounters {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Every socket's answer to one emit: a room emit and a single-socket emit
/// have different stream types, hence the box.
type Acks = Pin<Box<dyn Stream<Item = (Sid, Result<IgnoredAny, AckError>)> + Send>>;

/// One emitted notification, waiting for its acks.
struct Sent {
    seq: Seq,
    emitted: Instant,
    /// The same moment as `emitted`, as stored in `sent_at`.
    emitted_at: DateTime<Utc>,
    acks: Acks,
}

impl Sent {
    /// Just emitted: its `sent_at` goes to the batch writer.
    fn new(notification: &Notification, acks: Acks, sent_marks: &SentMarks) -> Self {
        // Microseconds: the precision both databases store.
        let emitted_at = Utc::now().trunc_subsecs(6);
        sent_marks.record(notification.id, emitted_at);
        Self { seq: Seq(notification.seq), emitted: Instant::now(), emitted_at, acks }
    }
}

impl Delivery {
    pub fn new(
        io: SocketIo,
        bus: Bus,
        database: Database,
        queue: RetryQueue,
        ack_timeout: Duration,
        retry: RetryPolicy,
    ) -> Self {
        let sent_marks = SentMarks::spawn(database.clone());
        Self { io, bus, database, queue, ack_timeout, retry, sent_marks, counters: Arc::default() }
    }

    pub fn counters(&self) -> &DeliveryCounters {
        &self.counters
    }

    pub fn queue(&self) -> &RetryQueue {
        &self.queue
    }

    /// Pushes in the background: the publisher's answer never waits for acks.
    pub fn push(&self, seller: SellerId, notifications: Vec<Notification>) {
        let delivery = self.clone();
        tokio::spawn(async move { delivery.push_now(seller, notifications).await });
    }

    /// Push attempt 1 of freshly stored notifications (the writer stores them
    /// with `attempts = 1`): emit (in seq order) to the seller's room, wait
    /// for the acks, and queue a retry for each one nobody acknowledged.
    pub async fn push_now(&self, seller: SellerId, notifications: Vec<Notification>) {
        // Attempt 1 was counted when the rows were stored (`Writer`): nothing
        // stands between the commit and the emit.
        let sent = self.emit_to_room(seller, &notifications).await;
        // A seller with no socket: the attempt still counts (CONTRACT), and
        // the next one comes after the ack window like any other.
        let unsent_delay = self.ack_timeout + random_retry_delay(self.retry.base, 1);
        let sent_seqs: Vec<Seq> = sent.iter().map(|s| s.seq).collect();
        let mut retries: Vec<(RetryJob, Duration)> = notifications
            .iter()
            .filter(|n| !sent_seqs.contains(&Seq(n.seq)))
            .map(|n| (retry_job(seller, Seq(n.seq), 2), unsent_delay))
            .collect();
        let unacknowledged = self.settle(seller, sent).await;
        retries.extend(
            unacknowledged
                .into_iter()
                .map(|seq| (retry_job(seller, seq, 2), random_retry_delay(self.retry.base, 1))),
        );
        self.schedule(retries).await;
    }

    /// Runs one retry job: push attempt `job.attempt` if the notification is
    /// still unacknowledged, after storing the step that follows it; or, past
    /// the last attempt, mark it failed.
    ///
    /// # Errors
    /// Database failures (apalis then runs the job again).
    pub async fn run_retry(&self, job: RetryJob) -> JobResult {
        let seller = SellerId(job.seller_id);
        let seq = Seq(job.seq);
        if job.attempt > self.retry.attempts {
            if self.database.mark_failed(seller, seq).await? {
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
        let Some(notification) = self.database.claim_attempt(seller, seq, job.attempt).await? else {
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
        let next = retry_job(seller, seq, job.attempt + 1);
        self.queue.schedule(vec![(next, next_in)]).await?;
        DeliveryCounters::add(&self.counters.retries_queued, 1);
        DeliveryCounters::add(&self.counters.retried, 1);
        tracing::info!(
            seller_id = seller.0,
            seq = seq.0,
            attempt = job.attempt,
            "job retried: pushing again"
        );

        let sent = self.emit_to_room(seller, std::slice::from_ref(&notification)).await;
        let delivery = self.clone();
        tokio::spawn(async move { delivery.settle(seller, sent).await });
        Ok(())
    }

    /// Sends a socket that just connected what it lacks, in seq order, each
    /// with its ack: every notification after `last_seq` when the client
    /// gave one (it has the rest), else every one still pending. Bounded by the newest seq at the start: later
    /// ones reach the socket through its room, as it joined before.
    pub async fn catch_up(&self, socket: Socket, seller: SellerId, last_seq: Option<Seq>) {
        let upto = match self.database.last_seq(seller).await {
            Ok(upto) => Seq(upto),
            Err(error) => {
                tracing::error!(sid = %socket.id, seller_id = seller.0, %error, "catch-up failed");
                return;
            }
        };
        let mut cursor = Seq(0);
        loop {
            let page = self.database.catch_up_page(seller, cursor, upto, last_seq, Limit::MAX_LIMIT).await;
            let page = match page {
                Ok(page) => page,
                Err(error) => {
                    tracing::error!(sid = %socket.id, seller_id = seller.0, %error, "catch-up failed");
                    return;
                }
            };
            let Some(last) = page.last().map(|n| Seq(n.seq)) else { break };
            let mut sent = Vec::with_capacity(page.len());
            for notification in &page {
                match socket
                    .timeout(self.ack_timeout)
                    .emit_with_ack::<_, IgnoredAny>(NOTIFICATION, notification)
                {
                    Ok(acks) => sent.push(Sent::new(notification, Box::pin(acks), &self.sent_marks)),
                    Err(error) => {
                        tracing::info!(sid = %socket.id, %error, "catch-up stopped: socket gone");
                        break;
                    }
                }
            }
            let complete = sent.len() == page.len();
            DeliveryCounters::add(&self.counters.pushed, sent.len());
            tracing::info!(
                sid = %socket.id,
                seller_id = seller.0,
                from_seq = page[0].seq,
                to_seq = last.0,
                last_seq = ?last_seq.map(|s| s.0),
                count = sent.len(),
                "delta recovery: catching up a connected socket"
            );
            self.settle(seller, sent).await;
            if !complete || page.len() < Limit::MAX_LIMIT.get() as usize {
                break;
            }
            cursor = last;
        }
    }

    /// Emits each notification to the seller's room, on every instance when
    /// Redis is up, else on this one, with an ack. Nothing is emitted when no
    /// socket can be in the room. (`sent_at` is written by [`Self::settle`],
    /// off the push's path.)
    async fn emit_to_room(&self, seller: SellerId, notifications: &[Notification]) -> Vec<Sent> {
        let room = seller_room(seller);
        let local_sockets = !self.io.local().to(room.clone()).sockets().is_empty();
        let mut clustered = self.bus.is_routing();
        if notifications.is_empty() || !(local_sockets || clustered) {
            return Vec::new();
        }
        let mut sent = Vec::with_capacity(notifications.len());
        for notification in notifications {
            let mut result = self.emit_once(&room, notification, clustered).await;
            if clustered && let Err(error) = &result {
                // Redis failed: this instance's sockets must still get it.
                tracing::warn!(seller_id = seller.0, error, "redis emit failed; emitting locally (degraded)");
                self.bus.trip();
                clustered = false;
                result = self.emit_once(&room, notification, false).await;
            }
            match result {
                Ok(acks) => sent.push(Sent::new(notification, acks, &self.sent_marks)),
                Err(error) => {
                    tracing::warn!(seller_id = seller.0, seq = notification.seq, %error, "push failed")
                }
            }
        }
        DeliveryCounters::add(&self.counters.pushed, sent.len());
        sent
    }

    /// One emit with an ack to `room`: through the adapter to every instance
    /// (`clustered`), or to this instance's sockets only.
    async fn emit_once(
        &self,
        room: &str,
        notification: &Notification,
        clustered: bool,
    ) -> Result<Acks, String> {
        let operators =
            if clustered { self.io.to(room.to_owned()) } else { self.io.local().to(room.to_owned()) };
        operators
            .timeout(self.ack_timeout)
            .emit_with_ack::<_, IgnoredAny>(NOTIFICATION, notification)
            .await
            .map(|acks| Box::pin(acks) as Acks)
            // A string: the adapter's error is not `Send`, and only logged.
            .map_err(|error| error.to_string())
    }

    /// Waits for the acks of what was emitted, recording each first ack;
    /// returns those nobody acknowledged that are still pending (a client may
    /// have acknowledged by event meanwhile).
    async fn settle(&self, seller: SellerId, sent: Vec<Sent>) -> Vec<Seq> {
        let answers = join_all(sent.into_iter().map(|s| self.await_ack(seller, s))).await;
        let unanswered: Vec<Seq> =
            answers.into_iter().filter_map(|(seq, acked)| (!acked).then_some(seq)).collect();
        match self.database.still_pending(seller, &unanswered).await {
            Ok(pending) => pending,
            Err(error) => {
                // The sweep will find them; they are stored either way.
                tracing::error!(seller_id = seller.0, %error, "failed to read what is still pending");
                Vec::new()
            }
        }
    }

    /// Waits for the acks of one emit and records `received_at` on the first;
    /// returns the seq and whether any socket acknowledged it in time.
    async fn await_ack(&self, seller: SellerId, sent: Sent) -> (Seq, bool) {
        let Sent { seq, emitted, emitted_at, mut acks } = sent;
        let mut acked = false;
        while let Some((sid, result)) = acks.next().await {
            // Any answer is an ack, whatever it carries: the official client's
            // `ack()` sends no arguments, which cannot decode as a value.
            let answered = matches!(result, Ok(_) | Err(AckError::Decode(_)));
            if !answered || acked {
                continue;
            }
            acked = true;
            let latency = emitted.elapsed();
            self.counters.ack_latency.record(latency);
            let latency_ms = latency.as_millis();
            match self.database.acknowledge_push(seller, seq, emitted_at).await {
                Ok(moved) => {
                    DeliveryCounters::add(&self.counters.acked, usize::from(moved));
                    tracing::info!(%sid, seller_id = seller.0, seq = seq.0, latency_ms, "ack received");
                }
                Err(error) => {
                    tracing::error!(seller_id = seller.0, seq = seq.0, %error, "failed to record an ack")
                }
            }
        }
        if !acked {
            tracing::info!(seller_id = seller.0, seq = seq.0, "no ack within the ack timeout");
        }
        (seq, acked)
    }

    /// Stores retry jobs; on failure the sweep finds the notifications later.
    async fn schedule(&self, jobs: Vec<(RetryJob, Duration)>) {
        let count = jobs.len();
        if count == 0 {
            return;
        }
        match self.queue.schedule(jobs).await {
            Ok(()) => {
                DeliveryCounters::add(&self.counters.retries_queued, count);
                tracing::info!(count, "job queued: unacknowledged notifications will be retried");
            }
            Err(error) => tracing::error!(count, %error, "failed to queue retries; the sweep will"),
        }
    }
}

fn retry_job(seller: SellerId, seq: Seq, attempt: u32) -> RetryJob {
    RetryJob { seller_id: seller.0, seq: seq.0, attempt }
}

/// The apalis handler: runs one retry job with the shared [`Delivery`].
///
/// # Errors
/// Database failures, so apalis runs the job again.
pub async fn handle_retry_job(job: RetryJob, delivery: Data<Delivery>) -> JobResult {
    delivery.run_retry(job).await
}
