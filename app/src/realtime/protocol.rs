//! Engine.IO v4 and Socket.IO v5 text packets: encoding and decoding, no IO.
//!
//! Over a WebSocket every frame is one Engine.IO packet: a one-digit type and a
//! payload. A Socket.IO packet travels as the payload of an Engine.IO
//! `message` (type `4`), so a Socket.IO event on the default namespace looks
//! like `42["notification",{...}]`.
//!
//! Only what the dashboard uses is supported: JSON payloads, no binary
//! attachments (the server never sends them; receiving one is an error, not a
//! silent misread).

use serde::Deserialize;
use serde_json::Value;
use std::fmt;

/// Why a frame could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// The frame was empty.
    Empty,
    /// The leading type digit is not one this protocol defines.
    UnknownType(char),
    /// The payload is not the JSON this packet type requires.
    BadPayload(String),
    /// A binary (attachment) packet, which this client does not support.
    BinaryUnsupported,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "empty frame"),
            Self::UnknownType(c) => write!(f, "unknown packet type {c:?}"),
            Self::BadPayload(why) => write!(f, "bad payload: {why}"),
            Self::BinaryUnsupported => write!(f, "binary packets are not supported"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// The server's `open` packet payload: the session and its heartbeat timing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake {
    /// Engine.IO session id.
    pub sid: String,
    /// The server sends a ping every `ping_interval` milliseconds.
    pub ping_interval: u64,
    /// ...and drops a client that does not pong within `ping_timeout` ms.
    pub ping_timeout: u64,
    /// Largest payload the server accepts, in bytes.
    #[serde(default)]
    pub max_payload: u64,
}

/// One Engine.IO v4 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnginePacket {
    /// `0`: the server opened a session.
    Open(Handshake),
    /// `1`: either side closes the session.
    Close,
    /// `2`: heartbeat from the server (protocol v4: the server pings).
    Ping,
    /// `3`: the client's answer to a ping.
    Pong,
    /// `4`: a Socket.IO packet, still encoded.
    Message(String),
    /// `5`: transport upgrade (unused over a direct WebSocket).
    Upgrade,
    /// `6`: no-op.
    Noop,
}

impl EnginePacket {
    /// Parses one WebSocket text frame.
    ///
    /// # Errors
    /// [`ProtocolError`] when the frame is empty, has an unknown type, or an
    /// `open` packet whose handshake is not valid JSON.
    pub fn decode(frame: &str) -> Result<Self, ProtocolError> {
        let mut chars = frame.chars();
        let kind = chars.next().ok_or(ProtocolError::Empty)?;
        let payload = chars.as_str();
        match kind {
            '0' => serde_json::from_str(payload)
                .map(Self::Open)
                .map_err(|e| ProtocolError::BadPayload(e.to_string())),
            '1' => Ok(Self::Close),
            '2' => Ok(Self::Ping),
            '3' => Ok(Self::Pong),
            '4' => Ok(Self::Message(payload.to_owned())),
            '5' => Ok(Self::Upgrade),
            '6' => Ok(Self::Noop),
            other => Err(ProtocolError::UnknownType(other)),
        }
    }

    /// The frame to send for this packet. Only client-sent packets need this;
    /// `Open` is server-only and encodes as a bare `0`.
    pub fn encode(&self) -> String {
        match self {
            Self::Open(_) => "0".to_owned(),
            Self::Close => "1".to_owned(),
            Self::Ping => "2".to_owned(),
            Self::Pong => "3".to_owned(),
            Self::Message(payload) => format!("4{payload}"),
            Self::Upgrade => "5".to_owned(),
            Self::Noop => "6".to_owned(),
        }
    }
}

/// The default namespace, written as nothing on the wire.
pub const DEFAULT_NAMESPACE: &str = "/";

/// One Socket.IO v5 packet (the payload of an Engine.IO `message`).
#[derive(Debug, Clone, PartialEq)]
pub enum SocketPacket {
    /// `0`: join a namespace (client, with the `auth` object) or the
    /// server's acceptance (with `{"sid": ...}`).
    Connect { namespace: String, data: Option<Value> },
    /// `1`: leave a namespace.
    Disconnect { namespace: String },
    /// `2`: an event; `data` is `[name, ...args]`; `ack_id` asks for an answer.
    Event { namespace: String, ack_id: Option<u64>, data: Value },
    /// `3`: the answer to an event that carried `ack_id`.
    Ack { namespace: String, ack_id: u64, data: Value },
    /// `4`: the server refused the namespace connection, e.g. `{"message": "unauthorized"}`.
    ConnectError { namespace: String, data: Value },
}

impl SocketPacket {
    /// Parses the payload of an Engine.IO `message`.
    ///
    /// # Errors
    /// [`ProtocolError`] for unknown types, binary packets, missing ack ids and
    /// payloads that are not the JSON the packet type needs.
    pub fn decode(text: &str) -> Result<Self, ProtocolError> {
        let mut chars = text.chars();
        let kind = chars.next().ok_or(ProtocolError::Empty)?;
        if matches!(kind, '5' | '6') {
            return Err(ProtocolError::BinaryUnsupported);
        }
        let rest = chars.as_str();

        // Namespace: present only when it is not the default, and then it
        // starts with '/' and ends at the first ','.
        let (namespace, rest) = if rest.starts_with('/') {
            match rest.find(',') {
                Some(comma) => (rest[..comma].to_owned(), &rest[comma + 1..]),
                None => (rest.to_owned(), ""),
            }
        } else {
            (DEFAULT_NAMESPACE.to_owned(), rest)
        };

        // Ack id: the digits before the JSON payload.
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (ack_id, json) = rest.split_at(digits);
        let ack_id = if ack_id.is_empty() {
            None
        } else {
            Some(ack_id.parse::<u64>().map_err(|e| ProtocolError::BadPayload(e.to_string()))?)
        };
        let data = if json.is_empty() {
            None
        } else {
            Some(serde_json::from_str::<Value>(json).map_err(|e| ProtocolError::BadPayload(e.to_string()))?)
        };

        match kind {
            '0' => Ok(Self::Connect { namespace, data }),
            '1' => Ok(Self::Disconnect { namespace }),
            '2' => match data {
                Some(data @ Value::Array(_)) => Ok(Self::Event { namespace, ack_id, data }),
                _ => Err(ProtocolError::BadPayload("an event needs an array".into())),
            },
            '3' => match (ack_id, data) {
                (Some(ack_id), Some(data @ Value::Array(_))) => Ok(Self::Ack { namespace, ack_id, data }),
                _ => Err(ProtocolError::BadPayload("an ack needs an id and an array".into())),
            },
            '4' => Ok(Self::ConnectError { namespace, data: data.unwrap_or(Value::Null) }),
            other => Err(ProtocolError::UnknownType(other)),
        }
    }

    /// The Engine.IO `message` payload for this packet.
    pub fn encode(&self) -> String {
        fn prefix(kind: char, namespace: &str) -> String {
            if namespace == DEFAULT_NAMESPACE { kind.to_string() } else { format!("{kind}{namespace},") }
        }
        match self {
            Self::Connect { namespace, data } => {
                let mut out = prefix('0', namespace);
                if let Some(data) = data {
                    out.push_str(&data.to_string());
                }
                out
            }
            Self::Disconnect { namespace } => prefix('1', namespace),
            Self::Event { namespace, ack_id, data } => {
                let mut out = prefix('2', namespace);
                if let Some(id) = ack_id {
                    out.push_str(&id.to_string());
                }
                out.push_str(&data.to_string());
                out
            }
            Self::Ack { namespace, ack_id, data } => {
                format!("{}{ack_id}{data}", prefix('3', namespace))
            }
            Self::ConnectError { namespace, data } => format!("{}{data}", prefix('4', namespace)),
        }
    }

    /// The whole WebSocket frame: this packet inside an Engine.IO `message`.
    pub fn to_frame(&self) -> String {
        EnginePacket::Message(self.encode()).encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn open_packet_carries_the_heartbeat_timing() {
        let frame =
            r#"0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        let packet = EnginePacket::decode(frame).unwrap();
        assert_eq!(
            packet,
            EnginePacket::Open(Handshake {
                sid: "abc".into(),
                ping_interval: 25_000,
                ping_timeout: 20_000,
                max_payload: 1_000_000,
            })
        );
    }

    #[test]
    fn open_packet_without_json_is_an_error() {
        assert!(matches!(EnginePacket::decode("0nope"), Err(ProtocolError::BadPayload(_))));
    }

    #[test]
    fn engine_control_packets_round_trip() {
        for packet in [
            EnginePacket::Close,
            EnginePacket::Ping,
            EnginePacket::Pong,
            EnginePacket::Upgrade,
            EnginePacket::Noop,
            EnginePacket::Message("2[\"x\"]".into()),
        ] {
            assert_eq!(EnginePacket::decode(&packet.encode()).unwrap(), packet);
        }
    }

    #[test]
    fn empty_and_unknown_frames_are_errors() {
        assert_eq!(EnginePacket::decode(""), Err(ProtocolError::Empty));
        assert_eq!(EnginePacket::decode("9"), Err(ProtocolError::UnknownType('9')));
    }

    #[test]
    fn connect_with_auth_encodes_on_the_default_namespace() {
        let packet =
            SocketPacket::Connect { namespace: "/".into(), data: Some(json!({"token": "t", "last_seq": 4})) };
        assert_eq!(packet.to_frame(), r#"40{"last_seq":4,"token":"t"}"#);
    }

    #[test]
    fn server_connect_acceptance_decodes() {
        let packet = SocketPacket::decode(r#"0{"sid":"xyz"}"#).unwrap();
        assert_eq!(
            packet,
            SocketPacket::Connect { namespace: "/".into(), data: Some(json!({"sid": "xyz"})) }
        );
    }

    #[test]
    fn event_with_ack_id_decodes() {
        let packet = SocketPacket::decode(r#"212["notification",{"seq":3}]"#).unwrap();
        assert_eq!(
            packet,
            SocketPacket::Event {
                namespace: "/".into(),
                ack_id: Some(12),
                data: json!(["notification", {"seq": 3}]),
            }
        );
    }

    #[test]
    fn event_on_a_named_namespace_round_trips() {
        let packet =
            SocketPacket::Event { namespace: "/admin".into(), ack_id: Some(7), data: json!(["hello", 1]) };
        let text = packet.encode();
        assert_eq!(text, r#"2/admin,7["hello",1]"#);
        assert_eq!(SocketPacket::decode(&text).unwrap(), packet);
    }

    #[test]
    fn ack_round_trips() {
        let packet = SocketPacket::Ack { namespace: "/".into(), ack_id: 5, data: json!([{"ok": true}]) };
        assert_eq!(packet.encode(), r#"35[{"ok":true}]"#);
        assert_eq!(SocketPacket::decode(&packet.encode()).unwrap(), packet);
    }

    #[test]
    fn connect_error_keeps_the_message() {
        let packet = SocketPacket::decode(r#"4{"message":"unauthorized"}"#).unwrap();
        assert_eq!(
            packet,
            SocketPacket::ConnectError { namespace: "/".into(), data: json!({"message": "unauthorized"}) }
        );
    }

    #[test]
    fn event_without_an_array_is_an_error() {
        assert!(matches!(SocketPacket::decode(r#"2{"a":1}"#), Err(ProtocolError::BadPayload(_))));
        assert!(matches!(SocketPacket::decode("2"), Err(ProtocolError::BadPayload(_))));
    }

    #[test]
    fn ack_without_id_is_an_error() {
        assert!(matches!(SocketPacket::decode("3[1]"), Err(ProtocolError::BadPayload(_))));
    }

    #[test]
    fn binary_packets_are_refused() {
        assert_eq!(SocketPacket::decode("51-[\"x\",{}]"), Err(ProtocolError::BinaryUnsupported));
    }

    #[test]
    fn malformed_json_is_an_error_not_a_panic() {
        assert!(matches!(SocketPacket::decode("2[\"x\","), Err(ProtocolError::BadPayload(_))));
        assert!(matches!(
            SocketPacket::decode("299999999999999999999999[1]"),
            Err(ProtocolError::BadPayload(_))
        ));
    }
}
