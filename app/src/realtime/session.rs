//! The connection state machine: what to do on each thing the browser reports
//! about the transport.
//!
//! [`Session::on`] takes an [`Input`] and returns the [`Command`]s the browser
//! shell must carry out. It never touches a socket, a timer or storage itself,
//! so every path (handshake, heartbeat loss, refusal, reconnect, offline) is
//! tested natively.
//!
//! The session speaks Engine.IO and the Socket.IO namespace handshake; what
//! the server says about notifications (events, sync answers, and the moments
//! the namespace is accepted or lost) it hands to the [`Inbox`] it is given
//! with each input, relaying the inbox's commands in order. It holds no
//! notification state of its own, so the page can change the inbox without
//! going through the connection.
//!
//! Invariants:
//! - the status is [`ConnectionStatus::Live`] only between the server's
//!   namespace acceptance and the loss of that transport: a dead connection is
//!   never shown as live. The inbox hears of both moments, so it never asks
//!   for anything on a connection that is not there;
//! - every lost transport (close, heartbeat silence, protocol close) schedules
//!   exactly one retry, with a delay from [`Backoff`], unless the browser is
//!   offline (then the retry waits for [`Input::Online`]);
//! - the backoff resets only after a connection stayed live for
//!   `stable_after`, so a server that accepts and drops at once still backs
//!   off;
//! - a heartbeat deadline is armed whenever the server may next be silent:
//!   after its handshake and after each ping;
//! - each connect's handshake carries the store's `last_seq`, so the server
//!   replays exactly what the store lacks.

use super::backoff::Backoff;
use super::inbox::{self, Inbox};
use super::protocol::{DEFAULT_NAMESPACE, EnginePacket, Handshake, SocketPacket};
use crate::types::Notification;
use serde_json::{Map, Value, json};
use std::time::Duration;

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
    /// Save the inbox's store to browser storage, now (see
    /// [`inbox::Command::Persist`]).
    Persist,
    /// These notifications just arrived and were new: tell the seller.
    Announce(Vec<Notification>),
    /// Something worth a console line; nothing else to do.
    Warn(String),
}

impl From<inbox::Command> for Command {
    fn from(command: inbox::Command) -> Self {
        match command {
            inbox::Command::Send(packet) => Self::Send(packet.to_frame()),
            inbox::Command::Persist => Self::Persist,
            inbox::Command::Announce(notifications) => Self::Announce(notifications),
            inbox::Command::Warn(message) => Self::Warn(message),
        }
    }
}

/// The inbox's commands, in its order, as the shell's.
fn relay(commands: Vec<inbox::Command>) -> Vec<Command> {
    commands.into_iter().map(Command::from).collect()
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

/// The client side of one Socket.IO connection, across reconnects.
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
}

impl Session {
    /// A session that has not started connecting.
    pub fn new(options: SessionOptions, auth: Option<Value>) -> Self {
        Self {
            status: ConnectionStatus::Connecting,
            options,
            auth,
            handshake: None,
            attempt: 0,
            last_refusal: None,
        }
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

    /// Applies one input; what concerns notifications goes to `inbox`.
    /// `jitter` is a uniform draw in `[0, 1)`, used only if this input loses
    /// the transport and a retry must be scheduled.
    pub fn on(&mut self, input: Input, jitter: f64, inbox: &mut Inbox) -> Vec<Command> {
        match input {
            Input::Start => {
                self.status = ConnectionStatus::Connecting;
                vec![Command::OpenTransport]
            }
            Input::RetryDue => match self.status {
                ConnectionStatus::Reconnecting { .. } => vec![Command::OpenTransport],
                _ => Vec::new(),
            },
            Input::Frame(frame) => self.on_frame(&frame, jitter, inbox),
            Input::TransportClosed => match self.status {
                ConnectionStatus::Offline => Vec::new(),
                _ => self.lose_transport(jitter, false, inbox),
            },
            Input::HeartbeatExpired => {
                let mut commands = vec![Command::Warn("no heartbeat from the server".into())];
                commands.extend(self.lose_transport(jitter, true, inbox));
                commands
            }
            Input::StableFor => {
                if self.status.is_live() {
                    self.attempt = 0;
                }
                Vec::new()
            }
            Input::Offline => self.go_offline(inbox),
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

    fn on_frame(&mut self, frame: &str, jitter: f64, inbox: &mut Inbox) -> Vec<Command> {
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
                    data: Some(self.connect_auth(inbox)),
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
            EnginePacket::Close => self.lose_transport(jitter, true, inbox),
            EnginePacket::Message(text) => self.on_message(&text, jitter, inbox),
            EnginePacket::Pong | EnginePacket::Upgrade | EnginePacket::Noop => Vec::new(),
        }
    }

    /// The handshake `auth`: the configured object plus `last_seq`, so the
    /// server replays exactly what the store lacks.
    fn connect_auth(&self, inbox: &Inbox) -> Value {
        let mut auth = match &self.auth {
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        };
        auth.insert("last_seq".into(), json!(inbox.store().last_seq()));
        Value::Object(auth)
    }

    fn on_message(&mut self, text: &str, jitter: f64, inbox: &mut Inbox) -> Vec<Command> {
        let packet = match SocketPacket::decode(text) {
            Ok(packet) => packet,
            Err(e) => return vec![Command::Warn(format!("ignored packet: {e}"))],
        };
        match packet {
            SocketPacket::Connect { .. } => {
                self.status = ConnectionStatus::Live;
                self.last_refusal = None;
                let mut commands = vec![Command::ArmStable(self.options.stable_after)];
                commands.extend(relay(inbox.on_connect()));
                commands
            }
            SocketPacket::ConnectError { data, .. } => {
                let message =
                    data.get("message").and_then(Value::as_str).unwrap_or("connection refused").to_owned();
                let mut commands = vec![Command::Warn(format!("server refused: {message}"))];
                self.last_refusal = Some(message);
                commands.extend(self.lose_transport(jitter, true, inbox));
                commands
            }
            SocketPacket::Disconnect { .. } => self.lose_transport(jitter, true, inbox),
            SocketPacket::Event { ack_id, data, .. } => relay(inbox.on_event(ack_id, data)),
            SocketPacket::Ack { ack_id, data, .. } => relay(inbox.on_answer(ack_id, data)),
        }
    }

    /// The transport is gone (or must go): show it, and schedule one retry.
    fn lose_transport(&mut self, jitter: f64, close: bool, inbox: &mut Inbox) -> Vec<Command> {
        let mut commands = self.forget_transport(close, inbox);
        if self.status == ConnectionStatus::Offline {
            return commands;
        }
        let delay = self.options.backoff.delay(self.attempt, jitter);
        self.attempt = self.attempt.saturating_add(1);
        self.status = ConnectionStatus::Reconnecting { attempt: self.attempt, delay };
        commands.push(Command::ScheduleRetry(delay));
        commands
    }

    fn go_offline(&mut self, inbox: &mut Inbox) -> Vec<Command> {
        let mut commands = self.forget_transport(true, inbox);
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

    fn forget_transport(&mut self, close: bool, inbox: &mut Inbox) -> Vec<Command> {
        self.handshake = None;
        inbox.on_disconnect();
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
    use crate::realtime::fixtures::notification_json;
    use crate::realtime::store::NotificationStore;
    use crate::types::events;

    const OPEN: &str =
        r#"0{"sid":"s1","upgrades":[],"pingInterval":1000,"pingTimeout":500,"maxPayload":100000}"#;

    /// A session and the inbox it is handed, as the browser shell holds them.
    struct Client {
        session: Session,
        inbox: Inbox,
    }

    impl Client {
        fn on(&mut self, input: Input, jitter: f64) -> Vec<Command> {
            self.session.on(input, jitter, &mut self.inbox)
        }

        fn status(&self) -> ConnectionStatus {
            self.session.status()
        }
    }

    fn options() -> SessionOptions {
        SessionOptions {
            backoff: Backoff { base: Duration::from_millis(100), cap: Duration::from_secs(10) },
            stable_after: Duration::from_secs(5),
        }
    }

    fn client() -> Client {
        Client { session: Session::new(options(), None), inbox: Inbox::new(NotificationStore::default()) }
    }

    fn connect(client: &mut Client) -> Vec<Command> {
        client.on(Input::Frame(OPEN.into()), 0.5);
        client.on(Input::Frame(r#"40{"sid":"n1"}"#.into()), 0.5)
    }

    fn live_client() -> Client {
        let mut client = client();
        client.on(Input::Start, 0.5);
        connect(&mut client);
        assert_eq!(client.status(), ConnectionStatus::Live);
        client
    }

    fn push(seq: i64, ack_id: u64) -> Input {
        let packet = SocketPacket::Event {
            namespace: "/".into(),
            ack_id: Some(ack_id),
            data: json!([events::NOTIFICATION, notification_json(seq)]),
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
        let mut client = client();
        assert_eq!(client.on(Input::Start, 0.5), vec![Command::OpenTransport]);
        assert_eq!(client.status(), ConnectionStatus::Connecting);
    }

    #[test]
    fn engine_open_arms_the_heartbeat_and_joins_with_auth_and_last_seq() {
        let mut client = client();
        client.session = Session::new(options(), Some(json!({"token": "t"})));
        let commands = client.on(Input::Frame(OPEN.into()), 0.5);
        assert_eq!(
            commands,
            vec![
                Command::ArmHeartbeat(Duration::from_millis(1500)),
                Command::Send(r#"40{"last_seq":0,"token":"t"}"#.into()),
            ]
        );
        assert_eq!(client.status(), ConnectionStatus::Connecting);
        assert_eq!(client.session.handshake().map(|h| h.sid.as_str()), Some("s1"));
    }

    #[test]
    fn namespace_acceptance_makes_the_session_live_and_arms_the_stable_timer() {
        let mut client = client();
        client.on(Input::Start, 0.5);
        let commands = connect(&mut client);
        assert_eq!(commands, vec![Command::ArmStable(Duration::from_secs(5))]);
        assert!(client.status().is_live());
    }

    #[test]
    fn ping_is_answered_with_pong_and_rearms_the_heartbeat() {
        let mut client = live_client();
        assert_eq!(
            client.on(Input::Frame("2".into()), 0.5),
            vec![Command::Send("3".into()), Command::ArmHeartbeat(Duration::from_millis(1500))]
        );
        assert!(client.status().is_live());
    }

    #[test]
    fn missed_heartbeat_drops_the_transport_and_is_never_shown_live() {
        let mut client = live_client();
        let commands = client.on(Input::HeartbeatExpired, 1.0);
        assert!(commands.contains(&Command::CloseTransport));
        assert!(commands.contains(&Command::DisarmHeartbeat));
        assert_eq!(retry_delay(&commands), Some(Duration::from_millis(100)));
        assert_eq!(
            client.status(),
            ConnectionStatus::Reconnecting { attempt: 1, delay: Duration::from_millis(100) }
        );
    }

    #[test]
    fn closed_transport_schedules_retries_with_growing_ceilings() {
        let mut client = live_client();
        let mut delays = Vec::new();
        for _ in 0..4 {
            delays.extend(retry_delay(&client.on(Input::TransportClosed, 1.0)));
            assert_eq!(client.on(Input::RetryDue, 1.0), vec![Command::OpenTransport]);
        }
        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![100, 200, 400, 800]);
        assert!(matches!(client.status(), ConnectionStatus::Reconnecting { attempt: 4, .. }));
    }

    #[test]
    fn only_a_stable_connection_resets_the_backoff() {
        let mut client = live_client();
        client.on(Input::TransportClosed, 1.0);
        client.on(Input::TransportClosed, 1.0);
        // Accepted, then dropped at once: still backing off.
        connect(&mut client);
        assert_eq!(retry_delay(&client.on(Input::TransportClosed, 1.0)), Some(Duration::from_millis(400)));
        // Accepted and kept for stable_after: back to the base delay.
        connect(&mut client);
        client.on(Input::StableFor, 1.0);
        assert_eq!(retry_delay(&client.on(Input::TransportClosed, 1.0)), Some(Duration::from_millis(100)));
    }

    #[test]
    fn a_stale_stable_timer_outside_a_live_connection_resets_nothing() {
        let mut client = live_client();
        client.on(Input::TransportClosed, 1.0);
        client.on(Input::StableFor, 1.0);
        assert_eq!(retry_delay(&client.on(Input::TransportClosed, 1.0)), Some(Duration::from_millis(200)));
    }

    #[test]
    fn offline_closes_and_waits_and_online_retries_at_once() {
        let mut client = live_client();
        let commands = client.on(Input::Offline, 0.5);
        assert!(commands.contains(&Command::CloseTransport));
        assert!(commands.contains(&Command::CancelRetry));
        assert_eq!(retry_delay(&commands), None);
        assert_eq!(client.status(), ConnectionStatus::Offline);
        assert!(client.on(Input::TransportClosed, 0.5).is_empty(), "offline: nothing is scheduled");
        assert!(client.on(Input::RetryDue, 0.5).is_empty());
        assert_eq!(client.on(Input::Online, 0.5), vec![Command::CancelRetry, Command::OpenTransport]);
        assert_eq!(client.status(), ConnectionStatus::Connecting);
    }

    #[test]
    fn waking_up_cuts_a_pending_backoff_short() {
        let mut client = live_client();
        client.on(Input::TransportClosed, 0.9);
        assert_eq!(client.on(Input::Wake, 0.5), vec![Command::CancelRetry, Command::OpenTransport]);
        // While live, waking up changes nothing.
        connect(&mut client);
        assert!(client.on(Input::Wake, 0.5).is_empty());
    }

    #[test]
    fn refusal_is_remembered_and_retried() {
        let mut client = client();
        client.on(Input::Frame(OPEN.into()), 0.0);
        let commands = client.on(Input::Frame(r#"44{"message":"unauthorized"}"#.into()), 0.0);
        assert!(commands.contains(&Command::CloseTransport));
        assert!(retry_delay(&commands).is_some());
        assert_eq!(client.session.last_refusal(), Some("unauthorized"));
        assert!(!client.status().is_live());
    }

    #[test]
    fn server_close_packet_loses_the_transport() {
        let mut client = live_client();
        let commands = client.on(Input::Frame("1".into()), 0.0);
        assert!(commands.contains(&Command::CloseTransport));
        assert!(!client.status().is_live());
    }

    #[test]
    fn garbage_frames_are_warned_about_and_change_nothing() {
        let mut client = live_client();
        for frame in ["", "x", "4{{", "0{bad", r#"42["notification",{"seq":"x"}]"#, r#"42["surprise"]"#] {
            let commands = client.on(Input::Frame(frame.into()), 0.0);
            assert!(matches!(commands.as_slice(), [Command::Warn(_)]), "{frame:?}: {commands:?}");
        }
        assert!(client.status().is_live());
        assert!(client.inbox.store().is_empty());
    }

    #[test]
    fn a_pushed_frame_reaches_the_inbox_and_its_ack_frame_follows_the_save() {
        let mut client = live_client();
        let commands = client.on(push(1, 7), 0.0);
        assert!(matches!(commands[0], Command::Persist));
        assert!(matches!(&commands[1], Command::Announce(n) if n.len() == 1 && n[0].seq == 1));
        assert_eq!(commands[2], Command::Send("437[]".into()));
        assert_eq!(commands.len(), 3);
        assert_eq!(client.inbox.store().last_seq(), 1);
    }

    #[test]
    fn reconnecting_asks_for_what_follows_the_store_and_refills_a_gap() {
        let mut client = live_client();
        client.on(push(1, 1), 0.0);
        client.on(push(3, 2), 0.0);
        client.on(Input::TransportClosed, 0.0);
        // The sync in flight died with the transport; the new connection asks again.
        let open = client.on(Input::Frame(OPEN.into()), 0.0);
        assert_eq!(sent(&open), vec![r#"40{"last_seq":1}"#]);
        let accepted = client.on(Input::Frame("40".into()), 0.0);
        assert_eq!(sent(&accepted), vec![r#"421["notifications:sync",{"after":1,"limit":100}]"#]);
    }

    #[test]
    fn a_sync_answer_frame_reaches_the_inbox() {
        let mut client = live_client();
        client.on(push(2, 1), 0.0);
        let page = json!([{"notifications": [notification_json(1)], "last_seq": 2, "has_more": false}]);
        let answer = SocketPacket::Ack { namespace: "/".into(), ack_id: 0, data: page }.to_frame();
        let commands = client.on(Input::Frame(answer), 0.0);
        assert_eq!(sent(&commands), vec![r#"42["notifications:ack",{"seqs":[1]}]"#]);
        assert_eq!(client.inbox.store().last_seq(), 2);
    }

    #[test]
    fn going_offline_drops_the_sync_in_flight_and_the_next_connect_asks_again() {
        let mut client = live_client();
        client.on(push(1, 1), 0.0);
        client.on(push(3, 2), 0.0);
        client.on(Input::Offline, 0.0);
        client.on(Input::Online, 0.0);
        client.on(Input::Frame(OPEN.into()), 0.0);
        let accepted = client.on(Input::Frame("40".into()), 0.0);
        assert_eq!(sent(&accepted), vec![r#"421["notifications:sync",{"after":1,"limit":100}]"#]);
    }
}
