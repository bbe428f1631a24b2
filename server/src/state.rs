//! What every handler can reach: cheap to clone, shared by all requests.

use crate::auth::JwtKeys;
use crate::delivery::Delivery;
use crate::gateway::SocketIo;
use crate::gateway::bus::Bus;
use crate::http::rate_limit::RateLimiter;
use crate::store::Database;
use crate::store::writer::Writer;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct AppState {
    /// Leptos settings (site root, output name) for SSR and static files.
    pub site: LeptosOptions,
    /// Reads and small updates (acks, read marks).
    pub database: Database,
    /// Every insert of notifications and orders (group commit).
    pub writer: Writer,
    /// The Socket.IO server handle, for counting and reaching sockets.
    pub io: SocketIo,
    /// Pushes what the writer stored to the sellers' sockets.
    pub delivery: Delivery,
    /// Redis pub/sub between instances (off without `REDIS_URL`).
    pub bus: Bus,
    pub keys: JwtKeys,
    pub ingest_api_key: Option<SecretString>,
    /// Shared by register, login and storefront orders.
    pub rate_limiter: Arc<RateLimiter>,
    /// Session cookies get `Secure` in production.
    pub secure_cookies: bool,
    pub process: Arc<ProcessInfo>,
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
