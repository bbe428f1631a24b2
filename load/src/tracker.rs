//! The `last_seq` a socket presents when it reconnects.
//!
//! CONTRACT: "a client that has seen `seq = n` asks for `after = n` and misses
//! nothing". So the value sent must be the highest seq this socket holds
//! *contiguously* from where it started: a later seq received past a hole
//! (a push lost while a live one got through) must not move it, or the
//! replay would skip the hole for good. Seqs at or below the mark, and
//! repeats, change nothing.

use std::collections::BTreeSet;

/// Seqs received by one socket, reduced to "everything up to `contiguous`,
/// plus these above it".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeqTracker {
    /// Every seq up to and including this one has been received (or was
    /// already the seller's history when the run started).
    contiguous: i64,
    /// Received seqs above `contiguous + 1`: the far side of a hole.
    ahead: BTreeSet<i64>,
}

impl SeqTracker {
    /// Starts at the seller's newest seq when the run began: older history
    /// is not this run's business and is never replayed.
    pub(crate) fn starting_at(last_seq: i64) -> Self {
        Self { contiguous: last_seq.max(0), ahead: BTreeSet::new() }
    }

    /// What to send as `auth.last_seq`.
    pub(crate) fn contiguous(&self) -> i64 {
        self.contiguous
    }

    /// Records a received seq.
    pub(crate) fn observe(&mut self, seq: i64) {
        if seq <= self.contiguous {
            return;
        }
        if seq == self.contiguous + 1 {
            self.contiguous = seq;
            while self.ahead.remove(&(self.contiguous + 1)) {
                self.contiguous += 1;
            }
        } else {
            self.ahead.insert(seq);
        }
    }

    /// How many seqs wait beyond a hole (for diagnostics).
    #[cfg(test)]
    fn ahead(&self) -> usize {
        self.ahead.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_seqs_move_the_mark() {
        let mut t = SeqTracker::starting_at(10);
        for seq in 11..=15 {
            t.observe(seq);
        }
        assert_eq!(t.contiguous(), 15);
    }

    #[test]
    fn a_hole_holds_the_mark_until_it_is_filled() {
        let mut t = SeqTracker::starting_at(0);
        t.observe(1);
        t.observe(3);
        t.observe(4);
        assert_eq!(t.contiguous(), 1, "2 is missing: a reconnect must ask for everything after 1");
        assert_eq!(t.ahead(), 2);
        t.observe(2);
        assert_eq!(t.contiguous(), 4);
        assert_eq!(t.ahead(), 0);
    }

    #[test]
    fn duplicates_and_old_history_change_nothing() {
        let mut t = SeqTracker::starting_at(5);
        t.observe(3);
        t.observe(5);
        assert_eq!(t.contiguous(), 5);
        t.observe(6);
        t.observe(6);
        t.observe(8);
        t.observe(8);
        assert_eq!((t.contiguous(), t.ahead()), (6, 1));
        t.observe(7);
        assert_eq!((t.contiguous(), t.ahead()), (8, 0));
    }

    #[test]
    fn a_replay_of_everything_after_the_mark_closes_all_holes() {
        let mut t = SeqTracker::starting_at(0);
        for seq in [2, 5, 9] {
            t.observe(seq);
        }
        assert_eq!(t.contiguous(), 0);
        // What the server replays after `last_seq = 0`: all of it, again.
        for seq in 1..=9 {
            t.observe(seq);
        }
        assert_eq!((t.contiguous(), t.ahead()), (9, 0));
    }

    #[test]
    fn a_negative_start_is_treated_as_no_history() {
        assert_eq!(SeqTracker::starting_at(-3).contiguous(), 0);
    }
}
