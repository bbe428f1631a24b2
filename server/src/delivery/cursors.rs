//! What each socket of this instance has been sent, so that what a live
//! socket missed still reaches it.
//!
//! Acknowledgement is per notification, delivery is per socket: the first
//! ack, from any of a seller's sockets, settles a notification and ends its
//! retries. A socket that missed the push (Redis was down, so another
//! instance's publish never reached this one; this instance was cut off from
//! Redis; its buffer stayed full past the ack window) would never get it, and
//! a client reconnecting with the highest seq it saw would skip it too.
//!
//! So each socket has a cursor: every seq up to `through` was sent to it (or
//! its client had it when it connected), and `ahead` holds what was sent
//! above a hole. Delivery compares the cursors with the store's newest seqs
//! every second or so; a socket that still lacks seqs it was seen lacking a
//! grace period earlier, and has nothing on its way to it, is sent them from
//! the store ([`Cursors::lagging`]). A push on its way (relayed from another
//! instance, a task not yet run) arrives well within the grace period, so a
//! healthy socket is never sent anything twice.
//!
//! Forgetting a mark is always safe: the seq is sent again (a duplicate the
//! client drops by seq), never lost. A socket whose connect catch-up failed
//! (the database was away) is owed one: it is tried again until it settles
//! ([`Cursors::owed_catch_ups`]).
//!
//! Every send to a socket holds it ([`Held`], released on drop, whatever
//! ends the send): a socket with a send under way is never judged lagging.

use super::fanout::SocketId;
use crate::domain::notification::{SellerId, Seq};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Seqs remembered above a hole, at most: past this the highest are
/// forgotten (and sent again once the hole is filled).
const AHEAD_MAX: usize = 4096;

#[derive(Debug)]
struct Cursor {
    seller: SellerId,
    /// The client's `last_seq` when it connected, for a catch-up owed.
    last_seq: Option<Seq>,
    /// Every seq up to this one was sent; `None` until the connect catch-up
    /// has settled where the client stands (such a socket is left alone).
    through: Option<Seq>,
    /// Seqs above `through + 1` sent already.
    ahead: BTreeSet<Seq>,
    /// The seller's newest seq when this socket was first seen short of it,
    /// and when.
    short_of: Option<(Seq, Instant)>,
    /// Sends to it still under way (a catch-up, emits waiting for room in
    /// its buffer): what it lacks may be among them.
    busy: usize,
}

impl Cursor {
    fn sent(&mut self, seq: Seq) {
        let Some(through) = self.through else {
            self.remember_ahead(seq);
            return;
        };
        if seq <= through {
            return;
        }
        if seq.0 == through.0.saturating_add(1) {
            self.through = Some(seq);
            self.absorb_ahead();
        } else {
            self.remember_ahead(seq);
        }
    }

    fn remember_ahead(&mut self, seq: Seq) {
        self.ahead.insert(seq);
        if self.ahead.len() > AHEAD_MAX {
            self.ahead.pop_last();
        }
    }

    /// Moves `through` up to `upto` (everything up to it was sent), then
    /// over whatever `ahead` continues it with.
    fn sent_through(&mut self, upto: Seq) {
        self.through = Some(self.through.map_or(upto, |through| through.max(upto)));
        self.absorb_ahead();
    }

    fn absorb_ahead(&mut self) {
        let Some(mut through) = self.through else { return };
        while let Some(&first) = self.ahead.first() {
            if first <= through {
                self.ahead.pop_first();
            } else if first.0 == through.0.saturating_add(1) {
                through = first;
                self.ahead.pop_first();
            } else {
                break;
            }
        }
        self.through = Some(through);
    }

    fn lacks(&self, seq: Seq) -> bool {
        self.through.is_some_and(|through| seq > through) && !self.ahead.contains(&seq)
    }

    fn was_sent(&self, seq: Seq) -> bool {
        self.through.is_some_and(|through| seq <= through) || self.ahead.contains(&seq)
    }
}

/// A socket that has lacked seqs for longer than the grace period: send it
/// what it lacks in `after < seq <= upto`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Lagging {
    pub(super) socket: SocketId,
    pub(super) seller: SellerId,
    pub(super) after: Seq,
    pub(super) upto: Seq,
}

/// A send to one socket under way: the socket is left alone until this is
/// dropped.
#[derive(Debug)]
pub(super) struct Held {
    cursors: Arc<Cursors>,
    socket: SocketId,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(cursor) = self.cursors.lock().get_mut(&self.socket) {
            cursor.busy = cursor.busy.saturating_sub(1);
        }
    }
}

/// Every socket of this instance's cursor.
#[derive(Debug, Default)]
pub(super) struct Cursors {
    sockets: Mutex<HashMap<SocketId, Cursor>>,
}

impl Cursors {
    /// A socket of `seller` connected, its client having everything up to
    /// `last_seq` when it gave one. It is held for its connect catch-up,
    /// which adopts the hold ([`Cursors::adopt`]).
    pub(super) fn join(&self, socket: SocketId, seller: SellerId, last_seq: Option<Seq>) {
        let cursor =
            Cursor { seller, last_seq, through: None, ahead: BTreeSet::new(), short_of: None, busy: 1 };
        self.lock().insert(socket, cursor);
    }

    pub(super) fn leave(&self, socket: &SocketId) {
        self.lock().remove(socket);
    }

    /// `seq` was emitted to `socket`.
    pub(super) fn sent(&self, socket: &SocketId, seq: Seq) {
        if let Some(cursor) = self.lock().get_mut(socket) {
            cursor.sent(seq);
        }
    }

    /// Whether `socket` is known to lack `seq` (false for a socket whose
    /// place is not settled yet, or not tracked).
    pub(super) fn lacks(&self, socket: &SocketId, seq: Seq) -> bool {
        self.lock().get(socket).is_some_and(|cursor| cursor.lacks(seq))
    }

    /// Whether `seq` was sent to `socket` (false for a socket not tracked).
    pub(super) fn was_sent(&self, socket: &SocketId, seq: Seq) -> bool {
        self.lock().get(socket).is_some_and(|cursor| cursor.was_sent(seq))
    }

    /// A send to `socket` begins: it is left alone while the guard lives.
    pub(super) fn hold(self: &Arc<Self>, socket: &SocketId) -> Held {
        if let Some(cursor) = self.lock().get_mut(socket) {
            cursor.busy += 1;
        }
        self.adopt(socket)
    }

    /// Takes over a hold already counted (by [`Cursors::join`],
    /// [`Cursors::lagging`] or [`Cursors::owed_catch_ups`]).
    pub(super) fn adopt(self: &Arc<Self>, socket: &SocketId) -> Held {
        Held { cursors: Arc::clone(self), socket: socket.clone() }
    }

    /// A send to `socket` sent everything it lacked up to `upto` (the
    /// connect catch-up, or a [`Lagging`] one).
    pub(super) fn caught_up(&self, socket: &SocketId, upto: Seq) {
        if let Some(cursor) = self.lock().get_mut(socket) {
            cursor.sent_through(upto);
        }
    }

    /// Sockets whose connect catch-up failed and is not under way again:
    /// each with its seller and `last_seq`, held for the new attempt.
    pub(super) fn owed_catch_ups(&self) -> Vec<(SocketId, SellerId, Option<Seq>)> {
        let mut owed = Vec::new();
        for (socket, cursor) in self.lock().iter_mut() {
            if cursor.through.is_none() && cursor.busy == 0 {
                cursor.busy += 1;
                owed.push((socket.clone(), cursor.seller, cursor.last_seq));
            }
        }
        owed
    }

    /// The sellers of the sockets whose place is settled, each once.
    pub(super) fn sellers(&self) -> Vec<SellerId> {
        let mut sellers: Vec<SellerId> =
            self.lock().values().filter(|c| c.through.is_some()).map(|c| c.seller).collect();
        sellers.sort_unstable();
        sellers.dedup();
        sellers
    }

    /// Compares every settled socket with its seller's `newest` seq (from
    /// the store): a socket short of it is noted with the time; one still
    /// short of what it was noted short of `grace` ago, with no send under
    /// way, is returned (and held until its catch-up ends).
    pub(super) fn lagging(
        &self,
        now: Instant,
        grace: Duration,
        newest: &HashMap<SellerId, Seq>,
    ) -> Vec<Lagging> {
        let mut lagging = Vec::new();
        for (socket, cursor) in self.lock().iter_mut() {
            let (Some(through), Some(&newest)) = (cursor.through, newest.get(&cursor.seller)) else {
                continue;
            };
            if through >= newest {
                cursor.short_of = None;
                continue;
            }
            match cursor.short_of {
                Some((mark, since)) if through < mark => {
                    if cursor.busy == 0 && now.duration_since(since) >= grace {
                        lagging.push(Lagging {
                            socket: socket.clone(),
                            seller: cursor.seller,
                            after: through,
                            upto: mark,
                        });
                        cursor.busy += 1;
                        cursor.short_of = None;
                    }
                }
                _ => cursor.short_of = Some((newest, now)),
            }
        }
        lagging
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketId, Cursor>> {
        // Poisoned only if a holder panicked mid-update: the map is still usable.
        self.sockets.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANA: SellerId = SellerId(1);
    const GRACE: Duration = Duration::from_secs(2);

    fn socket(id: &str) -> SocketId {
        SocketId(id.to_owned())
    }

    fn newest(seq: i64) -> HashMap<SellerId, Seq> {
        HashMap::from([(ANA, Seq(seq))])
    }

    /// A socket of ANA whose connect catch-up settled it at `through`.
    fn settled(through: i64) -> Arc<Cursors> {
        let cursors = Arc::new(Cursors::default());
        cursors.join(socket("a"), ANA, None);
        let catch_up = cursors.adopt(&socket("a"));
        cursors.caught_up(&socket("a"), Seq(through));
        drop(catch_up);
        cursors
    }

    #[test]
    fn sends_in_any_order_move_the_cursor_over_what_is_contiguous() {
        let cursors = settled(3);
        for seq in [6, 4, 4, 8] {
            cursors.sent(&socket("a"), Seq(seq));
        }
        assert!(!cursors.lacks(&socket("a"), Seq(4)));
        assert!(cursors.lacks(&socket("a"), Seq(5)));
        assert!(!cursors.lacks(&socket("a"), Seq(6)));
        assert!(cursors.lacks(&socket("a"), Seq(7)));
        cursors.sent(&socket("a"), Seq(5));
        cursors.sent(&socket("a"), Seq(7));
        assert!(!cursors.lacks(&socket("a"), Seq(7)));
        assert!(cursors.lacks(&socket("a"), Seq(9)));
    }

    #[test]
    fn pushes_during_the_connect_catch_up_count_once_it_settles() {
        let cursors = Arc::new(Cursors::default());
        cursors.join(socket("a"), ANA, Some(Seq(3)));
        let catch_up = cursors.adopt(&socket("a"));
        cursors.sent(&socket("a"), Seq(11));
        assert!(cursors.was_sent(&socket("a"), Seq(11)), "the catch-up must not send it again");
        assert!(!cursors.was_sent(&socket("a"), Seq(4)));
        assert!(!cursors.lacks(&socket("a"), Seq(12)), "not settled: nothing is known to be lacking");
        assert!(cursors.sellers().is_empty());
        assert!(cursors.owed_catch_ups().is_empty(), "its catch-up is under way");
        cursors.caught_up(&socket("a"), Seq(10));
        drop(catch_up);
        assert!(!cursors.lacks(&socket("a"), Seq(11)));
        assert!(cursors.lacks(&socket("a"), Seq(12)));
        assert_eq!(cursors.sellers(), [ANA]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_socket_is_lagging_only_when_still_short_after_the_grace_period() {
        let cursors = settled(5);
        let start = Instant::now();
        assert!(cursors.lagging(start, GRACE, &newest(7)).is_empty(), "first seen short: noted");
        assert!(cursors.lagging(start + GRACE / 2, GRACE, &newest(9)).is_empty(), "within the grace");
        let lagging = cursors.lagging(start + GRACE, GRACE, &newest(9));
        assert_eq!(
            lagging,
            [Lagging { socket: socket("a"), seller: ANA, after: Seq(5), upto: Seq(7) }],
            "what it lacked when first noted, not what was stored since"
        );
        assert!(cursors.lagging(start + GRACE * 3, GRACE, &newest(9)).is_empty(), "held while sent to");
        cursors.caught_up(&socket("a"), Seq(7));
        assert!(!cursors.lacks(&socket("a"), Seq(7)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_socket_that_keeps_up_is_never_lagging() {
        let cursors = settled(5);
        let start = Instant::now();
        for tick in 0..5 {
            let newest_seq = 6 + tick;
            let now = start + GRACE * u32::try_from(tick).unwrap();
            assert!(cursors.lagging(now, GRACE, &newest(newest_seq)).is_empty(), "tick {tick}");
            // The push of what was newest arrives before the next look.
            cursors.sent(&socket("a"), Seq(newest_seq));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_socket_with_a_send_under_way_waits_for_it() {
        let cursors = settled(5);
        let start = Instant::now();
        let emit = cursors.hold(&socket("a"));
        cursors.lagging(start, GRACE, &newest(6));
        assert!(cursors.lagging(start + GRACE, GRACE, &newest(6)).is_empty(), "an emit waits for room");
        drop(emit);
        assert_eq!(cursors.lagging(start + GRACE, GRACE, &newest(6)).len(), 1, "it gave up: send again");
    }

    #[test]
    fn a_failed_connect_catch_up_is_owed_until_one_settles() {
        let cursors = Arc::new(Cursors::default());
        cursors.join(socket("a"), ANA, Some(Seq(3)));
        drop(cursors.adopt(&socket("a")));
        assert_eq!(cursors.owed_catch_ups(), [(socket("a"), ANA, Some(Seq(3)))]);
        assert!(cursors.owed_catch_ups().is_empty(), "held for the new attempt");
        let again = cursors.adopt(&socket("a"));
        cursors.caught_up(&socket("a"), Seq(8));
        drop(again);
        assert!(cursors.owed_catch_ups().is_empty());
        assert_eq!(cursors.sellers(), [ANA]);
    }

    #[test]
    fn far_above_a_hole_the_highest_marks_are_forgotten() {
        let cursors = settled(0);
        let highest = i64::try_from(AHEAD_MAX).unwrap() + 10;
        for seq in 2..=highest {
            cursors.sent(&socket("a"), Seq(seq));
        }
        assert!(!cursors.lacks(&socket("a"), Seq(2)));
        assert!(cursors.lacks(&socket("a"), Seq(highest)), "forgotten: sent again, a duplicate at worst");
        cursors.sent(&socket("a"), Seq(1));
        assert!(!cursors.lacks(&socket("a"), Seq(100)));
    }

    #[test]
    fn a_socket_that_left_is_forgotten() {
        let cursors = settled(1);
        cursors.leave(&socket("a"));
        assert!(cursors.sellers().is_empty());
        cursors.sent(&socket("a"), Seq(2));
        assert!(!cursors.lacks(&socket("a"), Seq(3)));
    }
}
