//! Notifications as publishers send them.

use super::{FieldError, bounded_text};
use app::types::Order;
use serde_json::{Map, Value, json};

/// A seller's id, as in every URL and body of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SellerId(pub i64);

/// A notification's position in its seller's log: 1, 2, 3… with no gaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seq(pub i64);

/// `type`: lower-case dotted words (`order.created`, `test`), so clients can
/// switch on it; any such name is accepted, since other services define their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationType(String);

impl NotificationType {
    pub const MAX_LEN: usize = 64;

    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let ok = !value.is_empty()
            && value.len() <= Self::MAX_LEN
            && value.starts_with(|c: char| c.is_ascii_lowercase())
            && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(FieldError::new(
                "type",
                format!(
                    "must be 1 to {} characters: a-z first, then a-z, 0-9, '.', '_' or '-'",
                    Self::MAX_LEN
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A validated notification, ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub seller_id: SellerId,
    pub kind: NotificationType,
    pub title: String,
    pub body: String,
    /// Always an object; `{}` when the publisher sent none.
    pub data: Map<String, Value>,
}

impl NewNotification {
    pub const TITLE_MAX: usize = 200;
    pub const BODY_MAX: usize = 2_000;
    /// CONTRACT: `data` is at most 8 KiB serialized.
    pub const DATA_MAX_BYTES: usize = 8 * 1024;

    /// # Errors
    /// The first broken rule, naming its field.
    pub fn parse(
        seller_id: i64,
        kind: &str,
        title: &str,
        body: &str,
        data: Option<Value>,
    ) -> Result<Self, FieldError> {
        if seller_id < 1 {
            return Err(FieldError::new("seller_id", "must be a positive integer"));
        }
        Ok(Self {
            seller_id: SellerId(seller_id),
            kind: NotificationType::parse(kind)?,
            title: bounded_text("title", title, 1, Self::TITLE_MAX)?,
            body: bounded_text("body", body, 1, Self::BODY_MAX)?,
            data: parse_data(data)?,
        })
    }
}

impl NewNotification {
    /// CONTRACT: `POST /api/notifications/test`: what the seller asked for to
    /// check that live notifications reach them.
    pub fn test(seller: SellerId) -> Self {
        Self {
            seller_id: seller,
            kind: NotificationType(Self::TEST.to_owned()),
            title: "Test notification".into(),
            body: "If you can read this, live notifications reach you.".into(),
            data: Map::new(),
        }
    }

    /// CONTRACT: the `order.created` notification a seller gets for a
    /// storefront order (stored in the order's transaction, so it knows the id).
    pub fn order_created(order: &Order) -> Self {
        let item_count: i64 = order.items.iter().map(|item| item.quantity).sum();
        let data = match json!({
            "order_id": order.id,
            "customer_name": order.customer_name,
            "item_count": item_count,
            "total_cents": order.total_cents,
        }) {
            Value::Object(map) => map,
            _ => unreachable!("BUG: json!({{..}}) is an object"),
        };
        Self {
            seller_id: SellerId(order.seller_id),
            kind: NotificationType(Self::ORDER_CREATED.to_owned()),
            title: format!("New order #{}", order.id),
            body: format!(
                "{} ordered {} item{} · {}.{:02}",
                order.customer_name,
                item_count,
                if item_count == 1 { "" } else { "s" },
                order.total_cents / 100,
                order.total_cents % 100
            ),
            data,
        }
    }

    /// The `type` of [`Self::test`].
    pub const TEST: &str = "test";
    /// The `type` of [`Self::order_created`].
    pub const ORDER_CREATED: &str = "order.created";
}

/// `data`: absent or null → `{}`; an object up to 8 KiB; anything else refused.
pub fn parse_data(data: Option<Value>) -> Result<Map<String, Value>, FieldError> {
    let map = match data {
        None | Some(Value::Null) => return Ok(Map::new()),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(FieldError::new("data", "must be a JSON object")),
    };
    let size = serde_json::to_vec(&map).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > NewNotification::DATA_MAX_BYTES {
        return Err(FieldError::new(
            "data",
            format!("must be at most {} bytes serialized (got {size})", NewNotification::DATA_MAX_BYTES),
        ));
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(
        seller: i64,
        kind: &str,
        title: &str,
        body: &str,
        data: Option<Value>,
    ) -> Result<NewNotification, FieldError> {
        NewNotification::parse(seller, kind, title, body, data)
    }

    #[test]
    fn a_valid_notification_keeps_its_fields() {
        let n = parse(3, "order.created", " New order ", "2 items", Some(json!({"order_id": 9}))).unwrap();
        assert_eq!(n.seller_id, SellerId(3));
        assert_eq!(n.kind.as_str(), "order.created");
        assert_eq!(n.title, "New order");
        assert_eq!(n.data["order_id"], 9);
    }

    #[test]
    fn missing_or_null_data_is_an_empty_object() {
        assert!(parse(1, "test", "t", "b", None).unwrap().data.is_empty());
        assert!(parse(1, "test", "t", "b", Some(Value::Null)).unwrap().data.is_empty());
    }

    #[test]
    fn each_rule_names_its_field() {
        let cases = [
            (parse(0, "test", "t", "b", None), "seller_id"),
            (parse(1, "Order Created", "t", "b", None), "type"),
            (parse(1, "", "t", "b", None), "type"),
            (parse(1, "test", "  ", "b", None), "title"),
            (parse(1, "test", &"x".repeat(201), "b", None), "title"),
            (parse(1, "test", "t", "", None), "body"),
            (parse(1, "test", "t", &"x".repeat(2001), None), "body"),
            (parse(1, "test", "t", "b", Some(json!([1]))), "data"),
            (parse(1, "test", "t", "b", Some(json!("x"))), "data"),
            (parse(1, "test", "t", "b", Some(json!({"blob": "x".repeat(8200)}))), "data"),
        ];
        for (result, field) in cases {
            assert_eq!(result.unwrap_err().field, field);
        }
    }

    #[test]
    fn built_in_types_are_valid_type_names() {
        for kind in [NewNotification::TEST, NewNotification::ORDER_CREATED] {
            assert_eq!(NotificationType::parse(kind).unwrap().as_str(), kind);
        }
    }

    #[test]
    fn an_order_notification_sums_items_and_formats_the_total() {
        let order = Order {
            id: 12,
            seller_id: 4,
            customer_name: "Ana".into(),
            items: vec![
                app::types::OrderItem { name: "mug".into(), quantity: 2, unit_price_cents: 450 },
                app::types::OrderItem { name: "tea".into(), quantity: 1, unit_price_cents: 305 },
            ],
            note: None,
            total_cents: 1_205,
            created_at: "2026-01-01T00:00:00Z".into(),
        };
        let n = NewNotification::order_created(&order);
        assert_eq!((n.seller_id, n.kind.as_str()), (SellerId(4), "order.created"));
        assert_eq!(n.title, "New order #12");
        assert_eq!(n.body, "Ana ordered 3 items · 12.05");
        assert_eq!(n.data["item_count"], 3);
    }

    #[test]
    fn data_of_exactly_8_kib_is_accepted() {
        // {"k":"…"} is 8 bytes of framing.
        let data = json!({"k": "x".repeat(8 * 1024 - 8)});
        assert_eq!(serde_json::to_vec(&data).unwrap().len(), 8 * 1024);
        assert!(parse(1, "test", "t", "b", Some(data)).is_ok());
    }
}
