//! When each push of this instance that still waits for its ack went out, so
//! a first ack is timed from the push it answers whichever door it comes
//! through (an ack callback, an event or an HTTP request racing it).
//!
//! Entries live from the emit to the end of its ack wait: the map holds only
//! what is in flight, however long the server runs. A retry's newer push
//! replaces the older one's entry, and the older wait's end does not remove it.

use crate::domain::notification::{SellerId, Seq};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Default)]
pub(super) struct InFlight {
    pushed_at: Mutex<HashMap<(SellerId, Seq), Instant>>,
}

impl InFlight {
    pub(super) fn start(&self, seller: SellerId, seq: Seq, at: Instant) {
        self.lock().insert((seller, seq), at);
    }

    /// Time since the newest push of this notification still in flight.
    pub(super) fn since_push(&self, seller: SellerId, seq: Seq) -> Option<Duration> {
        self.lock().get(&(seller, seq)).map(Instant::elapsed)
    }

    /// The ack wait of the push made `at` is over.
    pub(super) fn finish(&self, seller: SellerId, seq: Seq, at: Instant) {
        let mut pushed_at = self.lock();
        if pushed_at.get(&(seller, seq)) == Some(&at) {
            pushed_at.remove(&(seller, seq));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(SellerId, Seq), Instant>> {
        // Poisoned only if a holder panicked mid-insert: the map is still usable.
        self.pushed_at.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_newer_push_outlives_the_older_ones_wait() {
        let in_flight = InFlight::default();
        let (seller, seq) = (SellerId(1), Seq(1));
        let first = Instant::now();
        in_flight.start(seller, seq, first);
        tokio::time::advance(Duration::from_millis(30)).await;
        let second = Instant::now();
        in_flight.start(seller, seq, second);
        in_flight.finish(seller, seq, first);
        tokio::time::advance(Duration::from_millis(5)).await;
        assert_eq!(in_flight.since_push(seller, seq), Some(Duration::from_millis(5)));
        in_flight.finish(seller, seq, second);
        assert_eq!(in_flight.since_push(seller, seq), None);
    }
}
