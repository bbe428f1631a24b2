//! What every handler can reach: cheap to clone, shared by all requests.

use crate::store::Database;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use socketioxide::SocketIo;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct AppState {
    /// Leptos settings (site root, output name) for SSR and static files.
    pub site: LeptosOptions,
    pub database: Database,
    /// The Socket.IO server handle, for counting and reaching sockets.
    pub io: SocketIo,
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
