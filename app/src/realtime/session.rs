//! The connection state machine: what to do on each thing the browser reports.
//!
//! [`Session::on`] takes an [`Input`] and returns the [`Command`]s the browser
//! shell must carry out. It never touches a socket, a timer or storage itself,
//! so every path (handshake, heartbeat loss, refusal, reconnect, offline,
//! replay, gap recovery) is tested natively.
//!
//! Invariants:
//! - the status is [`ConnectionStatus::Live`] only between the server's
//!   namespace acceptance and the loss of that transport: a dead connection is
//!   never shown as live;
//! - every lost transport (close, heartbeat silence, protocol close) schedules
//!   exactly one retry, with a delay from [`Backoff`], unless the browser is
//!   offline (then the retry waits for [`Input::Online`]);
//! - the backoff resets only after a connection stayed live for
//!   `stable_after`, so a server that accepts and drops at once still backs
//!   off;
//! - a heartbeat deadline is armed whenever the server may next be silent:
//!   after its handshake and after each ping;
//! - a notification is acknowledged only after it is in the store and
//!   [`Command::Persist`] was issued before the ack; each connect asks for
//!   everything after the store's `last_seq`; a jump in seq asks
//!   `notifications:sync` for the hole.

use super::backoff::Backoff;
use super::protocol::{DEFAULT_NAMESPACE, EnginePacket, Handshake, SocketPacket};
use super::store::{Applied, NotificationStore};
use crate::types::{DeltaPage, ErrorBody, Notification};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

/// Socket.IO event names of the contract.
pub const NOTIFICATION_EVENT: &str = "notification";
pub const ACK_EVENT: &str = "notifications:ack";
pub const SYNC_EVENT: &str = "notifications:sync";

/// How many notifications one `notifications:sync` asks for.
const SYNC_PAGE: i64 = 100;

/// What the connection indicator shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnectionStatus {
    /// A connection attempt is under way and not yet accepted.
    #[default]
    Connecting,
    /// The server accepted our namespace connection and is sending heartbeats.
    Live,
    /// The last transport was lost; the next attempt (number `attempt`) starts
    /// after `delay`.
    Reconnecting { attempt: u32, delay: Duration },
    /// The browser has no network; nothing is attempted until it comes back.
    Offline,
}

impl ConnectionStatus {
    /// The label the dashboard shows for this status.
    pub fn label(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Live => "live",
            Self::Reconnecting { .. } => "reconnecting",
            Self::Offline => "offline",
        }
    }

    /// True when the server can reach this client right now.
    pub fn is_live(self) -> bool {
        self == Self::Live
    }
}

/// Something the browser reports to the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The page wants a connection.
    Start,
    /// A text frame arrived on the current transport.
    Frame(String),
    /// The current transport closed or failed on its own.
    TransportClosed,
    /// The heartbeat deadline passed with no ping from the server.
    HeartbeatExpired,
    /// The retry delay is over.
    RetryDue,
    /// The connection has been live for `stable_after`.
    StableFor,
    /// The browser reports that the network is gone.
    Offline,
    /// The browser reports that the network is back.
    Online,
    /// The tab became visible again (perhaps after a long sleep, when timers
    /// were throttled): a pending retry should not wait any longer.
    Wake,
}

/// Something the browser shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Open a new WebSocket to the Socket.IO endpoint.
    OpenTransport,
    /// Send this text frame on the current transport.
    Send(String),
    /// Drop the current transport without reporting its close back: the
    /// session already counts it as lost.
    CloseTransport,
    /// (Re)start the heartbeat deadline, replacing any earlier one.
    ArmHeartbeat(Duration),
    /// Cancel the heartbeat deadline.
    DisarmHeartbeat,
    /// Report [`Input::RetryDue`] after this delay.
    ScheduleRetry(Duration),
    /// Cancel a scheduled retry.
    CancelRetry,
    /// Report [`Input::StableFor`] after this delay, replacing any earlier one.
    ArmStable(Duration),
    /// Cancel the stable-connection timer.
    DisarmStable,
    /// Save the store ([`Session::store`]) to browser storage, now.
    Persist,
    /// These notifications just arrived and were new: tell the seller.
    Announce(Vec<Notification>),
    /// Something worth a console line; nothing else to do.
    Warn(String),
}

/// Client settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    /// Reconnect delays.
    pub backoff: Backoff,
    /// A connection live this long resets the backoff.
    pub stable_after: Duration,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self { backoff: Backoff::default(), stable_after: Duration::from_secs(10) }
    }
}

/// The client side of one Socket.IO connection, across reconnects, and the
/// notifications it received.
#[derive(Debug, Clone)]
pub struct Session {
    status: ConnectionStatus,
    options: SessionOptions,
    /// Sent with the namespace connect packet (`auth` in socket.io terms),
    /// with `last_seq` added; the dashboard needs none (its cookie is sent).
    auth: Option<Value>,
    /// The current transport's handshake, once the server opened it.
    handshake: Option<Handshake>,
    /// Retries scheduled since the last stable connection.
    attempt: u32,
    /// The server's last refusal message, e.g. `unauthorized`.
    last_refusal: Option<String>,
    store: NotificationStore,
    /// Bumped on every change to the store, so a view redraws only then.
    revision: u64,
    /// The ack id of the `notifications:sync` awaiting its answer.
    sync_in_flight: Option<u64>,
    /// Ack ids for our own events; the server's ids are its own.
    next_ack_id: u64,
    /// Seqs in the store whose receipt the server may not know yet (loaded
    /// by other means than a push): acknowledged on the next connect.
    unacked: BTreeSet<i64>,
}

impl Session {
    /// A session that has not started connecting, holding `store`.
    pub fn new(options: SessionOptions, auth: Option<Value>, store: NotificationStore) -> Self {
        Self {
            status: ConnectionStatus::Connecting,
            options,
            auth,
            handshake: None,
            attempt: 0,
            last_refusal: None,
            store,
            revision: 0,
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

    pub fn status(&self) -> ConnectionStatus {
        self.status
    }

    /// The current transport's handshake, if the server has opened one.
    pub fn handshake(&self) -> Option<&Handshake> {
        self.handshake.as_ref()
    }

    /// Why the server last refused the connection, if it did.
    pub fn last_refusal(&self) -> Option<&str> {
        self.last_refusal.as_deref()
    }

    pub fn store(&self) -> &NotificationStore {
        &self.store
    }

    /// Changes the store from outside the connection (the seller marked
    /// something read). Returns the command to save it.
    pub fn update_store(&mut self, change: impl FnOnce(&mut NotificationStore)) -> Command {
        change(&mut self.store);
        self.revision += 1;
        Command::Persist
    }

    /// Changes whenever the store does.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Applies one input. `jitter` is a uniform draw in `[0, 1)`, used only if
    /// this input loses the transport and a retry must be scheduled.
    pub fn on(&mut self, input: Input, jitter: f64) -> Vec<Command> {
        match input {
            Input::Start => {
                self.status = ConnectionStatus::Connecting;
                vec![Command::OpenTransport]
            }
            Input::RetryDue => match self.status {
                ConnectionStatus::Reconnecting { .. } => vec![Command::OpenTransport],
                _ => Vec::new(),
            },
            Input::Frame(frame) => self.on_frame(&frame, jitter),
            Input::TransportClosed => match self.status {
                ConnectionStatus::Offline => Vec::new(),
                _ => self.lose_transport(jitter, false),
            },
            Input::HeartbeatExpired => {
                let mut commands = vec![Command::Warn("no heartbeat from the server".into())];
                commands.extend(self.lose_transport(jitter, true));
                commands
            }
            Input::StableFor => {
                if self.status.is_live() {
                    self.attempt = 0;
                }
                Vec::new()
            }
            Input::Offline => self.go_offline(),
            Input::Online => match self.status {
                ConnectionStatus::Offline | ConnectionStatus::Reconnecting { .. } => self.retry_now(),
                ConnectionStatus::Connecting | ConnectionStatus::Live => Vec::new(),
            },
            Input::Wake => match self.status {
                ConnectionStatus::Reconnecting { .. } => self.retry_now(),
                _ => Vec::new(),
            },
        }
    }

    fn on_frame(&mut self, frame: &str, jitter: f64) -> Vec<Command> {
        let packet = match EnginePacket::decode(frame) {
            Ok(packet) => packet,
            Err(e) => return vec![Command::Warn(format!("ignored frame: {e}"))],
        };
        match packet {
            EnginePacket::Open(handshake) => {
                let deadline = heartbeat_deadline(&handshake);
                self.handshake = Some(handshake);
                let connect = SocketPacket::Connect {
                    namespace: DEFAULT_NAMESPACE.into(),
                    data: Some(self.connect_auth()),
                };
                vec![Command::ArmHeartbeat(deadline), Command::Send(connect.to_frame())]
            }
            EnginePacket::Ping => {
                let mut commands = vec![Command::Send(EnginePacket::Pong.encode())];
                if let Some(handshake) = &self.handshake {
                    commands.push(Command::ArmHeartbeat(heartbeat_deadline(handshake)));
                }
                commands
            }
            EnginePacket::Close => self.lose_transport(jitter, true),
            EnginePacket::Message(text) => self.on_message(&text, jitter),
            EnginePacket::Pong | EnginePacket::Upgrade | EnginePacket::Noop => Vec::new(),
        }
    }

    /// The handshake `auth`: the configured object plus `last_seq`, so the
    /// server replays exactly what the store lacks.
    fn connect_auth(&self) -> Value {
        let mut auth = match &self.auth {
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        };
        auth.insert("last_seq".into(), json!(self.store.last_seq()));
        Value::Object(auth)
    }

    fn on_message(&mut self, text: &str, jitter: f64) -> Vec<Command> {
        let packet = match SocketPacket::decode(text) {
            Ok(packet) => packet,
            Err(e) => return vec![Command::Warn(format!("ignored packet: {e}"))],
        };
        match packet {
            SocketPacket::Connect { .. } => {
                self.status = ConnectionStatus::Live;
                self.last_refusal = None;
                let mut commands = vec![Command::ArmStable(self.options.stable_after)];
                if !self.unacked.is_empty() {
                    let seqs: Vec<i64> = std::mem::take(&mut self.unacked).into_iter().collect();
                    commands.push(self.event(ACK_EVENT, json!({ "seqs": seqs }), None));
                }
                if self.store.has_gap() {
                    commands.extend(self.request_sync());
                }
                commands
            }
            SocketPacket::ConnectError { data, .. } => {
                let message =
                    data.get("message").and_then(Value::as_str).unwrap_or("connection refused").to_owned();
                let mut commands = vec![Command::Warn(format!("server refused: {message}"))];
                self.last_refusal = Some(message);
                commands.extend(self.lose_transport(jitter, true));
                commands
            }
            SocketPacket::Disconnect { .. } => self.lose_transport(jitter, true),
            SocketPacket::Event { ack_id, data, .. } => self.on_event(ack_id, data),
            SocketPacket::Ack { ack_id, data, .. } => self.on_ack(ack_id, data),
        }
    }

    fn on_event(&mut self, ack_id: Option<u64>, data: Value) -> Vec<Command> {
        let mut args = match data {
            Value::Array(args) => args.into_iter(),
            _ => return vec![Command::Warn("event without arguments".into())],
        };
        let name = args.next();
        match name.as_ref().and_then(Value::as_str) {
            Some(NOTIFICATION_EVENT) => {
                let payload = args.next().unwrap_or(Value::Null);
                match serde_json::from_value::<Notification>(payload) {
                    Ok(notification) => self.on_notification(notification, ack_id),
                    Err(e) => vec![Command::Warn(format!("ignored a notification that does not parse: {e}"))],
                }
            }
            _ => vec![Command::Warn(format!("ignored event {name:?}"))],
        }
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
            Some(id) => Command::Send(
                SocketPacket::Ack { namespace: DEFAULT_NAMESPACE.into(), ack_id: id, data: json!([]) }
                    .to_frame(),
            ),
            None => self.event(ACK_EVENT, json!({ "seqs": [seq] }), None),
        });
        if let Applied::Gap { .. } = outcome {
            commands.extend(self.request_sync());
        }
        commands
    }

    fn on_ack(&mut self, ack_id: u64, data: Value) -> Vec<Command> {
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
            commands.push(self.event(ACK_EVENT, json!({ "seqs": seqs }), None));
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
    fn request_sync(&mut self) -> Vec<Command> {
        if self.sync_in_flight.is_some() || !self.status.is_live() {
            return Vec::new();
        }
        let id = self.next_ack_id;
        self.next_ack_id += 1;
        self.sync_in_flight = Some(id);
        let body = json!({ "after": self.store.last_seq(), "limit": SYNC_PAGE });
        vec![self.event(SYNC_EVENT, body, Some(id))]
    }

    fn event(&self, name: &str, body: Value, ack_id: Option<u64>) -> Command {
        let packet =
            SocketPacket::Event { namespace: DEFAULT_NAMESPACE.into(), ack_id, data: json!([name, body]) };
        Command::Send(packet.to_frame())
    }

    /// The transport is gone (or must go): show it, and schedule one retry.
    fn lose_transport(&mut self, jitter: f64, close: bool) -> Vec<Command> {
        let mut commands = self.forget_transport(close);
        if self.status == ConnectionStatus::Offline {
            return commands;
        }
        let delay = self.options.backoff.delay(self.attempt, jitter);
        self.attempt = self.attempt.saturating_add(1);
        self.status = ConnectionStatus::Reconnecting { attempt: self.attempt, delay };
        commands.push(Command::ScheduleRetry(delay));
        commands
    }

    fn go_offline(&mut self) -> Vec<Command> {
        let mut commands = self.forget_transport(true);
        self.status = ConnectionStatus::Offline;
        commands.push(Command::CancelRetry);
        commands
    }

    /// The network is back, or the tab woke up: try at once, not at the next
    /// backoff step.
    fn retry_now(&mut self) -> Vec<Command> {
        self.status = ConnectionStatus::Connecting;
        vec![Command::CancelRetry, Command::OpenTransport]
    }

    fn forget_transport(&mut self, close: bool) -> Vec<Command> {
        self.handshake = None;
        self.sync_in_flight = None;
        let mut commands = Vec::with_capacity(4);
        if close {
            commands.push(Command::CloseTransport);
        }
        commands.push(Command::DisarmHeartbeat);
        commands.push(Command::DisarmStable);
        commands
    }
}

/// How long the server may stay silent before the connection counts as dead:
/// one ping interval plus the time it allows itself for the pong.
fn heartbeat_deadline(handshake: &Handshake) -> Duration {
    Duration::from_millis(handshake.ping_interval.saturating_add(handshake.ping_timeout))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OPEN: &str =
        r#"0{"sid":"s1","upgrades":[],"pingInterval":1000,"pingTimeout":500,"maxPayload":100000}"#;

    fn options() -> SessionOptions {
        SessionOptions {
            backoff: Backoff { base: Duration::from_millis(100), cap: Duration::from_secs(10) },
            stable_after: Duration::from_secs(5),
        }
    }

    fn session() -> Session {
        Session::new(options(), None, NotificationStore::default())
    }

    fn connect(session: &mut Session) -> Vec<Command> {
        session.on(Input::Frame(OPEN.into()), 0.5);
        session.on(Input::Frame(r#"40{"sid":"n1"}"#.into()), 0.5)
    }

    fn live_session() -> Session {
        let mut session = session();
        session.on(Input::Start, 0.5);
        connect(&mut session);
        assert_eq!(session.status(), ConnectionStatus::Live);
        session
    }

    fn notification(seq: i64) -> Value {
        json!({
            "id": seq + 100, "seq": seq, "type": "order.created", "title": format!("Order {seq}"),
            "body": "", "data": {}, "created_at": "2026-12-02T00:00:00Z",
            "sent_at": null, "received_at": null, "read_at": null
        })
    }

    fn push(seq: i64, ack_id: u64) -> Input {
        let packet = SocketPacket::Event {
            namespace: "/".into(),
            ack_id: Some(ack_id),
            data: json!(["notification", notification(seq)]),
        };
        Input::Frame(packet.to_frame())
    }

    fn sent(commands: &[Command]) -> Vec<&str> {
        commands
            .iter()
            .filter_map(|c| if let Command::Send(f) = c { Some(f.as_str()) } else { None })
            .collect()
    }

    fn retry_delay(commands: &[Command]) -> Option<Duration> {
        commands.iter().find_map(|c| if let Command::ScheduleRetry(d) = c { Some(*d) } else { None })
    }

    #[test]
    fn start_opens_a_transport_and_is_not_live_yet() {
        let mut session = session();
        assert_eq!(session.on(Input::Start, 0.5), vec![Command::OpenTransport]);
        assert_eq!(session.status(), ConnectionStatus::Connecting);
    }

    #[test]
    fn engine_open_arms_the_heartbeat_and_joins_with_auth_and_last_seq() {
        let mut session = Session::new(options(), Some(json!({"token": "t"})), NotificationStore::default());
        let commands = session.on(Input::Frame(OPEN.into()), 0.5);
        assert_eq!(
            commands,
            vec![
                Command::ArmHeartbeat(Duration::from_millis(1500)),
                Command::Send(r#"40{"last_seq":0,"token":"t"}"#.into()),
            ]
        );
        assert_eq!(session.status(), ConnectionStatus::Connecting);
        assert_eq!(session.handshake().map(|h| h.sid.as_str()), Some("s1"));
    }

    #[test]
    fn namespace_acceptance_makes_the_session_live_and_arms_the_stable_timer() {
        let mut session = session();
        session.on(Input::Start, 0.5);
        let commands = connect(&mut session);
        assert_eq!(commands, vec![Command::ArmStable(Duration::from_secs(5))]);
        assert!(session.status().is_live());
    }

    #[test]
    fn ping_is_answered_with_pong_and_rearms_the_heartbeat() {
        let mut session = live_session();
        assert_eq!(
            session.on(Input::Frame("2".into()), 0.5),
            vec![Command::Send("3".into()), Command::ArmHeartbeat(Duration::from_millis(1500))]
        );
        assert!(session.status().is_live());
    }

    #[test]
    fn missed_heartbeat_drops_the_transport_and_is_never_shown_live() {
        let mut session = live_session();
        let commands = session.on(Input::HeartbeatExpired, 1.0);
        assert!(commands.contains(&Command::CloseTransport));
        assert!(commands.contains(&Command::DisarmHeartbeat));
        assert_eq!(retry_delay(&commands), Some(Duration::from_millis(100)));
        assert_eq!(
            session.status(),
            ConnectionStatus::Reconnecting { attempt: 1, delay: Duration::from_millis(100) }
        );
    }

    #[test]
    fn closed_transport_schedules_retries_with_growing_ceilings() {
        let mut session = live_session();
        let mut delays = Vec::new();
        for _ in 0..4 {
            delays.extend(retry_delay(&session.on(Input::TransportClosed, 1.0)));
            assert_eq!(session.on(Input::RetryDue, 1.0), vec![Command::OpenTransport]);
        }
        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![100, 200, 400, 800]);
        assert!(matches!(session.status(), ConnectionStatus::Reconnecting { attempt: 4, .. }));
    }

    #[test]
    fn only_a_stable_connection_resets_the_backoff() {
        let mut session = live_session();
        session.on(Input::TransportClosed, 1.0);
        session.on(Input::TransportClosed, 1.0);
        // Accepted, then dropped at once: still backing off.
        connect(&mut session);
        assert_eq!(retry_delay(&session.on(Input::TransportClosed, 1.0)), Some(Duration::from_millis(400)));
        // Accepted and kept for stable_after: back to the base delay.
        connect(&mut session);
        session.on(Input::StableFor, 1.0);
        assert_eq!(retry_delay(&session.on(Input::TransportClosed, 1.0)), Some(Duration::from_millis(100)));
    }

    #[test]
    fn a_stale_stable_timer_outside_a_live_connection_resets_nothing() {
        let mut session = live_session();
        session.on(Input::TransportClosed, 1.0);
        session.on(Input::StableFor, 1.0);
        assert_eq!(retry_delay(&session.on(Input::TransportClosed, 1.0)), Some(Duration::from_millis(200)));
    }

    #[test]
    fn offline_closes_and_waits_and_online_retries_at_once() {
        let mut session = live_session();
        let commands = session.on(Input::Offline, 0.5);
        assert!(commands.contains(&Command::CloseTransport));
        assert!(commands.contains(&Command::CancelRetry));
        assert_eq!(retry_delay(&commands), None);
        assert_eq!(session.status(), ConnectionStatus::Offline);
        assert!(session.on(Input::TransportClosed, 0.5).is_empty(), "offline: nothing is scheduled");
        assert!(session.on(Input::RetryDue, 0.5).is_empty());
        assert_eq!(session.on(Input::Online, 0.5), vec![Command::CancelRetry, Command::OpenTransport]);
        assert_eq!(session.status(), ConnectionStatus::Connecting);
    }

    #[test]
    fn waking_up_cuts_a_pending_backoff_short() {
        let mut session = live_session();
        session.on(Input::TransportClosed, 0.9);
        assert_eq!(session.on(Input::Wake, 0.5), vec![Command::CancelRetry, Command::OpenTransport]);
        // While live, waking up changes nothing.
        connect(&mut session);
        assert!(session.on(Input::Wake, 0.5).is_empty());
    }

    #[test]
    fn refusal_is_remembered_and_retried() {
        let mut session = session();
        session.on(Input::Frame(OPEN.into()), 0.0);
        let commands = session.on(Input::Frame(r#"44{"message":"unauthorized"}"#.into()), 0.0);
        assert!(commands.contains(&Command::CloseTransport));
        assert!(retry_delay(&commands).is_some());
        assert_eq!(session.last_refusal(), Some("unauthorized"));
        assert!(!session.status().is_live());
    }

    #[test]
    fn server_close_packet_loses_the_transport() {
        let mut session = live_session();
        let commands = session.on(Input::Frame("1".into()), 0.0);
        assert!(commands.contains(&Command::CloseTransport));
        assert!(!session.status().is_live());
    }

    #[test]
    fn garbage_frames_are_warned_about_and_change_nothing() {
        let mut session = live_session();
        for frame in ["", "x", "4{{", "0{bad", r#"42["notification",{"seq":"x"}]"#, r#"42["surprise"]"#] {
            let commands = session.on(Input::Frame(frame.into()), 0.0);
            assert!(matches!(commands.as_slice(), [Command::Warn(_)]), "{frame:?}: {commands:?}");
        }
        assert!(session.status().is_live());
        assert!(session.store().is_empty());
    }

    #[test]
    fn a_push_is_stored_then_persisted_then_acknowledged() {
        let mut session = live_session();
        let commands = session.on(push(1, 7), 0.0);
        assert!(matches!(commands[0], Command::Persist));
        assert!(matches!(&commands[1], Command::Announce(n) if n.len() == 1 && n[0].seq == 1));
        assert_eq!(commands[2], Command::Send("437[]".into()));
        assert_eq!(commands.len(), 3);
        assert_eq!(session.store().last_seq(), 1);
    }

    #[test]
    fn a_duplicate_push_is_acknowledged_but_not_announced() {
        let mut session = live_session();
        session.on(push(1, 1), 0.0);
        let revision = session.revision();
        let commands = session.on(push(1, 2), 0.0);
        assert_eq!(commands, vec![Command::Send("432[]".into())]);
        assert_eq!(session.revision(), revision);
        assert_eq!(session.store().len(), 1);
    }

    #[test]
    fn a_gap_asks_for_the_missing_seqs_and_fills_them() {
        let mut session = live_session();
        session.on(push(1, 1), 0.0);
        let commands = session.on(push(4, 2), 0.0);
        assert_eq!(sent(&commands), vec!["432[]", r#"420["notifications:sync",{"after":1,"limit":100}]"#]);
        // A second jump while the first ask is out does not ask twice.
        assert_eq!(sent(&session.on(push(6, 3), 0.0)), vec!["433[]"]);

        let page = json!([{"notifications": [notification(2), notification(3), notification(4)], "last_seq": 6, "has_more": false}]);
        let answer = SocketPacket::Ack { namespace: "/".into(), ack_id: 0, data: page }.to_frame();
        let commands = session.on(Input::Frame(answer), 0.0);
        let announced: Vec<i64> = commands
            .iter()
            .find_map(|c| {
                if let Command::Announce(n) = c { Some(n.iter().map(|n| n.seq).collect()) } else { None }
            })
            .unwrap();
        assert_eq!(announced, vec![2, 3], "4 was already here");
        // Acked in one event; 5 is still missing, so it asks again.
        assert_eq!(
            sent(&commands),
            vec![
                r#"42["notifications:ack",{"seqs":[2,3,4]}]"#,
                r#"421["notifications:sync",{"after":4,"limit":100}]"#
            ]
        );
        assert_eq!(session.store().last_seq(), 4);
    }

    #[test]
    fn a_sync_page_with_more_asks_for_the_next_page_and_stops_at_the_end() {
        let mut session = live_session();
        session.on(push(2, 1), 0.0);
        let answer = |id: u64, seqs: &[i64], more: bool| {
            let rows: Vec<Value> = seqs.iter().map(|&s| notification(s)).collect();
            let data = json!([{"notifications": rows, "last_seq": 3, "has_more": more}]);
            Input::Frame(SocketPacket::Ack { namespace: "/".into(), ack_id: id, data }.to_frame())
        };
        let commands = session.on(answer(0, &[1], true), 0.0);
        assert!(sent(&commands).iter().any(|f| f.starts_with("421[\"notifications:sync\"")));
        let commands = session.on(answer(1, &[3], false), 0.0);
        assert!(!sent(&commands).iter().any(|f| f.contains("sync")));
        assert_eq!(session.store().last_seq(), 3);
    }

    #[test]
    fn a_refused_or_unknown_answer_is_only_warned_about() {
        let mut session = live_session();
        session.on(push(3, 1), 0.0);
        let refused = r#"430[{"error":"validation_failed","message":"after: must be 0 or more"}]"#;
        assert!(
            matches!(session.on(Input::Frame(refused.into()), 0.0).as_slice(), [Command::Warn(m)] if m.contains("after"))
        );
        assert!(matches!(session.on(Input::Frame("439[{}]".into()), 0.0).as_slice(), [Command::Warn(_)]));
    }

    #[test]
    fn reconnecting_asks_for_what_follows_the_store_and_refills_a_gap() {
        let mut session = live_session();
        session.on(push(1, 1), 0.0);
        session.on(push(3, 2), 0.0);
        session.on(Input::TransportClosed, 0.0);
        // The sync in flight died with the transport; the new connection asks again.
        let open = session.on(Input::Frame(OPEN.into()), 0.0);
        assert_eq!(sent(&open), vec![r#"40{"last_seq":1}"#]);
        let accepted = session.on(Input::Frame("40".into()), 0.0);
        assert_eq!(sent(&accepted), vec![r#"421["notifications:sync",{"after":1,"limit":100}]"#]);
    }

    #[test]
    fn history_loaded_without_a_push_is_acknowledged_on_connect() {
        let mut store = NotificationStore::default();
        let mut received = serde_json::from_value::<Notification>(notification(1)).unwrap();
        received.received_at = Some("2026-12-02T00:00:01Z".into());
        let unreceived = serde_json::from_value::<Notification>(notification(2)).unwrap();
        let history = vec![unreceived, received];
        let unreceived_seqs: Vec<i64> =
            history.iter().filter(|n| n.received_at.is_none()).map(|n| n.seq).collect();
        store.anchor(history);
        let mut session = Session::new(options(), None, store).acknowledging(unreceived_seqs);
        session.on(Input::Start, 0.0);
        let commands = connect(&mut session);
        assert_eq!(sent(&commands), vec![r#"42["notifications:ack",{"seqs":[2]}]"#]);
        // Only once.
        session.on(Input::TransportClosed, 0.0);
        assert!(sent(&connect(&mut session)).is_empty());
    }

    #[test]
    fn a_store_restored_from_storage_is_not_acknowledged_again() {
        let mut store = NotificationStore::default();
        store.apply(serde_json::from_value::<Notification>(notification(1)).unwrap());
        let mut session = Session::new(options(), None, store);
        session.on(Input::Start, 0.0);
        assert!(sent(&connect(&mut session)).is_empty(), "its pushes were acknowledged when they arrived");
    }

    #[test]
    fn a_change_from_the_page_bumps_the_revision_and_persists() {
        let mut session = live_session();
        session.on(push(1, 1), 0.0);
        let revision = session.revision();
        let command = session.update_store(|store| {
            store.mark_all_read("2026-12-02T00:00:00Z");
        });
        assert_eq!(command, Command::Persist);
        assert!(session.revision() > revision);
        assert_eq!(session.store().unread(), 0);
    }
}
