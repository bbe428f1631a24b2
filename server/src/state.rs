//! What every handler can reach: cheap to clone, shared by all requests.

use crate::config::Networks;
use crate::delivery::Delivery;
use crate::drain::Drain;
use crate::gateway::bus::Bus;
use crate::gateway::{RefusedEvents, RefusedSockets, SocketIo};
use crate::queue::RetryQueue;
use crate::rate_limiter::RateLimiter;
use crate::sessions::Sessions;
use crate::store::Database;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct AppState {
    /// Leptos settings (site root, output name) for SSR and static files.
    pub site: LeptosOptions,
    /// Reads and small updates (read marks).
    pub database: Database,
    /// The Socket.IO server handle, for counting sockets.
    pub io: SocketIo,
    /// Every publish (stored, then pushed) and every ack goes through it.
    pub delivery: Delivery,
    /// The retry queue, for health and shutdown.
    pub queue: RetryQueue,
    /// Redis pub/sub between instances (off without `REDIS_URL`).
    pub bus: Bus,
    /// Sign-in sessions: issued, checked, revoked.
    pub sessions: Sessions,
    pub ingest_api_key: Option<SecretString>,
    /// Shared by register, login and storefront orders.
    pub rate_limiter: Arc<RateLimiter>,
    /// `TRUSTED_PROXIES`: whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Arc<Networks>,
    /// Session cookies get `Secure` in production.
    pub secure_cookies: bool,
    pub process: Arc<ProcessInfo>,
    /// Socket events refused over their socket's budget.
    pub refused_socket_events: RefusedEvents,
    /// Socket handshakes refused, by reason.
    pub refused_sockets: RefusedSockets,
    /// Set on SIGTERM: `/api/health` answers `503 "draining"`.
    pub drain: Drain,
}

/// Facts about this server process, fixed at start.
#[derive(Debug)]
pub struct ProcessInfo {
    /// `INSTANCE_ID`, reported by `/api/health`.
    pub instance: String,
    pub started: Instant,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.site.clone()
    }
}
