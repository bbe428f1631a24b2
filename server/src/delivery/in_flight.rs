//! The pushes of this instance still waiting for their acks: when each went
//! out, so a first ack is timed from the push it answers whichever door it
//! comes through, and a way to tell its wait that the notification was
//! acknowledged by another door (`notifications:ack`, HTTP), so the wait ends
//! at once instead of at the ack timeout. A replay's window moves as fast as
//! the client acknowledges, by callback or by event.
//!
//! Entries live from the push (timed from its start, before the seller's
//! sockets are listed) to the end of its ack wait: the map holds only
//! what is in flight, however long the server runs. A retry's newer push
//! replaces the older one's entry, and the older wait's end does not remove it.

use crate::domain::notification::{SellerId, Seq};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Debug)]
struct Push {
    at: Instant,
    /// Signalled once the notification is acknowledged by any door.
    acknowledged: Arc<Notify>,
}

#[derive(Debug, Default)]
pub(super) struct InFlight {
    pushes: Mutex<HashMap<(SellerId, Seq), Push>>,
}

impl InFlight {
    /// A push went out at `at`; its wait listens on the returned signal.
    pub(super) fn start(&self, seller: SellerId, seq: Seq, at: Instant) -> Arc<Notify> {
        let acknowledged = Arc::new(Notify::new());
        self.lock().insert((seller, seq), Push { at, acknowledged: Arc::clone(&acknowledged) });
        acknowledged
    }

    /// Time since the newest push of this notification still in flight.
    pub(super) fn since_push(&self, seller: SellerId, seq: Seq) -> Option<Duration> {
        self.lock().get(&(seller, seq)).map(|push| push.at.elapsed())
    }

    /// The notification was acknowledged (or asked to be, and was already):
    /// its push's wait may end. A signal sent before the wait listens is kept.
    pub(super) fn acknowledged(&self, seller: SellerId, seq: Seq) {
        if let Some(push) = self.lock().get(&(seller, seq)) {
            push.acknowledged.notify_one();
        }
    }

    /// The ack wait of the push made `at` is over.
    pub(super) fn finish(&self, seller: SellerId, seq: Seq, at: Instant) {
        let mut pushes = self.lock();
        if pushes.get(&(seller, seq)).is_some_and(|push| push.at == at) {
            pushes.remove(&(seller, seq));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(SellerId, Seq), Push>> {
        // Poisoned only if a holder panicked mid-insert: the map is still usable.
        self.pushes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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

    #[tokio::test]
    async fn an_acknowledgement_before_the_wait_listens_is_not_lost() {
        let in_flight = InFlight::default();
        let signal = in_flight.start(SellerId(1), Seq(4), Instant::now());
        in_flight.acknowledged(SellerId(1), Seq(4));
        tokio::time::timeout(Duration::from_secs(1), signal.notified()).await.expect("kept signal");
    }
}
