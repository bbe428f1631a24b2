//! Test data shared by the realtime modules' unit tests.

use crate::types::Notification;

/// An unread, unreceived `order.created` notification titled `Order {seq}`.
pub(super) fn notification(seq: i64) -> Notification {
    Notification {
        id: seq.wrapping_add(100),
        seq,
        kind: "order.created".into(),
        title: format!("Order {seq}"),
        body: String::new(),
        data: serde_json::Map::new(),
        created_at: "2026-12-02T00:00:00Z".into(),
        sent_at: None,
        received_at: None,
        read_at: None,
    }
}

/// [`notification`] as the server sends it.
pub(super) fn notification_json(seq: i64) -> serde_json::Value {
    serde_json::to_value(notification(seq)).expect("a notification serialises")
}
