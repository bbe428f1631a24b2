//! Wire types from `CONTRACT.md`, shared by the server (which writes them) and
//! the WASM client (which reads them). Field names are the contract's.

use serde::{Deserialize, Serialize};

/// CONTRACT: every error body is `{"error": "<code>", "message": "<text>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable snake_case code that clients switch on.
    pub error: String,
    /// Human-readable explanation; not for matching.
    pub message: String,
}

/// Overall state reported by `GET /api/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Everything configured is reachable.
    Ok,
    /// Still serving, but an optional dependency (Redis) is unreachable.
    Degraded,
    /// The database is unreachable: the server cannot accept notifications.
    Down,
}

/// CONTRACT: `GET /api/health` →
/// `{"status","database","redis","queue","instance","uptime_s"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthBody {
    pub status: HealthStatus,
    /// `"ok"` or `"down"`.
    pub database: String,
    /// `"ok"`, `"down"`, or `"disabled"` when no `REDIS_URL` is configured.
    pub redis: String,
    /// Where the retry queue lives, e.g. `"sqlite"`.
    pub queue: String,
    /// Identifies this server process among several instances.
    pub instance: String,
    /// Seconds since this process started.
    pub uptime_s: u64,
}
