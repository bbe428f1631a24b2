//! The connection state machine: what to do on each thing the browser reports.
//!
//! [`Session::on`] takes an [`Input`] and returns the [`Command`]s the browser
//! shell must carry out. It never touches a socket or a timer itself, so every
//! path (handshake, heartbeat loss, refusal, reconnect) is tested natively.
//!
//! Invariants:
//! - the status is [`ConnectionStatus::Live`] only between the server's
//!   namespace acceptance and the loss of that transport;
//! - every lost transport (close, heartbeat silence, protocol close) schedules
//!   exactly one retry, with a delay from [`Backoff`];
//! - a heartbeat deadline is armed whenever the server may next be silent: after
//!   its handshake and after each ping.

use super::backoff::Backoff;
use super::protocol::{EnginePacket, Handshake, SocketPacket};
use serde_json::Value;
use std::time::Duration;

/// What the connection indicator shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnectionStatus {
    /// First connection attempt, not yet accepted.
    #[default]
    Connecting,
    /// The server accepted our namespace connection and is sending heartbeats.
    Live,
    /// The last transport was lost; `attempt` retries have been scheduled since.
    Reconnecting { attempt: u32 },
}

impl ConnectionStatus {
    /// The label the dashboard shows for this status.
    pub fn label(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Live => "live",
            Self::Reconnecting { .. } => "reconnecting",
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
}

/// Something the browser shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Something worth a console line; nothing else to do.
    Warn(String),
}

/// The client side of one Socket.IO connection, across reconnects.
#[derive(Debug, Clone)]
pub struct Session {
    status: ConnectionStatus,
    backoff: Backoff,
    /// Sent with the namespace connect packet (`auth` in socket.io terms).
    auth: Option<Value>,
    /// The current transport's handshake, once the server opened it.
    handshake: Option<Handshake>,
    /// Retries scheduled since the last successful connection.
    attempt: u32,
    /// The server's last refusal message, e.g. `unauthorized`.
    last_refusal: Option<String>,
}

impl Session {
    /// A session that has not started connecting.
    pub fn new(backoff: Backoff, auth: Option<Value>) -> Self {
        Self {
            status: ConnectionStatus::Connecting,
            backoff,
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

    /// Applies one input. `jitter` is a uniform draw in `[0, 1)`, used only if
    /// this input loses the transport and a retry must be scheduled.
    pub fn on(&mut self, input: Input, jitter: f64) -> Vec<Command> {
        match input {
            Input::Start | Input::RetryDue => vec![Command::OpenTransport],
            Input::Frame(frame) => self.on_frame(&frame, jitter),
            Input::TransportClosed => self.lose_transport(jitter, false),
            Input::HeartbeatExpired => {
                let mut commands = vec![Command::Warn("no heartbeat from the server".into())];
                commands.extend(self.lose_transport(jitter, true));
                commands
            }
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
                    namespace: super::protocol::DEFAULT_NAMESPACE.into(),
                    data: self.auth.clone(),
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

    fn on_message(&mut self, text: &str, jitter: f64) -> Vec<Command> {
        let packet = match SocketPacket::decode(text) {
            Ok(packet) => packet,
            Err(e) => return vec![Command::Warn(format!("ignored packet: {e}"))],
        };
        match packet {
            SocketPacket::Connect { .. } => {
                self.status = ConnectionStatus::Live;
                self.attempt = 0;
                self.last_refusal = None;
                Vec::new()
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
            SocketPacket::Event { .. } | SocketPacket::Ack { .. } => Vec::new(),
        }
    }

    /// The transport is gone (or must go): show it, and schedule one retry.
    fn lose_transport(&mut self, jitter: f64, close: bool) -> Vec<Command> {
        let delay = self.backoff.delay(self.attempt, jitter);
        self.attempt = self.attempt.saturating_add(1);
        self.status = ConnectionStatus::Reconnecting { attempt: self.attempt };
        self.handshake = None;
        let mut commands = Vec::with_capacity(3);
        if close {
            commands.push(Command::CloseTransport);
        }
        commands.push(Command::DisarmHeartbeat);
        commands.push(Command::ScheduleRetry(delay));
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

    fn backoff() -> Backoff {
        Backoff { base: Duration::from_millis(100), cap: Duration::from_secs(10) }
    }

    fn live_session() -> Session {
        let mut session = Session::new(backoff(), None);
        session.on(Input::Start, 0.5);
        session.on(Input::Frame(OPEN.into()), 0.5);
        session.on(Input::Frame(r#"40{"sid":"n1"}"#.into()), 0.5);
        assert_eq!(session.status(), ConnectionStatus::Live);
        session
    }

    #[test]
    fn start_opens_a_transport_and_is_not_live_yet() {
        let mut session = Session::new(backoff(), None);
        assert_eq!(session.on(Input::Start, 0.5), vec![Command::OpenTransport]);
        assert_eq!(session.status(), ConnectionStatus::Connecting);
    }

    #[test]
    fn engine_open_arms_the_heartbeat_and_joins_the_namespace_with_auth() {
        let mut session = Session::new(backoff(), Some(json!({"token": "t"})));
        let commands = session.on(Input::Frame(OPEN.into()), 0.5);
        assert_eq!(
            commands,
            vec![
                Command::ArmHeartbeat(Duration::from_millis(1500)),
                Command::Send(r#"40{"token":"t"}"#.into()),
            ]
        );
        assert_eq!(session.status(), ConnectionStatus::Connecting);
        assert_eq!(session.handshake().map(|h| h.sid.as_str()), Some("s1"));
    }

    #[test]
    fn namespace_acceptance_makes_the_session_live() {
        live_session();
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
        assert!(commands.contains(&Command::ScheduleRetry(Duration::from_millis(100))));
        assert_eq!(session.status(), ConnectionStatus::Reconnecting { attempt: 1 });
    }

    #[test]
    fn closed_transport_schedules_retries_with_growing_ceilings() {
        let mut session = live_session();
        let mut delays = Vec::new();
        for _ in 0..4 {
            for command in session.on(Input::TransportClosed, 1.0) {
                if let Command::ScheduleRetry(d) = command {
                    delays.push(d);
                }
            }
            assert_eq!(session.on(Input::RetryDue, 1.0), vec![Command::OpenTransport]);
        }
        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![100, 200, 400, 800]);
        assert_eq!(session.status(), ConnectionStatus::Reconnecting { attempt: 4 });
    }

    #[test]
    fn a_successful_reconnect_resets_the_backoff() {
        let mut session = live_session();
        session.on(Input::TransportClosed, 1.0);
        session.on(Input::TransportClosed, 1.0);
        session.on(Input::Frame(OPEN.into()), 1.0);
        session.on(Input::Frame("40".into()), 1.0);
        assert!(session.status().is_live());
        let commands = session.on(Input::TransportClosed, 1.0);
        assert!(commands.contains(&Command::ScheduleRetry(Duration::from_millis(100))));
    }

    #[test]
    fn refusal_is_remembered_and_retried() {
        let mut session = Session::new(backoff(), None);
        session.on(Input::Frame(OPEN.into()), 0.0);
        let commands = session.on(Input::Frame(r#"44{"message":"unauthorized"}"#.into()), 0.0);
        assert!(commands.contains(&Command::CloseTransport));
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
        for frame in ["", "x", "4{{", "0{bad"] {
            let commands = session.on(Input::Frame(frame.into()), 0.0);
            assert!(matches!(commands.as_slice(), [Command::Warn(_)]), "{frame:?}: {commands:?}");
        }
        assert!(session.status().is_live());
    }
}
