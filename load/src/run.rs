//! What every task of one run shares: the run id, the delivery ledger, the
//! publish counters, socket counters and reconnect times.
//!
//! Times are wall-clock milliseconds since the UNIX epoch (`f64`, µs
//! precision): the publisher writes its send time into each notification's
//! `data.t` and the receiving socket subtracts it from its own clock, which is
//! the same clock since both run in this process.
//!
//! Locks are `std` mutexes held for a few instructions, never across an
//! `.await`; a panicked holder does not poison the run (the data stays
//! usable for the report).

use crate::ledger::Ledger;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the UNIX epoch, now.
pub(crate) fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |elapsed| elapsed.as_secs_f64() * 1000.0)
}

/// Counters of the publish side.
#[derive(Debug, Default, Clone)]
pub(crate) struct PublishStats {
    /// HTTP requests sent, retries included.
    pub(crate) requests: u64,
    /// Of which retries.
    pub(crate) retries: u64,
    /// Notifications the tool tried to publish.
    pub(crate) attempted: u64,
    /// Notifications refused for good, by reason (`"429"`, `"503"`, `"connect"`…).
    pub(crate) rejected: BTreeMap<String, u64>,
    /// Notifications whose fate is unknown: the last answer was lost after
    /// the request left (a timeout, a reset, a proxy's 502/504), so the
    /// server may have stored them. Never counted as missing.
    pub(crate) unknown: u64,
}

/// The state of one run, shared by the publisher, every socket and the reporter.
#[derive(Debug)]
pub(crate) struct Run {
    /// Written into every notification's `data.load`; receipts without it
    /// (earlier runs' history) are not this run's.
    pub(crate) id: String,
    ledger: Mutex<Ledger>,
    publish: Mutex<PublishStats>,
    /// Sockets connected right now.
    connected: AtomicUsize,
    /// Sockets that have connected at least once.
    ever_connected: AtomicUsize,
    /// When each reconnect (a namespace connect after the first) happened.
    reconnects: Mutex<Vec<f64>>,
    /// A setup problem found mid-run (a refused ingest key): stops publishing
    /// and makes the run exit 2.
    fatal: Mutex<Option<String>>,
}

impl Run {
    pub(crate) fn new(id: String, sellers: usize, sockets_per_seller: usize) -> Self {
        Self {
            id,
            ledger: Mutex::new(Ledger::new(sellers, sockets_per_seller)),
            publish: Mutex::new(PublishStats::default()),
            connected: AtomicUsize::new(0),
            ever_connected: AtomicUsize::new(0),
            reconnects: Mutex::new(Vec::new()),
            fatal: Mutex::new(None),
        }
    }

    pub(crate) fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn publish(&self) -> MutexGuard<'_, PublishStats> {
        self.publish.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A socket's namespace connect: the first one of that socket, or a reconnect.
    pub(crate) fn socket_connected(&self, first: bool) {
        self.connected.fetch_add(1, Ordering::Relaxed);
        if first {
            self.ever_connected.fetch_add(1, Ordering::Relaxed);
        } else {
            self.reconnects.lock().unwrap_or_else(PoisonError::into_inner).push(now_ms());
        }
    }

    pub(crate) fn socket_disconnected(&self) {
        self.connected.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn connected(&self) -> usize {
        self.connected.load(Ordering::Relaxed)
    }

    pub(crate) fn ever_connected(&self) -> usize {
        self.ever_connected.load(Ordering::Relaxed)
    }

    pub(crate) fn reconnect_times(&self) -> Vec<f64> {
        self.reconnects.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Records the first fatal problem (later ones are consequences).
    pub(crate) fn set_fatal(&self, message: String) {
        self.fatal.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(message);
    }

    pub(crate) fn fatal(&self) -> Option<String> {
        self.fatal.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}
