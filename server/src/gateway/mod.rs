//! The Socket.IO endpoint (`/socket.io/`, protocol v5), built on socketioxide.
//!
//! Every socket authenticates in its handshake ([`auth`]) and joins its
//! seller's room, so a push reaches every socket of that seller. The
//! Engine.IO heartbeat comes from `PING_INTERVAL_MS` / `PING_TIMEOUT_MS`: a
//! client that stops answering pings is dropped within their sum.
//!
//! Event names and the room format are written once, here.

mod auth;
pub mod bus;
mod detach;
mod handlers;

pub use detach::detach_request_parts;

use crate::auth::JwtKeys;
use crate::config::Config;
use crate::delivery::Delivery;
use crate::domain::notification::SellerId;
use crate::store::Database;
use bus::Bus;
use socketioxide::adapter::Emitter;
use socketioxide::extract::SocketRef;
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};

/// The Socket.IO adapter: socketioxide's Redis adapter over [`Bus`], which is
/// purely local when Redis is not configured. One type either way, so the
/// handlers are written once.
pub type Adapter = CustomRedisAdapter<Emitter, Bus>;
/// The Socket.IO server handle.
pub type SocketIo = socketioxide::SocketIo<Adapter>;
/// A connected socket.
pub type Socket = SocketRef<Adapter>;

/// Server → client: one notification, with an ack.
pub const NOTIFICATION: &str = "notification";
/// Client → server: `{"seqs": [...]}`, same effect as the ack callback.
pub const ACK: &str = "notifications:ack";
/// Client → server: `{"after", "limit"?}` with an ack; answered like the delta API.
pub const SYNC: &str = "notifications:sync";

/// The room holding every socket of one seller.
pub fn seller_room(seller: SellerId) -> String {
    format!("seller:{}", seller.0)
}

/// What socket handlers reach (socketioxide state).
#[derive(Debug, Clone)]
pub struct GatewayState {
    pub keys: JwtKeys,
    pub database: Database,
}

/// Builds the tower layer that serves `/socket.io/` and the handle to its
/// sockets. Nothing connects until [`accept_sockets`] is called.
pub fn layer(config: &Config, state: GatewayState, bus: Bus) -> (SocketIoLayer<Adapter>, SocketIo) {
    let adapter = RedisAdapterCtr::new_with_driver(
        bus,
        RedisAdapterConfig::new().with_prefix(format!("{}-socket.io", config.redis_prefix)),
    );
    let (layer, io) = socketioxide::SocketIo::builder()
        .ping_interval(config.ping_interval)
        .ping_timeout(config.ping_timeout)
        .ack_timeout(config.ack_timeout)
        // A notification is at most ~12 KiB; anything far larger is abuse.
        .max_payload(256 * 1024)
        // Clients send small frames (acks, sync requests); the buffer grows
        // for a larger one. The 4 KiB default is 4 KiB per idle socket.
        .ws_read_buffer_size(1024)
        .with_state(state)
        .with_adapter::<Adapter>(adapter)
        .build_layer();
    (layer, io)
}

/// Opens the `/` namespace: authenticated sockets join their seller's room
/// and are caught up by `delivery` (which needs the [`SocketIo`] handle, so it
/// is made after [`layer`]).
///
/// # Errors
/// When the adapter cannot start (a malformed namespace: a bug).
pub async fn accept_sockets(io: &SocketIo, delivery: Delivery) -> anyhow::Result<()> {
    let on_connect = move |socket: Socket| {
        let delivery = delivery.clone();
        async move { handlers::on_connect(socket, delivery).await }
    };
    io.ns("/", on_connect.with(auth::authenticate))
        .await
        .map_err(|error| anyhow::anyhow!("the Socket.IO adapter failed to start: {error}"))
}
