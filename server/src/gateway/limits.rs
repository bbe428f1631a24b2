//! How many events one socket may send: a token bucket per socket, refilled
//! at `SOCKET_EVENTS_PER_SEC` and holding twice that, so a client may catch
//! up in a burst (syncing after a reconnect) but a script cannot keep the
//! server busy answering `notifications:sync`. Acks have a budget of their
//! own, counted in seqs and [`ACK_SEQS_PER_EVENT`] times larger, so a client
//! that acknowledges a replayed backlog of thousands one by one is never
//! slowed, while a flood of 500-seq acks cannot fill the ack writer that
//! every seller shares. What is over a budget is answered `rate_limited`
//! and not handled: it costs the server a few hundred nanoseconds, never a
//! query.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Seqs acknowledged by event per socket and second, per event of
/// `SOCKET_EVENTS_PER_SEC` (by default 10 000 a second, a burst of 20 000).
pub(super) const ACK_SEQS_PER_EVENT: u32 = 100;

/// One socket's budget. Cheap to clone (shared by its event handlers).
#[derive(Debug, Clone)]
pub(super) struct EventBudget(Option<Arc<Mutex<Bucket>>>);

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
    per_second: f64,
    capacity: f64,
}

impl EventBudget {
    /// `per_second` events a second, a burst of twice that; `0`: unlimited.
    pub(super) fn new(per_second: u32) -> Self {
        if per_second == 0 {
            return Self(None);
        }
        let per_second = f64::from(per_second);
        let capacity = 2.0 * per_second;
        Self(Some(Arc::new(Mutex::new(Bucket {
            tokens: capacity,
            refilled: Instant::now(),
            per_second,
            capacity,
        }))))
    }

    /// Takes one event from the budget, or says how long until one is back.
    pub(super) fn take(&self) -> Result<(), Duration> {
        self.take_many(1)
    }

    /// Takes `count` units (seqs, for acks) at once, or none and says how
    /// long until they are back. A count above the whole burst is never
    /// granted (an ack of 500 seqs needs `SOCKET_EVENTS_PER_SEC` of at least
    /// 3); its wait is the time the whole burst takes to refill.
    pub(super) fn take_many(&self, count: usize) -> Result<(), Duration> {
        let Some(bucket) = &self.0 else { return Ok(()) };
        let count = count as f64;
        let mut bucket = bucket.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let earned = now.duration_since(bucket.refilled).as_secs_f64() * bucket.per_second;
        bucket.tokens = (bucket.tokens + earned).min(bucket.capacity);
        bucket.refilled = now;
        if bucket.tokens >= count {
            bucket.tokens -= count;
            Ok(())
        } else {
            let missing = count.min(bucket.capacity) - bucket.tokens;
            Err(Duration::from_secs_f64(missing.max(0.0) / bucket.per_second))
        }
    }
}

/// Socket events refused over their budget, for `/metrics`. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct RefusedEvents(Arc<AtomicU64>);

impl RefusedEvents {
    /// Counts one refusal; returns how many there were before it.
    pub(super) fn add(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }

    pub fn total(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_twice_the_rate_then_the_rate() {
        let budget = EventBudget::new(10);
        for _ in 0..20 {
            assert!(budget.take().is_ok());
        }
        let wait = budget.take().unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(100), "{wait:?}");

        tokio::time::sleep(Duration::from_millis(500)).await;
        let granted = (0..20).filter(|_| budget.take().is_ok()).count();
        assert_eq!(granted, 5, "half a second at 10 a second");
    }

    #[tokio::test(start_paused = true)]
    async fn acks_take_one_unit_per_seq() {
        let budget = EventBudget::new(10 * ACK_SEQS_PER_EVENT);
        // A burst of 2 000 seqs: three acks of 500, then a fourth of 500 is over.
        for _ in 0..3 {
            assert!(budget.take_many(500).is_ok());
        }
        assert!(budget.take_many(500).is_ok(), "the fourth still fits: 2 000 in all");
        let wait = budget.take_many(500).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500), "500 seqs at 1 000 a second");
        assert!(budget.take_many(1).is_err());
    }

    #[test]
    fn zero_is_unlimited() {
        let budget = EventBudget::new(0);
        assert!((0..10_000).all(|_| budget.take().is_ok()));
    }
}
