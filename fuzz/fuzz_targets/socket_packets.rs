//! The browser client's wire decoding (`app::realtime::protocol`): any text
//! frame the server, a proxy or an attacker could put on the WebSocket.
//!
//! Properties: decoding never panics; what decodes survives encode → decode
//! unchanged (with the exceptions below, each explained).
#![no_main]

use app::realtime::protocol::{EnginePacket, SocketPacket};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // WebSocket text frames are UTF-8; the client never sees anything else.
    let Ok(frame) = std::str::from_utf8(data) else { return };

    match EnginePacket::decode(frame) {
        // `Open` is server-only: its encoder writes a bare `0` (the client
        // never sends one), so it has no round trip to check.
        Ok(EnginePacket::Open(_)) | Err(_) => {}
        // Every other packet is its type digit, plus a message's payload kept
        // verbatim (anything after the digit of the others is ignored), so
        // decode(encode(p)) == p.
        Ok(packet) => {
            assert_eq!(EnginePacket::decode(&packet.encode()), Ok(packet.clone()));
            if let EnginePacket::Message(payload) = &packet {
                socket_packet(payload);
            }
        }
    }
    // The whole frame as a Socket.IO packet too: more shapes for its decoder.
    socket_packet(frame);
});

fn socket_packet(text: &str) {
    let Ok(packet) = SocketPacket::decode(text) else { return };
    let encoded = packet.encode();
    // A frame is the packet inside an Engine.IO message.
    assert_eq!(packet.to_frame(), format!("4{encoded}"));
    if data_reads_as_ack_id(&packet) {
        return;
    }
    // The round trip holds: the namespace decode yields has no ',' and starts
    // with '/' (or is the default, written as nothing); the JSON is
    // re-serialised compactly, which parses to the same value (floats too,
    // with serde_json's float_roundtrip; see Cargo.toml); an ack id is
    // written back in decimal; a missing connect-error payload comes back as
    // the `null` it was decoded to.
    assert_eq!(SocketPacket::decode(&encoded), Ok(packet));
}

/// The one shape without a round trip: a connect (or connect error) whose
/// data is a non-negative number. It encodes as digits right after the type
/// (`0 5` decodes to `Connect { data: Some(5) }`, encoded `05`), which decode
/// reads as an ack id, leaving no data. Only odd frames reach it (JSON allows
/// the leading space); the server always sends objects.
fn data_reads_as_ack_id(packet: &SocketPacket) -> bool {
    let data = match packet {
        SocketPacket::Connect { data: Some(data), .. } | SocketPacket::ConnectError { data, .. } => data,
        _ => return false,
    };
    data.to_string().starts_with(|c: char| c.is_ascii_digit())
}
