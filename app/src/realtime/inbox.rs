//! The notification side of the dashboard's connection: the store, the acks
//! that tell the server what it holds, and the `notifications:sync` requests
//! that fill its holes.
//!
//! The [`Session`](super::session::Session) owns the transport and hands the
//! inbox each Socket.IO packet about notifications: the namespace acceptance
//! ([`Inbox::on_connect`]), events ([`Inbox::on_event`]), answers to the
//! inbox's own requests ([`Inbox::on_answer`]), and the loss of the connection
//! ([`Inbox::on_disconnect`]). The page changes the store directly after its
//! REST calls ([`Inbox::update`], [`Inbox::mark_all_read`]): those changes
//! need no connection, so they never wait for one.
//!
//! Every method returns the [`Command`]s to carry out and does no IO itself:
//! no socket, no timer, no storage. Every path is tested natively.
//!
//! Invariants:
//! - a notification is acknowledged only once it is in the store, and the
//!   [`Command::Persist`] that saves it comes before its ack: an ack promises
//!   the server that the seller has it, even across a reload;
//! - duplicates are acknowledged too (the seller has them) but announced once;
//! - a jump in seq asks `notifications:sync` for everything after the store's
//!   `last_seq`; only one request is out at a time, only on an accepted
//!   connection, and it dies with that connection (the next connect asks
//!   again while the hole is there);
//! - seqs the store got without a push (REST history the store was anchored
//!   on) are acknowledged once, on the next connect;
//! - [`Inbox::revision`] changes whenever the store does, and only then, so
//!   the page redraws and saves only when something changed.

use super::protocol::{DEFAULT_NAMESPACE, SocketPacket};
use super::store::{Applied, NotificationStore};
use crate::types::{AckBody, DeltaPage, ErrorBody, Notification, SyncBody, events};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// How many notifications one `notifications:sync` asks for.
const SYNC_PAGE: i64 = 100;

/// Something the inbox needs done; the session relays it to the browser shell.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Send this packet on the current connection.
    Send(SocketPacket),
    /// Save the store ([`Inbox::store`]) to browser storage, now: before any
    /// ack that follows it.
    Persist,
    /// These notifications just arrived and were new: tell the seller.
    Announce(Vec<Notification>),
    /// Something worth a console line; nothing else to do.
    Warn(String),
}

/// The notifications this dashboard holds, and what the server must still
/// hear about them.
#[derive(Debug, Clone)]
pub struct Inbox {
    store: NotificationStore,
    /// Bumped on every change to the store, so a view redraws only then.
    revision: u64,
    /// True between the server's namespace acceptance and the loss of that
    /// connection: requests can only go out on one.
    connected: bool,
    /// The ack id of the `notifications:sync` awaiting its answer.
    sync_in_flight: Option<u64>,
    /// Ack ids for our own events; the server's ids are its own.
    next_ack_id: u64,
    /// Seqs in the store whose receipt the server may not know yet (loaded
    /// by other means than a push): acknowledged on the next connect.
    unacked: BTreeSet<i64>,
}

impl Inbox {
    /// An inbox holding `store`, not connected yet.
    pub fn new(store: NotificationStore) -> Self {
        Self {
            store,
            revision: 0,
            connected: false,
            sync_in_flight: None,
            next_ack_id: 0,
            unacked: BTreeSet::new(),
        }
    }

    /// Acknowledges these seqs on the next connect: notifications the store
    /// got by other means than a push (the REST history it was anchored on)
    /// that the server does not yet count as received.
    #[must_use]
    pub fn acknowledging(mut self, seqs: impl IntoIterator<Item = i64>) -> Self {
        self.unacked.extend(seqs);
        self
    }

    pub fn store(&self) -> &NotificationStore {
        &self.store
    }

    /// Changes whenever the store does.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The server accepted the namespace connection: acknowledge what it may
    /// not know we have, and ask for any hole the store still has.
    pub fn on_connect(&mut self) -> Vec<Command> {
        self.connected = true;
        let mut commands = Vec::new();
        if !self.unacked.is_empty() {
            let seqs = std::mem::take(&mut self.unacked).into_iter().collect();
            commands.push(emit(events::ACK, AckBody { seqs }, None));
        }
        if self.store.has_gap() {
            commands.extend(self.request_sync());
        }
        commands
    }

    /// The connection is gone: a request still out will never be answered.
    pub fn on_disconnect(&mut self) {
        self.connected = false;
        self.sync_in_flight = None;
    }

    /// A Socket.IO event from the server; `data` is `[name, ...args]`.
    pub fn on_event(&mut self, ack_id: Option<u64>, data: Value) -> Vec<Command> {
        let mut args = match data {
            Value::Array(args) => args.into_iter(),
            _ => return vec![Command::Warn("event without arguments".into())],
        };
        let name = args.next();
        match name.as_ref().and_then(Value::as_str) {
            Some(events::NOTIFICATION) => {
                let payload = args.next().unwrap_or(Value::Null);
                match serde_json::from_value::<Notification>(payload) {
                    Ok(notification) => self.on_notification(notification, ack_id),
                    Err(e) => vec![Command::Warn(format!("ignored a notification that does not parse: {e}"))],
                }
            }
            _ => vec![Command::Warn(format!("ignored event {name:?}"))],
        }
    }

    /// The server's answer to our request `ack_id`; only `notifications:sync`
    /// asks for one.
    pub fn on_answer(&mut self, ack_id: u64, data: Value) -> Vec<Command> {
        if self.sync_in_flight != Some(ack_id) {
            return vec![Command::Warn(format!("ignored an answer to unknown request {ack_id}"))];
        }
        self.sync_in_flight = None;
        let answer = match data {
            Value::Array(mut args) if !args.is_empty() => args.swap_remove(0),
            _ => Value::Null,
        };
        let page = match serde_json::from_value::<DeltaPage>(answer.clone()) {
            Ok(page) => page,
            Err(_) => {
                let why = serde_json::from_value::<ErrorBody>(answer)
                    .map_or_else(|e| format!("unreadable answer: {e}"), |body| body.message);
                return vec![Command::Warn(format!("sync refused: {why}"))];
            }
        };
        self.apply_page(page)
    }

    /// Newer copies of notifications the store holds, from the REST API (the
    /// answer to marking one read, a fresh page of history). Returns whether
    /// the store changed: if so, the caller saves it.
    #[must_use = "a changed store must be saved"]
    pub fn update(&mut self, rows: impl IntoIterator<Item = Notification>) -> bool {
        let mut changed = false;
        for notification in rows {
            changed |= self.store.update(notification);
        }
        self.changed(changed)
    }

    /// Marks every unread notification read at `at`, as read-all just did on
    /// the server. Returns whether the store changed: if so, the caller saves it.
    #[must_use = "a changed store must be saved"]
    pub fn mark_all_read(&mut self, at: &str) -> bool {
        let changed = self.store.mark_all_read(at) > 0;
        self.changed(changed)
    }

    fn changed(&mut self, changed: bool) -> bool {
        if changed {
            self.revision += 1;
        }
        changed
    }

    /// Store first, then acknowledge: an ack promises the seller has it.
    fn on_notification(&mut self, notification: Notification, ack_id: Option<u64>) -> Vec<Command> {
        let seq = notification.seq;
        let outcome = self.store.apply(notification.clone());
        let mut commands = Vec::with_capacity(4);
        if outcome.is_new() {
            commands.extend(self.stored(vec![notification]));
        }
        // Duplicates are acknowledged too: the seller has them.
        commands.push(match ack_id {
            Some(id) => Command::Send(SocketPacket::Ack {
                namespace: DEFAULT_NAMESPACE.into(),
                ack_id: id,
                data: json!([]),
            }),
            None => emit(events::ACK, AckBody { seqs: vec![seq] }, None),
        });
        if let Applied::Gap { .. } = outcome {
            commands.extend(self.request_sync());
        }
        commands
    }

    /// A `notifications:sync` answer: store it, acknowledge it in one event,
    /// and ask again while the server has more or the hole is not closed.
    fn apply_page(&mut self, page: DeltaPage) -> Vec<Command> {
        let before = self.store.last_seq();
        let mut fresh = Vec::new();
        let mut seqs = Vec::with_capacity(page.notifications.len());
        let got_rows = !page.notifications.is_empty();
        for notification in page.notifications {
            seqs.push(notification.seq);
            if self.store.apply(notification.clone()).is_new() {
                fresh.push(notification);
            }
        }
        let mut commands = Vec::new();
        if !fresh.is_empty() {
            commands.extend(self.stored(fresh));
        }
        if !seqs.is_empty() {
            commands.push(emit(events::ACK, AckBody { seqs }, None));
        }
        let progressed = self.store.last_seq() > before;
        if (page.has_more && got_rows) || (self.store.has_gap() && progressed) {
            commands.extend(self.request_sync());
        }
        commands
    }

    /// `fresh` just entered the store: save it (before any ack goes out) and
    /// tell the seller.
    fn stored(&mut self, fresh: Vec<Notification>) -> [Command; 2] {
        self.revision += 1;
        [Command::Persist, Command::Announce(fresh)]
    }

    /// Asks for everything after the store's `last_seq`, unless an ask is
    /// already out or there is no connection to ask on.
    fn request_sync(&mut self) -> Option<Command> {
        if self.sync_in_flight.is_some() || !self.connected {
            return None;
        }
        let id = self.next_ack_id;
        self.next_ack_id += 1;
        self.sync_in_flight = Some(id);
        let body = SyncBody { after: Some(self.store.last_seq()), limit: Some(SYNC_PAGE) };
        Some(emit(events::SYNC, body, Some(id)))
    }
}

/// CONTRACT: a client event is `[name, body]` on the default namespace.
fn emit(name: &str, body: impl Serialize, ack_id: Option<u64>) -> Command {
    Command::Send(SocketPacket::Event {
        namespace: DEFAULT_NAMESPACE.into(),
        ack_id,
        data: json!([name, body]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::fixtures::{notification, notification_json};

    fn connected(store: NotificationStore) -> Inbox {
        let mut inbox = Inbox::new(store);
        inbox.on_connect();
        inbox
    }

    fn push(inbox: &mut Inbox, seq: i64, ack_id: u64) -> Vec<Command> {
        inbox.on_event(Some(ack_id), json!([events::NOTIFICATION, notification_json(seq)]))
    }

    fn page(seqs: &[i64], last_seq: i64, has_more: bool) -> Value {
        let rows: Vec<Value> = seqs.iter().map(|&s| notification_json(s)).collect();
        json!([{"notifications": rows, "last_seq": last_seq, "has_more": has_more}])
    }

    /// The frames the session would send for these commands.
    fn sent(commands: &[Command]) -> Vec<String> {
        commands
            .iter()
            .filter_map(|c| if let Command::Send(p) = c { Some(p.to_frame()) } else { None })
            .collect()
    }

    fn announced(commands: &[Command]) -> Vec<i64> {
        commands
            .iter()
            .filter_map(|c| if let Command::Announce(n) = c { Some(n.iter().map(|n| n.seq)) } else { None })
            .flatten()
            .collect()
    }

    #[test]
    fn a_push_is_stored_then_persisted_then_acknowledged() {
        let mut inbox = connected(NotificationStore::default());
        let commands = push(&mut inbox, 1, 7);
        assert!(matches!(commands[0], Command::Persist));
        assert!(matches!(&commands[1], Command::Announce(n) if n.len() == 1 && n[0].seq == 1));
        assert_eq!(sent(&commands[2..]), vec!["437[]"]);
        assert_eq!(commands.len(), 3);
        assert_eq!(inbox.store().last_seq(), 1);
    }

    #[test]
    fn a_push_without_an_ack_id_is_acknowledged_by_event() {
        let mut inbox = connected(NotificationStore::default());
        let commands = inbox.on_event(None, json!([events::NOTIFICATION, notification_json(1)]));
        assert!(matches!(commands[0], Command::Persist));
        assert_eq!(sent(&commands), vec![r#"42["notifications:ack",{"seqs":[1]}]"#]);
    }

    #[test]
    fn a_duplicate_push_is_acknowledged_but_not_announced() {
        let mut inbox = connected(NotificationStore::default());
        push(&mut inbox, 1, 1);
        let revision = inbox.revision();
        let commands = push(&mut inbox, 1, 2);
        assert_eq!(sent(&commands), vec!["432[]"]);
        assert_eq!(commands.len(), 1);
        assert_eq!(inbox.revision(), revision);
        assert_eq!(inbox.store().len(), 1);
    }

    #[test]
    fn events_it_cannot_read_are_warned_about_and_change_nothing() {
        let mut inbox = connected(NotificationStore::default());
        for data in [json!([events::NOTIFICATION, {"seq": "x"}]), json!(["surprise"]), json!([]), json!({})] {
            let commands = inbox.on_event(Some(1), data.clone());
            assert!(matches!(commands.as_slice(), [Command::Warn(_)]), "{data}: {commands:?}");
        }
        assert!(inbox.store().is_empty());
        assert_eq!(inbox.revision(), 0);
    }

    #[test]
    fn a_gap_asks_for_the_missing_seqs_and_fills_them() {
        let mut inbox = connected(NotificationStore::default());
        push(&mut inbox, 1, 1);
        let commands = push(&mut inbox, 4, 2);
        assert_eq!(sent(&commands), vec!["432[]", r#"420["notifications:sync",{"after":1,"limit":100}]"#]);
        // A second jump while the first ask is out does not ask twice.
        assert_eq!(sent(&push(&mut inbox, 6, 3)), vec!["433[]"]);

        let commands = inbox.on_answer(0, page(&[2, 3, 4], 6, false));
        assert_eq!(announced(&commands), vec![2, 3], "4 was already here");
        // Acked in one event; 5 is still missing, so it asks again.
        assert_eq!(
            sent(&commands),
            vec![
                r#"42["notifications:ack",{"seqs":[2,3,4]}]"#,
                r#"421["notifications:sync",{"after":4,"limit":100}]"#
            ]
        );
        assert_eq!(inbox.store().last_seq(), 4);
    }

    #[test]
    fn a_sync_page_with_more_asks_for_the_next_page_and_stops_at_the_end() {
        let mut inbox = connected(NotificationStore::default());
        push(&mut inbox, 2, 1);
        let commands = inbox.on_answer(0, page(&[1], 3, true));
        assert!(sent(&commands).iter().any(|f| f.starts_with("421[\"notifications:sync\"")));
        let commands = inbox.on_answer(1, page(&[3], 3, false));
        assert!(!sent(&commands).iter().any(|f| f.contains("sync")));
        assert_eq!(inbox.store().last_seq(), 3);
    }

    #[test]
    fn a_refused_or_unknown_answer_is_only_warned_about() {
        let mut inbox = connected(NotificationStore::default());
        push(&mut inbox, 3, 1);
        let refused = json!([{"error": "validation_failed", "message": "after: must be 0 or more"}]);
        assert!(matches!(inbox.on_answer(0, refused).as_slice(), [Command::Warn(m)] if m.contains("after")));
        assert!(matches!(inbox.on_answer(9, json!([{}])).as_slice(), [Command::Warn(_)]));
    }

    #[test]
    fn a_sync_dies_with_its_connection_and_is_asked_again_on_the_next() {
        let mut inbox = connected(NotificationStore::default());
        push(&mut inbox, 1, 1);
        assert_eq!(sent(&push(&mut inbox, 3, 2)).len(), 2, "ack and sync");
        inbox.on_disconnect();
        // Its answer can no longer come.
        assert!(matches!(inbox.on_answer(0, page(&[2], 3, false)).as_slice(), [Command::Warn(_)]));
        assert_eq!(sent(&inbox.on_connect()), vec![r#"421["notifications:sync",{"after":1,"limit":100}]"#]);
    }

    #[test]
    fn history_loaded_without_a_push_is_acknowledged_on_connect() {
        let mut store = NotificationStore::default();
        let mut received = notification(1);
        received.received_at = Some("2026-12-02T00:00:01Z".into());
        let history = vec![notification(2), received];
        let unreceived_seqs: Vec<i64> =
            history.iter().filter(|n| n.received_at.is_none()).map(|n| n.seq).collect();
        store.anchor(history);
        let mut inbox = Inbox::new(store).acknowledging(unreceived_seqs);
        assert_eq!(sent(&inbox.on_connect()), vec![r#"42["notifications:ack",{"seqs":[2]}]"#]);
        // Only once.
        inbox.on_disconnect();
        assert!(inbox.on_connect().is_empty());
    }

    #[test]
    fn a_store_restored_from_storage_is_not_acknowledged_again() {
        let mut store = NotificationStore::default();
        store.apply(notification(1));
        let mut inbox = Inbox::new(store);
        assert!(inbox.on_connect().is_empty(), "its pushes were acknowledged when they arrived");
    }

    #[test]
    fn a_change_from_the_page_bumps_the_revision_and_asks_to_be_saved() {
        let mut inbox = Inbox::new(NotificationStore::default());
        push(&mut inbox, 1, 1);
        push(&mut inbox, 2, 2);
        let revision = inbox.revision();
        let mut read = notification(2);
        read.read_at = Some("2026-12-02T00:00:00Z".into());
        assert!(inbox.update([read]));
        assert!(inbox.revision() > revision);
        assert_eq!(inbox.store().unread(), 1);

        let revision = inbox.revision();
        assert!(inbox.mark_all_read("2026-12-02T00:00:00Z"));
        assert!(inbox.revision() > revision);
        assert_eq!(inbox.store().unread(), 0);
    }

    #[test]
    fn a_change_from_the_page_that_changes_nothing_keeps_the_revision() {
        let mut inbox = Inbox::new(NotificationStore::default());
        push(&mut inbox, 1, 1);
        let revision = inbox.revision();
        assert!(!inbox.update([notification(1), notification(9)]), "same copy, unknown seq");
        assert!(inbox.mark_all_read("2026-12-02T00:00:00Z"));
        assert!(!inbox.mark_all_read("2026-12-02T00:00:01Z"), "nothing left unread");
        assert_eq!(inbox.revision(), revision + 1);
    }
}
