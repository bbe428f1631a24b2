//! The dashboard's notification store: what the seller has received, keyed by
//! `seq`, and how far back it is complete.
//!
//! Invariants:
//! - applying a notification is idempotent by `seq`: a duplicate (a replay, a
//!   retry, a second tab's sync) changes nothing and reports itself as such;
//! - `last_seq` is the highest seq up to which nothing is missing, so
//!   `after = last_seq` (handshake replay, `notifications:sync`) asks for
//!   exactly what this store lacks. A notification beyond `last_seq + 1` is
//!   kept, and reported as a [`Applied::Gap`] so the inbox fills the hole;
//! - only the newest `capacity` notifications are kept
//!   (browser storage is small); `last_seq` never moves back when older ones
//!   are dropped.
//!
//! Pure data, no IO: the [`Inbox`](super::inbox::Inbox) that owns the store
//! asks for [`StoredState`] to be saved after every change.

use crate::types::{Notification, STORE_CAPACITY};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What applying one notification did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// New, and in order: `last_seq` moved forward.
    New,
    /// New, but seqs between `after` and it are missing: ask for them with
    /// `after`.
    Gap { after: i64 },
    /// Already here (or older than what the store keeps): nothing changed.
    Duplicate,
}

impl Applied {
    /// True when the notification was not already in the store.
    pub fn is_new(self) -> bool {
        !matches!(self, Self::Duplicate)
    }
}

/// What is kept in browser storage between page loads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredState {
    pub last_seq: i64,
    /// Oldest first.
    pub notifications: Vec<Notification>,
}

/// The notifications this dashboard knows, newest `capacity` of them.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationStore {
    by_seq: BTreeMap<i64, Notification>,
    last_seq: i64,
    capacity: usize,
}

impl Default for NotificationStore {
    fn default() -> Self {
        Self::new(STORE_CAPACITY)
    }
}

impl NotificationStore {
    /// An empty store that has seen nothing (`last_seq` 0).
    pub fn new(capacity: usize) -> Self {
        Self { by_seq: BTreeMap::new(), last_seq: 0, capacity: capacity.max(1) }
    }

    /// A store restored from browser storage. Entries that contradict the
    /// invariants (seqs below 1, beyond the capacity) are dropped, never
    /// trusted.
    pub fn restore(state: StoredState, capacity: usize) -> Self {
        let mut store = Self::new(capacity);
        store.last_seq = state.last_seq.max(0);
        for notification in state.notifications.into_iter().filter(|n| n.seq >= 1) {
            store.by_seq.insert(notification.seq, notification);
        }
        store.advance();
        store.trim();
        store
    }

    /// Starts an empty store from the newest page of history (the list API,
    /// newest first or in any order): everything up to the newest seq in it
    /// counts as seen, so the live connection asks only for what follows.
    /// Does nothing to a store that already holds something.
    pub fn anchor(&mut self, history: Vec<Notification>) {
        if self.last_seq > 0 || !self.by_seq.is_empty() {
            return;
        }
        // Seqs start at 1: anything below is not a notification of ours.
        let history: Vec<_> = history.into_iter().filter(|n| n.seq >= 1).collect();
        self.last_seq = history.iter().map(|n| n.seq).max().unwrap_or(0);
        for notification in history {
            self.by_seq.insert(notification.seq, notification);
        }
        self.trim();
    }

    /// What to save in browser storage.
    pub fn snapshot(&self) -> StoredState {
        StoredState { last_seq: self.last_seq, notifications: self.by_seq.values().cloned().collect() }
    }

    /// The highest seq with nothing missing up to it.
    pub fn last_seq(&self) -> i64 {
        self.last_seq
    }

    /// Applies one notification, idempotently by seq.
    pub fn apply(&mut self, notification: Notification) -> Applied {
        let seq = notification.seq;
        if seq < 1 || self.by_seq.contains_key(&seq) || seq <= self.oldest_kept_floor() {
            return Applied::Duplicate;
        }
        self.by_seq.insert(seq, notification);
        let outcome = if Some(seq) == self.last_seq.checked_add(1) || seq <= self.last_seq {
            Applied::New
        } else {
            Applied::Gap { after: self.last_seq }
        };
        self.advance();
        self.trim();
        match outcome {
            // Older than every row a full store keeps and not next in line:
            // trimmed at once, nothing changed, so it is old news (and a
            // replay of it must read the same).
            Applied::Gap { .. } if !self.by_seq.contains_key(&seq) => Applied::Duplicate,
            outcome => outcome,
        }
    }

    /// Replaces what the store has for this seq with a newer copy of the same
    /// row (e.g. after marking it read). Unknown seqs are ignored. Returns
    /// whether the held copy changed.
    pub fn update(&mut self, notification: Notification) -> bool {
        match self.by_seq.get_mut(&notification.seq) {
            Some(slot) if *slot != notification => {
                *slot = notification;
                true
            }
            _ => false,
        }
    }

    /// Marks every unread notification read at `at` (what read-all did on the
    /// server). Returns how many changed.
    pub fn mark_all_read(&mut self, at: &str) -> usize {
        let mut changed = 0;
        for notification in self.by_seq.values_mut().filter(|n| n.read_at.is_none()) {
            notification.read_at = Some(at.to_owned());
            changed += 1;
        }
        changed
    }

    /// Newest first, as the notification centre shows them.
    pub fn newest_first(&self) -> Vec<Notification> {
        self.by_seq.values().rev().cloned().collect()
    }

    pub fn get(&self, seq: i64) -> Option<&Notification> {
        self.by_seq.get(&seq)
    }

    pub fn len(&self) -> usize {
        self.by_seq.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_seq.is_empty()
    }

    pub fn unread(&self) -> usize {
        self.by_seq.values().filter(|n| n.read_at.is_none()).count()
    }

    /// True when some seq between `last_seq` and the newest held one is missing.
    pub fn has_gap(&self) -> bool {
        self.by_seq.last_key_value().is_some_and(|(&newest, _)| newest > self.last_seq)
    }

    /// Moves `last_seq` over every held seq that directly follows it.
    fn advance(&mut self) {
        while let Some(next) = self.last_seq.checked_add(1)
            && self.by_seq.contains_key(&next)
        {
            self.last_seq = next;
        }
    }

    /// Drops the oldest notifications beyond the capacity.
    fn trim(&mut self) {
        while self.by_seq.len() > self.capacity {
            self.by_seq.pop_first();
        }
    }

    /// Seqs at or below this were dropped by [`Self::trim`] (or never kept):
    /// a copy arriving now is old news, not a new notification.
    fn oldest_kept_floor(&self) -> i64 {
        if self.by_seq.len() < self.capacity {
            return 0;
        }
        // Held seqs are at least 1, so `- 1` cannot overflow.
        self.by_seq
            .first_key_value()
            .map_or(0, |(&oldest, _)| oldest.min(self.last_seq.saturating_add(1)) - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::fixtures::notification as n;

    fn seqs(store: &NotificationStore) -> Vec<i64> {
        store.newest_first().iter().map(|n| n.seq).collect()
    }

    #[test]
    fn in_order_notifications_advance_last_seq() {
        let mut store = NotificationStore::default();
        assert_eq!(store.apply(n(1)), Applied::New);
        assert_eq!(store.apply(n(2)), Applied::New);
        assert_eq!(store.last_seq(), 2);
        assert_eq!(seqs(&store), vec![2, 1]);
    }

    #[test]
    fn a_duplicate_changes_nothing() {
        let mut store = NotificationStore::default();
        store.apply(n(1));
        let mut copy = n(1);
        copy.title = "changed".into();
        assert_eq!(store.apply(copy), Applied::Duplicate);
        assert_eq!(store.len(), 1);
        assert_eq!(store.get(1).map(|n| n.title.as_str()), Some("Order 1"));
    }

    #[test]
    fn a_jump_in_seq_is_a_gap_until_it_is_filled() {
        let mut store = NotificationStore::default();
        store.apply(n(1));
        assert_eq!(store.apply(n(4)), Applied::Gap { after: 1 });
        assert!(store.has_gap());
        assert_eq!(store.last_seq(), 1);
        assert_eq!(store.apply(n(2)), Applied::New);
        assert_eq!(store.last_seq(), 2);
        assert_eq!(store.apply(n(3)), Applied::New);
        assert_eq!(store.last_seq(), 4, "the held seq 4 joins once 3 arrives");
        assert!(!store.has_gap());
        assert_eq!(seqs(&store), vec![4, 3, 2, 1]);
    }

    #[test]
    fn invalid_seqs_are_ignored() {
        let mut store = NotificationStore::default();
        assert_eq!(store.apply(n(0)), Applied::Duplicate);
        assert_eq!(store.apply(n(-3)), Applied::Duplicate);
        assert!(store.is_empty());
    }

    #[test]
    fn only_the_newest_are_kept_and_dropped_ones_stay_old_news() {
        let mut store = NotificationStore::new(3);
        for seq in 1..=5 {
            assert_eq!(store.apply(n(seq)), Applied::New);
        }
        assert_eq!(seqs(&store), vec![5, 4, 3]);
        assert_eq!(store.last_seq(), 5);
        assert_eq!(store.apply(n(1)), Applied::Duplicate, "a replay of a dropped seq is not new");
        assert_eq!(seqs(&store), vec![5, 4, 3]);
        assert_eq!(store.apply(n(6)), Applied::New);
        assert_eq!(seqs(&store), vec![6, 5, 4]);
    }

    #[test]
    fn anchoring_counts_the_history_page_as_seen() {
        let mut store = NotificationStore::default();
        store.anchor(vec![n(9), n(8), n(7)]);
        assert_eq!(store.last_seq(), 9);
        assert_eq!(seqs(&store), vec![9, 8, 7]);
        assert_eq!(store.apply(n(10)), Applied::New);
        // A second anchor (another page load's fetch) cannot rewind it.
        store.anchor(vec![n(3)]);
        assert_eq!(store.last_seq(), 10);
    }

    #[test]
    fn anchoring_on_no_history_starts_from_zero() {
        let mut store = NotificationStore::default();
        store.anchor(Vec::new());
        assert_eq!(store.last_seq(), 0);
        assert_eq!(store.apply(n(1)), Applied::New);
    }

    #[test]
    fn a_snapshot_restores_to_the_same_store() {
        let mut store = NotificationStore::new(10);
        store.apply(n(1));
        store.apply(n(2));
        store.apply(n(5));
        let json = serde_json::to_string(&store.snapshot()).unwrap();
        let restored = NotificationStore::restore(serde_json::from_str(&json).unwrap(), 10);
        assert_eq!(restored, store);
        assert_eq!(restored.last_seq(), 2);
        assert!(restored.has_gap());
    }

    #[test]
    fn read_state_is_counted_and_updated() {
        let mut store = NotificationStore::default();
        for seq in 1..=3 {
            store.apply(n(seq));
        }
        assert_eq!(store.unread(), 3);
        let mut read = n(2);
        read.read_at = Some("2026-12-02T01:00:00Z".into());
        assert!(store.update(read.clone()));
        assert_eq!(store.unread(), 2);
        assert!(!store.update(read), "the same copy again changes nothing");
        assert!(!store.update(n(99)));
        assert_eq!(store.len(), 3, "an unknown seq is not added by update");
        assert_eq!(store.mark_all_read("2026-12-02T02:00:00Z"), 2);
        assert_eq!(store.unread(), 0);
    }

    // Found reading the store for the fuzz targets (`fuzz/`); each was a
    // panic (overflow checks on) or a silent loss in the release WASM.

    #[test]
    fn a_restored_state_with_extreme_or_invalid_seqs_stays_usable() {
        let stored = StoredState { last_seq: i64::MAX, notifications: vec![n(i64::MAX), n(i64::MIN), n(0)] };
        let mut store = NotificationStore::restore(stored, 2);
        assert_eq!(store.last_seq(), i64::MAX, "no overflow moving past the highest seq");
        assert_eq!(seqs(&store), [i64::MAX], "seqs below 1 are dropped");
        assert_eq!(store.apply(n(7)), Applied::New, "an old seq below last_seq is still kept");

        // A full store whose oldest row was i64::MIN took every push for a duplicate.
        let stored = StoredState { last_seq: 3, notifications: vec![n(i64::MIN), n(2), n(3)] };
        let mut store = NotificationStore::restore(stored, 2);
        assert_eq!(store.apply(n(4)), Applied::New);
    }

    #[test]
    fn anchoring_on_invalid_seqs_never_moves_last_seq_back() {
        let mut store = NotificationStore::new(10);
        store.anchor(vec![n(-5), n(0)]);
        assert_eq!(store.last_seq(), 0);
        assert!(store.is_empty());
        assert_eq!(store.apply(n(1)), Applied::New);
    }

    #[test]
    fn a_gap_older_than_a_full_store_keeps_is_old_news_every_time() {
        let mut store = NotificationStore::new(2);
        for seq in [10, 11] {
            store.apply(n(seq));
        }
        assert_eq!(store.last_seq(), 0, "1 to 9 are missing");
        // 5 is below every kept row: trimmed at once, so not new, and a replay agrees.
        assert_eq!(store.apply(n(5)), Applied::Duplicate);
        assert_eq!(store.apply(n(5)), Applied::Duplicate);
        assert_eq!(seqs(&store), [11, 10]);
        // In order, the hole still closes: last_seq moves even for rows trimmed at once.
        assert_eq!(store.apply(n(1)), Applied::New);
        assert_eq!(store.last_seq(), 1);
    }
}
