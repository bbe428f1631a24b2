//! How many events one socket may send: a token bucket per socket, refilled
//! at `SOCKET_EVENTS_PER_SEC` and holding twice that, so a client may catch
//! up in a burst (syncing after a reconnect) but a script cannot keep the
//! server busy answering `notifications:sync`. Acks are not counted. An event over
//! the budget is answered `rate_limited` and not handled: it costs the server
//! a few hundred nanoseconds, never a query.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

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
        let Some(bucket) = &self.0 else { return Ok(()) };
        let mut bucket = bucket.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let earned = now.duration_since(bucket.refilled).as_secs_f64() * bucket.per_second;
        bucket.tokens = (bucket.tokens + earned).min(bucket.capacity);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / bucket.per_second))
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

    #[test]
    fn zero_is_unlimited() {
        let budget = EventBudget::new(0);
        assert!((0..10_000).all(|_| budget.take().is_ok()));
    }
}
