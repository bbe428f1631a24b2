//! Live delivery: after the writer commits, push each notification to every
//! socket of its seller with an ack, record `sent_at` when it went out and
//! `received_at` on the first ack.
//!
//! The database stays the truth: a push that reaches nobody (no socket, a
//! lost connection, a crash before the emit) costs latency, never data,
//! because a reconnecting client replays after its `last_seq` and the delta
//! API reads the same rows.

use crate::domain::limit::Limit;
use crate::domain::notification::{SellerId, Seq};
use crate::gateway::{NOTIFICATION, seller_room};
use crate::store::{Database, DeltaQuery};
use app::types::Notification;
use futures_util::StreamExt;
use futures_util::future::join_all;
use serde::de::IgnoredAny;
use socketioxide::ack::AckStream;
use socketioxide::extract::SocketRef;
use socketioxide::{AckError, SocketIo};
use std::time::{Duration, Instant};

/// Pushes notifications to sockets. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Delivery {
    io: SocketIo,
    database: Database,
    ack_timeout: Duration,
}

/// One emitted notification, waiting for its acks.
struct Sent {
    seq: Seq,
    emitted: Instant,
    acks: AckStream<IgnoredAny>,
}

impl Delivery {
    pub fn new(io: SocketIo, database: Database, ack_timeout: Duration) -> Self {
        Self { io, database, ack_timeout }
    }

    /// Pushes in the background: the publisher's answer never waits for acks.
    pub fn push(&self, seller: SellerId, notifications: Vec<Notification>) {
        let delivery = self.clone();
        tokio::spawn(async move { delivery.push_now(seller, notifications).await });
    }

    /// Emits every notification (in seq order) to the seller's room, then
    /// waits for their acks together.
    pub async fn push_now(&self, seller: SellerId, notifications: Vec<Notification>) {
        let room = seller_room(seller);
        if self.io.to(room.clone()).sockets().is_empty() {
            tracing::debug!(
                seller_id = seller.0,
                count = notifications.len(),
                "no socket connected; left pending"
            );
            return;
        }
        let mut sent = Vec::with_capacity(notifications.len());
        for notification in &notifications {
            let emitted = Instant::now();
            let emit = self
                .io
                .to(room.clone())
                .timeout(self.ack_timeout)
                .emit_with_ack::<_, IgnoredAny>(NOTIFICATION, notification);
            match emit.await {
                Ok(acks) => sent.push(Sent { seq: Seq(notification.seq), emitted, acks }),
                Err(error) => {
                    tracing::warn!(seller_id = seller.0, seq = notification.seq, %error, "push failed")
                }
            }
        }
        self.record_and_await(seller, sent).await;
    }

    /// Sends one socket everything after `after`, page by page, each with its ack.
    pub async fn replay(&self, socket: SocketRef, seller: SellerId, after: Seq) {
        let page_size =
            Limit::parse(Some(i64::from(Limit::MAX)), Limit::MAX).expect("BUG: the maximum is a valid limit");
        let mut after = after;
        loop {
            let page = match self.database.delta(seller, DeltaQuery { after, limit: page_size }).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::error!(sid = %socket.id, seller_id = seller.0, %error, "replay failed");
                    return;
                }
            };
            let mut sent = Vec::with_capacity(page.notifications.len());
            for notification in &page.notifications {
                let emitted = Instant::now();
                match socket
                    .timeout(self.ack_timeout)
                    .emit_with_ack::<_, IgnoredAny>(NOTIFICATION, notification)
                {
                    Ok(acks) => sent.push(Sent { seq: Seq(notification.seq), emitted, acks }),
                    Err(error) => {
                        tracing::info!(sid = %socket.id, %error, "replay stopped: socket gone");
                        break;
                    }
                }
            }
            let complete = sent.len() == page.notifications.len();
            let last = sent.last().map(|s| s.seq);
            tracing::info!(sid = %socket.id, seller_id = seller.0, from_seq = after.0, count = sent.len(), "delta recovery");
            self.record_and_await(seller, sent).await;
            match last {
                Some(last) if complete && page.has_more => after = last,
                _ => break,
            }
        }
    }

    /// Records `sent_at` for what went out, then waits for every ack together.
    async fn record_and_await(&self, seller: SellerId, sent: Vec<Sent>) {
        let seqs: Vec<Seq> = sent.iter().map(|s| s.seq).collect();
        if let Err(error) = self.database.mark_sent(seller, &seqs).await {
            tracing::error!(seller_id = seller.0, %error, "failed to record sent_at");
        }
        join_all(sent.into_iter().map(|s| self.await_ack(seller, s))).await;
    }

    /// Records `received_at` on the first ack from any socket.
    async fn await_ack(&self, seller: SellerId, sent: Sent) {
        let Sent { seq, emitted, acks } = sent;
        let mut acks = std::pin::pin!(acks);
        let mut acked = false;
        while let Some((sid, result)) = acks.next().await {
            // Any answer is an ack, whatever it carries: the official client's
            // `ack()` sends no arguments, which cannot decode as a value.
            let answered = matches!(result, Ok(_) | Err(AckError::Decode(_)));
            if !answered || acked {
                continue;
            }
            acked = true;
            let latency_ms = emitted.elapsed().as_millis();
            match self.database.acknowledge(seller, &[seq]).await {
                Ok(_) => tracing::info!(%sid, seller_id = seller.0, seq = seq.0, latency_ms, "ack received"),
                Err(error) => {
                    tracing::error!(seller_id = seller.0, seq = seq.0, %error, "failed to record an ack")
                }
            }
        }
        if !acked {
            tracing::warn!(seller_id = seller.0, seq = seq.0, "no ack within the ack timeout");
        }
    }
}
