//! Wire types from `docs/CONTRACT.md`, shared by the server (which writes them) and
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
    /// This instance is shutting down (`503`): it still answers what a load
    /// balancer sends it, but new work belongs on the other instances.
    Draining,
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

/// A seller as the API shows it (never with the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seller {
    pub id: i64,
    pub email: String,
    pub shop_name: String,
}

/// CONTRACT: `POST /api/auth/register` and `/login` answer `{"token","seller"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthResponse {
    pub token: String,
    pub seller: Seller,
}

/// CONTRACT: a notification,
/// `{"id","seq","type","title","body","data","created_at","sent_at","received_at","read_at"}`.
/// Times are RFC 3339 (UTC) or null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub id: i64,
    /// Per seller, from 1, no gaps, in commit order: clients dedupe and resume by it.
    pub seq: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub body: String,
    /// Always a JSON object.
    pub data: serde_json::Map<String, serde_json::Value>,
    pub created_at: String,
    pub sent_at: Option<String>,
    pub received_at: Option<String>,
    pub read_at: Option<String>,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderItem {
    pub name: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
}

/// An order placed on a storefront.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: i64,
    pub seller_id: i64,
    pub customer_name: String,
    pub items: Vec<OrderItem>,
    pub note: Option<String>,
    pub total_cents: i64,
    pub created_at: String,
}

/// CONTRACT: `GET /api/notifications/delta` (and the socket's `notifications:sync`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeltaPage {
    /// Ascending by seq, all after the requested one.
    pub notifications: Vec<Notification>,
    /// The seller's newest seq overall, not the page's last.
    pub last_seq: i64,
    /// More rows follow this page: ask again with `after` = the page's last seq.
    pub has_more: bool,
}

/// CONTRACT: `GET /api/notifications/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub total: i64,
    pub unread: i64,
    /// Pushed at least once.
    pub sent: i64,
    /// Acknowledged by a client.
    pub received: i64,
    /// Neither received nor failed yet.
    pub pending: i64,
    /// Every push attempt went unacknowledged (and no ack came later).
    pub failed: i64,
    pub last_seq: i64,
}

/// A storefront as customers see it: `GET /api/shops/{seller_id}` →
/// `{"shop": {...}}` (the project's own addition, public like the order form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shop {
    pub id: i64,
    pub shop_name: String,
}

/// CONTRACT: the body of `POST /api/shops/{seller_id}/orders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrderBody {
    pub customer_name: String,
    pub items: Vec<OrderItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// CONTRACT: the Socket.IO event names, written once for the server and the
/// WASM client.
pub mod events {
    /// Server → client: one notification, with an ack.
    pub const NOTIFICATION: &str = "notification";
    /// Client → server: `{"seqs": [...]}`, the same effect as the ack callback;
    /// answered `{"acknowledged": n}` when the client asks for an ack.
    pub const ACK: &str = "notifications:ack";
    /// Client → server: `{"after", "limit"?}` with an ack, answered like
    /// `GET /api/notifications/delta`.
    pub const SYNC: &str = "notifications:sync";
}

/// How many notifications a dashboard keeps (in memory and in
/// `localStorage`); older ones are still served by the API.
pub const STORE_CAPACITY: usize = 200;

/// CONTRACT: the body of `POST /api/notifications/ack` and of the socket's
/// `notifications:ack`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckBody {
    pub seqs: Vec<i64>,
}

/// CONTRACT: the answer to an ack, by either door: `{"acknowledged": n}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckResponse {
    pub acknowledged: u64,
}

/// CONTRACT: the body of the socket's `notifications:sync`; the same fields
/// as the delta API's query string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SyncBody {
    #[serde(default)]
    pub after: Option<i64>,
    #[serde(default)]
    pub limit: Option<i64>,
}
