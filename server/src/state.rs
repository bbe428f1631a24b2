//! What every handler can reach: cheap to clone, shared by all requests.

use crate::auth::JwtKeys;
use crate::delivery::Delivery;
use crate::gateway::bus::Bus;
use crate::gateway::{RefusedEvents, SocketIo};
use crate::queue::RetryQueue;
use crate::rate_limiter::RateLimiter;
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
    pub keys: JwtKeys,
    pub ingest_api_key: Option<SecretString>,
    /// Shared by register, login and storefront orders.
    pub rate_limiter: Arc<RateLimiter>,
    /// Session cookies get `Secure` in production.
    pub secure_cookies: bool,
    pub process: Arc<ProcessInfo>,
    /// Socket events refused over their socket's budget.
    pub refused_socket_events: RefusedEvents,
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
