//! Rows as both databases return them, and their mapping to wire types.
//!
//! `#[derive(FromRow)]` is generic over the row type, so one struct decodes
//! SQLite rows (TEXT times and JSON) and PostgreSQL rows (TIMESTAMPTZ, JSONB).

use app::types::{Notification, Order, OrderItem, Seller};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};
use sqlx::types::Json;

/// Every column a notification answer needs, in this order.
pub(super) const NOTIFICATION_COLUMNS: &str =
    "id, seq, type, title, body, data, created_at, sent_at, received_at, read_at";

#[derive(Debug, sqlx::FromRow)]
pub(super) struct NotificationRow {
    id: i64,
    seq: i64,
    #[sqlx(rename = "type")]
    kind: String,
    title: String,
    body: String,
    data: Json<Map<String, Value>>,
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    received_at: Option<DateTime<Utc>>,
    read_at: Option<DateTime<Utc>>,
}

impl From<NotificationRow> for Notification {
    fn from(row: NotificationRow) -> Self {
        Self {
            id: row.id,
            seq: row.seq,
            kind: row.kind,
            title: row.title,
            body: row.body,
            data: row.data.0,
            created_at: rfc3339(row.created_at),
            sent_at: row.sent_at.map(rfc3339),
            received_at: row.received_at.map(rfc3339),
            read_at: row.read_at.map(rfc3339),
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct SellerRow {
    pub(super) id: i64,
    pub(super) email: String,
    pub(super) shop_name: String,
}

impl From<SellerRow> for Seller {
    fn from(row: SellerRow) -> Self {
        Self { id: row.id, email: row.email, shop_name: row.shop_name }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct OrderRow {
    id: i64,
    seller_id: i64,
    customer_name: String,
    items: Json<Vec<OrderItem>>,
    note: Option<String>,
    total_cents: i64,
    created_at: DateTime<Utc>,
}

impl From<OrderRow> for Order {
    fn from(row: OrderRow) -> Self {
        Self {
            id: row.id,
            seller_id: row.seller_id,
            customer_name: row.customer_name,
            items: row.items.0,
            note: row.note,
            total_cents: row.total_cents,
            created_at: rfc3339(row.created_at),
        }
    }
}

/// RFC 3339 in UTC with microseconds: the precision both databases keep.
pub(crate) fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The current time at the precision both databases store, so a value read
/// back equals the value written.
pub(crate) fn now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}
