//! The Socket.IO endpoint (`/socket.io/`, protocol v5), built on socketioxide.
//!
//! Every socket authenticates in its handshake ([`auth`]) and joins its
//! seller's room, so a push reaches every socket of that seller. The
//! Engine.IO heartbeat comes from `PING_INTERVAL_MS` / `PING_TIMEOUT_MS`: a
//! client that stops answering pings is dropped within their sum.
//!
//! While the instance drains ([`crate::drain`]) it takes no socket: a new
//! Engine.IO session is answered `503 draining`
//! ([`refuse_new_sessions_while_draining`]), a namespace connect on a
//! session opened earlier `connect_error` `draining`. Once the drain has
//! closed its sockets, a request of a session is answered `503 draining`
//! too, on a connection then closed.
//!
//! This is an edge: it turns socket events into calls on
//! [`crate::delivery::Delivery`] and [`crate::store::Database`], and gives
//! delivery its way to the sockets ([`SocketIoFanout`]). Event names come
//! from `app::types::events`; the room format is written once, here.

mod admission;
mod auth;
pub mod bus;
mod detach;
mod fanout;
mod handlers;
pub mod limits;
pub mod relay;

pub use admission::RefusedSockets;
pub use detach::detach_request_parts;
pub use fanout::SocketIoFanout;
pub use limits::RefusedEvents;

use crate::auth::SessionId;
use crate::config::{CorsOrigins, Networks, SocketConfig};
use crate::delivery::Delivery;
use crate::domain::notification::SellerId;
use crate::drain::Drain;
use crate::error::ApiError;
use crate::sessions::Sessions;
use crate::store::Database;
use admission::{Admission, Refusal};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bus::Bus;
use socketioxide::adapter::Emitter;
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};
use std::sync::Arc;

/// The Socket.IO adapter: socketioxide's Redis adapter over [`Bus`], which is
/// purely local when Redis is not configured. One type either way, so the
/// handlers are written once.
pub type Adapter = CustomRedisAdapter<Emitter, Bus>;
/// The Socket.IO server handle.
pub type SocketIo = socketioxide::SocketIo<Adapter>;
/// A connected socket.
pub type Socket = SocketRef<Adapter>;

/// The largest message a client may send, on either transport.
const MAX_INCOMING_BYTES: usize = 256 * 1024;

/// The room holding every socket of one seller.
pub fn seller_room(seller: SellerId) -> String {
    format!("seller:{}", seller.0)
}

/// The room holding every socket opened with one sign-in session's tokens.
fn session_room(session: &SessionId) -> String {
    format!("session:{session}")
}

/// Disconnects every socket of `seller`, on every instance (through the
/// adapter): their sessions were revoked. With Redis down, only this
/// instance's sockets go (logged).
pub async fn disconnect_seller(io: &SocketIo, seller: SellerId) {
    disconnect_room(io, seller_room(seller)).await;
}

/// Disconnects every socket opened with `session`, on every instance.
pub async fn disconnect_session(io: &SocketIo, session: &SessionId) {
    disconnect_room(io, session_room(session)).await;
}

async fn disconnect_room(io: &SocketIo, room: String) {
    if let Err(error) = io.to(room.clone()).disconnect().await {
        tracing::warn!(%room, %error, "revoked sockets could not all be disconnected");
    }
}

/// What socket handlers reach.
#[derive(Debug, Clone)]
pub struct GatewayState {
    /// Handshakes are checked against the store's sessions.
    pub sessions: Sessions,
    /// `CORS_ORIGIN`: pages of other origins allowed to use the session cookie.
    pub cors: CorsOrigins,
    /// Reads (sync).
    pub database: Database,
    /// Acks and catch-up.
    pub delivery: Delivery,
    /// Each socket's event budget, and the limits on opening sockets.
    pub limits: SocketConfig,
    /// `TRUSTED_PROXIES`, to know the client IP of a handshake.
    pub trusted_proxies: Networks,
    /// Events refused over their budget, for `/metrics`.
    pub refused_events: RefusedEvents,
    /// Handshakes refused, for `/metrics`.
    pub refused_sockets: RefusedSockets,
    /// Set when this instance starts shutting down: new sockets are refused.
    pub drain: Drain,
}

/// Builds the tower layer that serves `/socket.io/` and the handle to its
/// sockets. Nothing connects until [`accept_sockets`] is called.
pub fn layer(config: &SocketConfig, bus: Bus) -> (SocketIoLayer<Adapter>, SocketIo) {
    let prefix = bus.adapter_prefix();
    let adapter = RedisAdapterCtr::new_with_driver(bus, RedisAdapterConfig::new().with_prefix(prefix));
    // Every emit with an ack sets its own timeout (`SocketIoFanout`).
    let (layer, io) = socketioxide::SocketIo::builder()
        .ping_interval(config.ping_interval)
        .ping_timeout(config.ping_timeout)
        // Clients send acks and sync requests, a few hundred bytes; anything
        // far larger is abuse and costs the sender its connection. The
        // polling limit does not cover WebSocket messages, which have
        // limits of their own (64 MiB by default).
        .max_payload(MAX_INCOMING_BYTES as u64)
        .ws_max_message_size(MAX_INCOMING_BYTES)
        .ws_max_frame_size(MAX_INCOMING_BYTES)
        // Clients send small frames (acks, sync requests): one read takes
        // up to this much, a larger frame takes several. The buffer is
        // filled with zeros before each read, so all of it is resident: the
        // 4 KiB default was 4 KiB per idle socket.
        .ws_read_buffer_size(256)
        .with_adapter::<Adapter>(adapter)
        .build_layer();
    (layer, io)
}

/// Opens the `/` namespace: authenticated sockets join their seller's room
/// and are caught up by delivery (which reaches sockets through the
/// [`SocketIo`] handle, so this comes after [`layer`]).
///
/// # Errors
/// When the adapter cannot start (a malformed namespace: a bug).
pub async fn accept_sockets(io: &SocketIo, state: GatewayState) -> anyhow::Result<()> {
    // Shared, not copied: every socket's event handlers hold it.
    let state = Arc::new(state);
    let admission =
        Arc::new(Admission::new(&state.limits, state.trusted_proxies.clone(), state.refused_sockets.clone()));
    let admit_state = Arc::clone(&state);
    let admit = move |socket: Socket, TryData(handshake): TryData<auth::Handshake>| {
        let (state, admission) = (Arc::clone(&admit_state), Arc::clone(&admission));
        async move { admit(&socket, &state, &admission, handshake.ok()).await }
    };
    let on_connect = move |socket: Socket| {
        let state = state.clone();
        async move { handlers::on_connect(socket, state) }
    };
    io.ns("/", on_connect.with(admit))
        .await
        .map_err(|error| anyhow::anyhow!("the Socket.IO adapter failed to start: {error}"))
}

/// Middleware in front of the Socket.IO endpoint: while this instance
/// drains, a request that would open a new Engine.IO session (one without
/// `sid`) is answered `503 draining` and counted as a `draining` refusal.
/// A failed transport is retried by every client by itself, with backoff,
/// until it reaches another instance; a namespace refused with
/// `connect_error` (what [`admit`] answers a session opened before the
/// drain began) the official `socket.io-client` does not retry.
///
/// Once the drain has closed its sockets ([`Drain::sockets_closed`]), a
/// request of an existing session (with `sid`: the next poll of a client on
/// long polling that was between two polls when its turn came, a packet it
/// posts, an upgrade) is answered `503 draining` with `Connection: close`:
/// the client takes it for a failed transport and reconnects elsewhere, and
/// the shutdown has no long poll to wait for. Not counted as a refused
/// socket: the socket was this instance's, and the drain closes it.
///
/// It must run after [`crate::drain::track_socket_io`] (an inner layer),
/// which notes the request in flight first.
pub async fn refuse_new_sessions_while_draining(
    drain: Drain,
    refused: RefusedSockets,
    request: Request,
    next: Next,
) -> Response {
    if drain.is_draining() {
        match session_of(request.uri()) {
            Some(SessionRequest::Opening) => {
                refused.add(Refusal::Draining);
                return draining().into_response();
            }
            Some(SessionRequest::OfASession) if drain.sockets_closed() => {
                let mut response = draining().into_response();
                response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                return response;
            }
            Some(SessionRequest::OfASession) | None => {}
        }
    }
    next.run(request).await
}

/// What a draining instance answers a Socket.IO request it refuses.
fn draining() -> ApiError {
    ApiError::Unavailable {
        code: Refusal::Draining.code(),
        message: "this instance is shutting down; connect again to reach another".into(),
    }
}

/// A request to the Socket.IO endpoint, by the Engine.IO session it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionRequest {
    /// It names no session (`sid`): it would open one.
    Opening,
    /// It names one (which may not exist).
    OfASession,
}

/// Which [`SessionRequest`] a request to `uri` is; `None` when it is not for
/// the Socket.IO endpoint.
fn session_of(uri: &axum::http::Uri) -> Option<SessionRequest> {
    let path = uri.path();
    if path != "/socket.io" && !path.starts_with("/socket.io/") {
        return None;
    }
    let named = uri.query().unwrap_or_default().split('&').any(|pair| pair.starts_with("sid="));
    Some(if named { SessionRequest::OfASession } else { SessionRequest::Opening })
}

/// Connect middleware: whether this instance still takes sockets, the
/// client IP's connection rate (before any work), then the session, then the
/// seller's socket cap. What it accepted is kept in the socket's extensions:
/// the session, and the seller's slot, given back when the socket goes.
async fn admit(
    socket: &Socket,
    state: &GatewayState,
    admission: &Arc<Admission>,
    handshake: Option<auth::Handshake>,
) -> Result<(), Refusal> {
    let client = admission.client(socket.req_parts());
    if state.drain.is_draining() {
        return Err(admission.refuse(Refusal::Draining, client, None));
    }
    admission.check_rate(client)?;
    let session = auth::authenticate(socket, &state.sessions, &state.cors, handshake)
        .await
        .map_err(|refusal| admission.refuse(refusal, client, None))?;
    let slot = admission.take_slot(session.seller, client)?;
    socket.extensions.insert(session);
    if let Some(slot) = slot {
        socket.extensions.insert(slot);
    }
    Ok(())
}
