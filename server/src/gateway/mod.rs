//! The Socket.IO endpoint (`/socket.io/`, protocol v5), built on socketioxide.
//!
//! The Engine.IO heartbeat comes from `PING_INTERVAL_MS` / `PING_TIMEOUT_MS`:
//! a client that stops answering pings is dropped within their sum.

use crate::config::Config;
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use socketioxide::layer::SocketIoLayer;
use socketioxide::socket::DisconnectReason;

/// Builds the tower layer that serves `/socket.io/` and the handle to its
/// sockets.
pub fn layer(config: &Config) -> (SocketIoLayer, SocketIo) {
    let (layer, io) = SocketIo::builder()
        .ping_interval(config.ping_interval)
        .ping_timeout(config.ping_timeout)
        .build_layer();
    io.ns("/", on_connect);
    (layer, io)
}

async fn on_connect(socket: SocketRef) {
    tracing::info!(sid = %socket.id, "socket connected");
    socket.on_disconnect(|socket: SocketRef, reason: DisconnectReason| async move {
        tracing::info!(sid = %socket.id, ?reason, "socket disconnected");
    });
}
