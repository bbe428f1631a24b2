//! The dashboard's notification store (`app::realtime::store`): random runs of
//! apply / update / anchor / mark-all-read / reload on a tiny store, and
//! restores from arbitrary JSON (what browser storage may hold after an old
//! version, a bug or a user's edit).
//!
//! Properties, after every step: at most `capacity` rows, one per seq, each
//! under its own seq; nothing held right after `last_seq` (it moved over all
//! it could); `last_seq` never moves back (except the case noted at
//! `Op::Anchor`); plus what each operation promises, checked at each.
#![no_main]

use app::realtime::store::{Applied, NotificationStore, StoredState};
use app::types::{Notification, STORE_CAPACITY};
use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

fuzz_target!(|data: &[u8]| {
    // The same bytes twice: as a stored state (JSON seeds) and as a script.
    restore_json(data);
    if let Ok(script) = Script::arbitrary_take_rest(Unstructured::new(data)) {
        run(script);
    }
});

/// A small notification: seqs in -3..=20, so they collide, hit 0 and the
/// invalid negatives, and straddle the tiny capacities.
#[derive(Arbitrary, Debug, Clone)]
struct Note {
    seq: u8,
    /// Distinct copies of one seq (as after marking it read), for `update`.
    copy: u8,
    read: bool,
    order_id: Option<i16>,
}

impl Note {
    fn build(&self) -> Notification {
        let mut n = notification(i64::from(self.seq % 24) - 3);
        n.title = format!("{} (copy {})", n.title, self.copy % 3);
        n.read_at = self.read.then(|| "2026-01-02T00:00:00Z".to_owned());
        if let Some(id) = self.order_id {
            n.data.insert("order_id".into(), Value::from(id));
        }
        n
    }
}

fn notification(seq: i64) -> Notification {
    Notification {
        id: seq,
        seq,
        kind: "order.created".into(),
        title: format!("Order {seq}"),
        body: "1 item".into(),
        data: Map::new(),
        created_at: "2026-01-01T00:00:00Z".into(),
        sent_at: None,
        received_at: None,
        read_at: None,
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Apply(Note),
    /// A replay: the same push twice in a row.
    ApplyTwice(Note),
    Update(Note),
    Anchor(Vec<Note>),
    MarkAllRead,
    /// A page reload: save to storage as JSON, restore.
    Reload,
}

#[derive(Arbitrary, Debug)]
struct Script {
    /// 0..=7; 0 shows that the store keeps at least one.
    capacity: u8,
    /// Start from a restored state instead of an empty store.
    restored: Option<(i8, Vec<Note>)>,
    ops: Vec<Op>,
}

fn run(script: Script) {
    let capacity = usize::from(script.capacity % 8);
    let mut store = match script.restored {
        None => NotificationStore::new(capacity),
        Some((last_seq, notes)) => restore(
            StoredState { last_seq: last_seq.into(), notifications: notes.iter().map(Note::build).collect() },
            capacity,
        ),
    };
    check(&store, capacity);
    for op in script.ops {
        let before = store.clone();
        match op {
            Op::Apply(note) => {
                apply(&mut store, note.build(), capacity);
            }
            Op::ApplyTwice(note) => {
                let n = note.build();
                apply(&mut store, n.clone(), capacity);
                let once = store.clone();
                let again = apply(&mut store, n.clone(), capacity);
                // A replay changes nothing...
                assert_eq!(store, once, "a replay changed the store");
                // ...and says so while the store holds the seq. (When the
                // first copy was trimmed away at once, the replay is reported
                // new again: see the report on `Applied::Gap`.)
                if once.get(n.seq).is_some() {
                    assert_eq!(again, Applied::Duplicate);
                }
            }
            Op::Update(note) => {
                let n = note.build();
                let changed = store.update(n.clone());
                // Only a held seq with a different copy changes...
                assert_eq!(changed, before.get(n.seq).is_some_and(|held| *held != n));
                if changed {
                    assert_eq!(store.get(n.seq), Some(&n));
                    assert_eq!(seqs(&store), seqs(&before), "update never adds nor drops");
                    assert_eq!(store.last_seq(), before.last_seq());
                } else {
                    assert_eq!(store, before);
                }
            }
            Op::Anchor(notes) => {
                let history: Vec<Notification> = notes.iter().map(Note::build).collect();
                let pristine = before.last_seq() <= 0 && before.is_empty();
                store.anchor(history.clone());
                if pristine {
                    // Everything up to the page's newest valid seq counts as
                    // seen, and the newest `capacity` valid rows are kept
                    // (seqs below 1 are dropped, so last_seq never goes below 0).
                    let newest_valid = history.iter().map(|n| n.seq).filter(|s| *s >= 1).max();
                    assert_eq!(store.last_seq(), newest_valid.unwrap_or(0));
                    assert_eq!(store.newest_first().iter().collect::<Vec<_>>(), newest(&history, capacity));
                } else {
                    assert_eq!(store, before, "a second anchor changes nothing");
                }
            }
            Op::MarkAllRead => {
                let changed = store.mark_all_read("2026-01-03T00:00:00Z");
                assert_eq!(changed, before.unread());
                assert_eq!(store.unread(), 0);
                assert_eq!(seqs(&store), seqs(&before));
                assert_eq!(store.last_seq(), before.last_seq());
            }
            Op::Reload => {
                let json = serde_json::to_string(&store.snapshot()).expect("a snapshot serialises");
                let state = serde_json::from_str(&json).expect("a snapshot parses back");
                store = restore(state, capacity);
                // A saved store comes back as it was (`restore` clamps a
                // negative `last_seq` to 0, which only `anchor` can set).
                if before.last_seq() >= 0 {
                    assert_eq!(store, before, "a reload changed the store");
                }
            }
        }
        check(&store, capacity);
        assert!(store.last_seq() >= before.last_seq(), "last_seq moved back");
    }
}

/// Applies `n` and checks the outcome against what `apply` promises.
fn apply(store: &mut NotificationStore, n: Notification, capacity: usize) -> Applied {
    let before = store.clone();
    let seq = n.seq;
    let outcome = store.apply(n.clone());
    match outcome {
        Applied::Duplicate => assert_eq!(*store, before, "a duplicate changed the store"),
        // In order (seq == last_seq + 1, then last_seq moves over it and
        // whatever held seqs follow), or a late copy at or below last_seq.
        Applied::New => assert!(store.last_seq() >= seq),
        // A jump: `after` is the old last_seq, which cannot move (the seq
        // right after it is still missing); the row is kept (one older than
        // a full store keeps is a duplicate instead).
        Applied::Gap { after } => {
            assert_eq!(after, before.last_seq());
            assert!(i128::from(seq) > i128::from(after) + 1);
            assert_eq!(store.last_seq(), before.last_seq());
            assert_eq!(store.get(seq), Some(&n), "a reported gap is held");
        }
    }
    if outcome.is_new() {
        assert!(seq >= 1 && before.get(seq).is_none(), "only valid, unseen seqs are new");
        assert_eq!(store.len(), (before.len() + 1).min(capacity.max(1)));
        match store.get(seq) {
            Some(held) => assert_eq!(held, &n),
            // Gone at once only as the oldest row of a full store.
            None => assert!(
                store.len() == capacity.max(1) && store.newest_first().last().is_some_and(|o| o.seq > seq)
            ),
        }
    }
    assert!(store.last_seq() >= before.last_seq());
    check(store, capacity);
    outcome
}

/// Restores `state` and checks the result against what `restore` promises.
fn restore(state: StoredState, capacity: usize) -> NotificationStore {
    let store = NotificationStore::restore(state.clone(), capacity);
    check(&store, capacity);
    // A later copy of a seq replaces an earlier one; the newest `capacity`
    // seqs are kept.
    assert_eq!(store.newest_first().iter().collect::<Vec<_>>(), newest(&state.notifications, capacity));
    // last_seq: the stored one (never below 0), moved over every stored seq
    // that directly follows it, including ones then trimmed away.
    let stored: BTreeSet<i64> = state.notifications.iter().map(|n| n.seq).collect();
    let mut last_seq = state.last_seq.max(0);
    while let Some(next) = last_seq.checked_add(1).filter(|next| stored.contains(next)) {
        last_seq = next;
    }
    assert_eq!(store.last_seq(), last_seq);
    // Saving and restoring again changes nothing.
    assert_eq!(NotificationStore::restore(store.snapshot(), capacity), store);
    store
}

/// Arbitrary bytes as browser storage: if they parse, restoring must not
/// panic, must give a valid store, and live pushes must still work on it.
fn restore_json(data: &[u8]) {
    let Ok(state) = serde_json::from_slice::<StoredState>(data) else { return };
    for capacity in [1, 3, STORE_CAPACITY] {
        let mut store = restore(state.clone(), capacity);
        // The push right after last_seq is always new: it is valid (last_seq
        // is at least 0), not held (see `check`), and above the floor below
        // which pushes count as old news (that floor is at most last_seq).
        if let Some(next) = store.last_seq().checked_add(1) {
            assert_eq!(apply(&mut store, notification(next), capacity), Applied::New);
        }
        // A late push and one beyond a hole.
        for seq in [1, store.last_seq().saturating_add(3)] {
            apply(&mut store, notification(seq), capacity);
        }
    }
}

/// The invariants every store keeps.
fn check(store: &NotificationStore, capacity: usize) {
    let held = store.newest_first();
    assert!(held.len() <= capacity.max(1), "more than capacity");
    assert_eq!((held.len(), held.is_empty()), (store.len(), store.is_empty()));
    assert!(held.windows(2).all(|w| w[0].seq > w[1].seq), "not newest first, or a seq twice");
    assert!(held.iter().all(|n| n.seq >= 1) && store.last_seq() >= 0, "a seq below 1");
    for n in &held {
        assert_eq!(store.get(n.seq), Some(n), "a row under another seq");
    }
    // `last_seq` moved over everything it could.
    if let Some(next) = store.last_seq().checked_add(1) {
        assert!(store.get(next).is_none(), "the seq after last_seq is held");
    }
    assert_eq!(store.has_gap(), held.first().is_some_and(|n| n.seq > store.last_seq()));
    assert_eq!(store.unread(), held.iter().filter(|n| n.read_at.is_none()).count());
    // The snapshot is the same rows, oldest first.
    let snapshot = store.snapshot();
    assert_eq!(snapshot.last_seq, store.last_seq());
    assert!(snapshot.notifications.iter().eq(held.iter().rev()));
}

/// The newest `capacity` distinct seqs of `notifications`, newest first, a
/// later copy of a seq winning.
fn newest(notifications: &[Notification], capacity: usize) -> Vec<&Notification> {
    // Seqs below 1 are not notifications of ours: dropped.
    let by_seq: BTreeMap<i64, &Notification> =
        notifications.iter().filter(|n| n.seq >= 1).map(|n| (n.seq, n)).collect();
    by_seq.into_values().rev().take(capacity.max(1)).collect()
}

fn seqs(store: &NotificationStore) -> Vec<i64> {
    store.newest_first().iter().map(|n| n.seq).collect()
}
