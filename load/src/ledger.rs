//! Delivery accounting: which accepted notifications reached which sockets.
//!
//! A notification is *delivered* when every socket of its seller received it
//! (CONTRACT: "delivered to every connected socket of its seller, whichever
//! instance each socket is connected to"). Publishing and receiving race: a
//! push often arrives before the HTTP answer that carries its seq, so both
//! [`Ledger::accept`] and [`Ledger::receive`] may come first, and the
//! `delivered` count is kept exact either way, incrementally, so progress and
//! the settle loop read it without a scan.
//!
//! Pure and synchronous: callers hold it behind one mutex (`run::Run`).

use std::collections::{HashMap, HashSet};
use std::ops::Range;

/// One accepted notification.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Accepted {
    /// When the request that stored it was sent (ms since the UNIX epoch).
    sent_ms: f64,
    /// How many of the seller's sockets have received it.
    receipts: usize,
    /// When the latest of those receipts arrived.
    last_receipt_ms: f64,
}

/// An accepted notification that some socket of its seller never received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Missing {
    pub(crate) seller: usize,
    pub(crate) seq: i64,
    /// Global socket indexes (see [`Ledger::sockets_of`]) that lack it.
    pub(crate) sockets: Vec<usize>,
}

/// An accepted notification as the report sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct AcceptedView {
    pub(crate) seller: usize,
    pub(crate) seq: i64,
    pub(crate) sent_ms: f64,
    /// Publish → received by the last of its seller's sockets, once delivered.
    pub(crate) full_delivery_ms: Option<f64>,
}

/// Everything accepted and received during the run (this run's
/// notifications only: callers filter on `data.load`).
#[derive(Debug)]
pub(crate) struct Ledger {
    sockets_per_seller: usize,
    accepted: HashMap<(usize, i64), Accepted>,
    /// Per socket: seq → when it first arrived.
    received: Vec<HashMap<i64, f64>>,
    /// Receive time minus `data.t`, for every first receipt on every socket.
    latencies_ms: Vec<f64>,
    duplicates: u64,
    delivered: u64,
    /// The server answered the same (seller, seq) for two publishes.
    conflicts: u64,
}

impl Ledger {
    pub(crate) fn new(sellers: usize, sockets_per_seller: usize) -> Self {
        Self {
            sockets_per_seller,
            accepted: HashMap::new(),
            received: vec![HashMap::new(); sellers * sockets_per_seller],
            latencies_ms: Vec::new(),
            duplicates: 0,
            delivered: 0,
            conflicts: 0,
        }
    }

    /// Socket `k` of seller `s` is global socket `s · K + k`.
    pub(crate) fn sockets_of(&self, seller: usize) -> Range<usize> {
        seller * self.sockets_per_seller..(seller + 1) * self.sockets_per_seller
    }

    fn seller_of(&self, socket: usize) -> usize {
        socket / self.sockets_per_seller
    }

    /// Records that the server stored `seq` for `seller` from a request sent
    /// at `sent_ms`.
    pub(crate) fn accept(&mut self, seller: usize, seq: i64, sent_ms: f64) {
        if self.accepted.contains_key(&(seller, seq)) {
            self.conflicts += 1;
            return;
        }
        let mut entry = Accepted { sent_ms, receipts: 0, last_receipt_ms: f64::NEG_INFINITY };
        for socket in self.sockets_of(seller) {
            if let Some(&at) = self.received[socket].get(&seq) {
                entry.receipts += 1;
                entry.last_receipt_ms = entry.last_receipt_ms.max(at);
            }
        }
        if entry.receipts == self.sockets_per_seller {
            self.delivered += 1;
        }
        self.accepted.insert((seller, seq), entry);
    }

    /// Records that `socket` received `seq` at `received_ms`; `sent_ms` is
    /// the notification's `data.t`. A seq the socket already has is a
    /// duplicate: counted, otherwise ignored (CONTRACT: delivery is at least
    /// once, clients drop repeats).
    pub(crate) fn receive(&mut self, socket: usize, seq: i64, sent_ms: Option<f64>, received_ms: f64) {
        if self.received[socket].contains_key(&seq) {
            self.duplicates += 1;
            return;
        }
        self.received[socket].insert(seq, received_ms);
        if let Some(sent_ms) = sent_ms {
            self.latencies_ms.push(received_ms - sent_ms);
        }
        let seller = self.seller_of(socket);
        if let Some(entry) = self.accepted.get_mut(&(seller, seq)) {
            entry.receipts += 1;
            entry.last_receipt_ms = entry.last_receipt_ms.max(received_ms);
            if entry.receipts == self.sockets_per_seller {
                self.delivered += 1;
            }
        }
    }

    pub(crate) fn accepted(&self) -> u64 {
        self.accepted.len() as u64
    }

    pub(crate) fn delivered(&self) -> u64 {
        self.delivered
    }

    pub(crate) fn duplicates(&self) -> u64 {
        self.duplicates
    }

    pub(crate) fn conflicts(&self) -> u64 {
        self.conflicts
    }

    pub(crate) fn is_all_delivered(&self) -> bool {
        self.delivered == self.accepted()
    }

    pub(crate) fn latencies_ms(&self) -> &[f64] {
        &self.latencies_ms
    }

    /// Accepted notifications not yet on every socket of their seller,
    /// ordered by seller then seq.
    pub(crate) fn missing(&self) -> Vec<Missing> {
        let mut missing: Vec<Missing> = self
            .accepted
            .iter()
            .filter(|(_, entry)| entry.receipts < self.sockets_per_seller)
            .map(|(&(seller, seq), _)| Missing {
                seller,
                seq,
                sockets: self
                    .sockets_of(seller)
                    .filter(|&socket| !self.received[socket].contains_key(&seq))
                    .collect(),
            })
            .collect();
        missing.sort_by_key(|m| (m.seller, m.seq));
        missing
    }

    /// This run's notifications some socket received that no publish answer
    /// named: stored by an attempt whose answer was lost (a timeout, a 502)
    /// and then published again. Not an error: at-least-once publishing.
    pub(crate) fn extra(&self) -> u64 {
        let mut seen = HashSet::new();
        for (socket, seqs) in self.received.iter().enumerate() {
            let seller = self.seller_of(socket);
            for &seq in seqs.keys() {
                if !self.accepted.contains_key(&(seller, seq)) {
                    seen.insert((seller, seq));
                }
            }
        }
        seen.len() as u64
    }

    /// Every accepted notification, in no particular order.
    pub(crate) fn accepted_views(&self) -> impl Iterator<Item = AcceptedView> + '_ {
        self.accepted.iter().map(|(&(seller, seq), entry)| AcceptedView {
            seller,
            seq,
            sent_ms: entry.sent_ms,
            full_delivery_ms: (entry.receipts == self.sockets_per_seller)
                .then_some(entry.last_receipt_ms - entry.sent_ms),
        })
    }

    /// The seqs accepted for one seller, ascending.
    pub(crate) fn accepted_seqs_of(&self, seller: usize) -> Vec<i64> {
        let mut seqs: Vec<i64> =
            self.accepted.keys().filter(|(owner, _)| *owner == seller).map(|&(_, seq)| seq).collect();
        seqs.sort_unstable();
        seqs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_needs_every_socket_of_the_seller() {
        let mut l = Ledger::new(2, 2);
        l.accept(0, 1, 1000.0);
        l.receive(0, 1, Some(1000.0), 1005.0);
        assert_eq!(l.delivered(), 0);
        l.receive(2, 1, Some(1000.0), 1006.0); // seller 1's socket: not this notification
        assert_eq!(l.delivered(), 0);
        l.receive(1, 1, Some(1000.0), 1009.0);
        assert_eq!(l.delivered(), 1);
        assert!(l.is_all_delivered());
        let view = l.accepted_views().next().unwrap();
        assert_eq!(view.full_delivery_ms, Some(9.0));
    }

    #[test]
    fn a_receipt_before_the_publish_answer_still_counts() {
        let mut l = Ledger::new(1, 2);
        l.receive(0, 7, Some(10.0), 12.0);
        l.receive(1, 7, Some(10.0), 15.0);
        assert_eq!(l.delivered(), 0, "not accepted yet");
        l.accept(0, 7, 10.0);
        assert_eq!((l.accepted(), l.delivered()), (1, 1));
        assert_eq!(l.accepted_views().next().unwrap().full_delivery_ms, Some(5.0));
        assert_eq!(l.extra(), 0);
    }

    #[test]
    fn duplicates_are_counted_and_not_delivered_twice() {
        let mut l = Ledger::new(1, 1);
        l.accept(0, 1, 0.0);
        l.receive(0, 1, Some(0.0), 1.0);
        l.receive(0, 1, Some(0.0), 2.0);
        l.receive(0, 1, Some(0.0), 3.0);
        assert_eq!((l.delivered(), l.duplicates()), (1, 2));
        assert_eq!(l.latencies_ms(), &[1.0], "only first receipts have a latency");
    }

    #[test]
    fn missing_names_the_sockets_that_lack_it() {
        let mut l = Ledger::new(2, 2);
        for seq in 1..=3 {
            l.accept(0, seq, 0.0);
            l.accept(1, seq, 0.0);
        }
        for seq in 1..=3 {
            for socket in 0..4 {
                let skip = (socket == 1 && seq == 2) || (socket >= 2 && seq == 3);
                if !skip {
                    l.receive(socket, seq, Some(0.0), 1.0);
                }
            }
        }
        assert_eq!((l.accepted(), l.delivered()), (6, 4));
        assert_eq!(
            l.missing(),
            vec![
                Missing { seller: 0, seq: 2, sockets: vec![1] },
                Missing { seller: 1, seq: 3, sockets: vec![2, 3] },
            ]
        );
    }

    #[test]
    fn receipts_nobody_accepted_are_extra_not_missing() {
        let mut l = Ledger::new(1, 2);
        l.accept(0, 1, 0.0);
        l.receive(0, 1, Some(0.0), 1.0);
        l.receive(1, 1, Some(0.0), 1.0);
        // Seq 2 was stored by an attempt whose answer was lost.
        l.receive(0, 2, Some(0.0), 1.0);
        l.receive(1, 2, Some(0.0), 1.0);
        assert_eq!((l.extra(), l.missing().len(), l.delivered()), (1, 0, 1));
    }

    #[test]
    fn the_same_seq_accepted_twice_is_a_conflict() {
        let mut l = Ledger::new(1, 1);
        l.accept(0, 4, 0.0);
        l.accept(0, 4, 1.0);
        assert_eq!((l.accepted(), l.conflicts()), (1, 1));
    }

    #[test]
    fn accepted_seqs_are_per_seller_and_sorted() {
        let mut l = Ledger::new(2, 1);
        for seq in [5, 3, 4] {
            l.accept(1, seq, 0.0);
        }
        l.accept(0, 9, 0.0);
        assert_eq!(l.accepted_seqs_of(1), vec![3, 4, 5]);
        assert_eq!(l.accepted_seqs_of(0), vec![9]);
    }
}
