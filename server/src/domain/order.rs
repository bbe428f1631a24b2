//! Orders placed by customers on a seller's storefront.

use super::{FieldError, bounded_text};

pub use app::types::OrderItem;

/// A validated order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub customer_name: String,
    pub items: Vec<OrderItem>,
    pub note: Option<String>,
    /// Sum of quantity × unit price; bounded, so it cannot overflow.
    pub total_cents: i64,
}

impl NewOrder {
    pub const CUSTOMER_NAME_MAX: usize = 100;
    pub const ITEMS_MAX: usize = 50;
    pub const ITEM_NAME_MAX: usize = 200;
    pub const QUANTITY_MAX: i64 = 1_000;
    /// 1 000 000.00 in the shop's currency.
    pub const UNIT_PRICE_MAX_CENTS: i64 = 100_000_000;
    pub const NOTE_MAX: usize = 500;

    /// # Errors
    /// The first broken rule, naming its field (`items[1].quantity`).
    pub fn parse(customer_name: &str, items: &[OrderItem], note: Option<&str>) -> Result<Self, FieldError> {
        let customer_name = bounded_text("customer_name", customer_name, 1, Self::CUSTOMER_NAME_MAX)?;
        if items.is_empty() {
            return Err(FieldError::new("items", "must hold at least one item"));
        }
        if items.len() > Self::ITEMS_MAX {
            return Err(FieldError::new("items", format!("must hold at most {} items", Self::ITEMS_MAX)));
        }
        let items = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                parse_item(item).map_err(|e| FieldError::new(format!("items[{i}].{}", e.field), e.message))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let note = match note.map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(bounded_text("note", text, 1, Self::NOTE_MAX)?),
        };
        let total_cents = items.iter().map(|item| item.quantity * item.unit_price_cents).sum();
        Ok(Self { customer_name, items, note, total_cents })
    }
}

fn parse_item(item: &OrderItem) -> Result<OrderItem, FieldError> {
    let name = bounded_text("name", &item.name, 1, NewOrder::ITEM_NAME_MAX)?;
    if !(1..=NewOrder::QUANTITY_MAX).contains(&item.quantity) {
        return Err(FieldError::new("quantity", format!("must be 1 to {}", NewOrder::QUANTITY_MAX)));
    }
    if !(0..=NewOrder::UNIT_PRICE_MAX_CENTS).contains(&item.unit_price_cents) {
        return Err(FieldError::new(
            "unit_price_cents",
            format!("must be 0 to {}", NewOrder::UNIT_PRICE_MAX_CENTS),
        ));
    }
    Ok(OrderItem { name, quantity: item.quantity, unit_price_cents: item.unit_price_cents })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, quantity: i64, unit_price_cents: i64) -> OrderItem {
        OrderItem { name: name.into(), quantity, unit_price_cents }
    }

    #[test]
    fn total_is_the_sum_of_lines() {
        let order =
            NewOrder::parse("Ana", &[item("Scarf", 2, 1500), item("Hat", 1, 999)], Some(" gift ")).unwrap();
        assert_eq!(order.total_cents, 3999);
        assert_eq!(order.note.as_deref(), Some("gift"));
    }

    #[test]
    fn blank_note_is_no_note() {
        assert_eq!(NewOrder::parse("Ana", &[item("Scarf", 1, 1)], Some("  ")).unwrap().note, None);
    }

    #[test]
    fn rules_name_the_offending_field() {
        let cases = [
            (NewOrder::parse("", &[item("a", 1, 1)], None), "customer_name"),
            (NewOrder::parse("Ana", &[], None), "items"),
            (NewOrder::parse("Ana", &vec![item("a", 1, 1); 51], None), "items"),
            (NewOrder::parse("Ana", &[item("a", 1, 1), item("", 1, 1)], None), "items[1].name"),
            (NewOrder::parse("Ana", &[item("a", 0, 1)], None), "items[0].quantity"),
            (NewOrder::parse("Ana", &[item("a", 1001, 1)], None), "items[0].quantity"),
            (NewOrder::parse("Ana", &[item("a", 1, -1)], None), "items[0].unit_price_cents"),
            (NewOrder::parse("Ana", &[item("a", 1, 100_000_001)], None), "items[0].unit_price_cents"),
            (NewOrder::parse("Ana", &[item("a", 1, 1)], Some(&"x".repeat(501))), "note"),
        ];
        for (result, field) in cases {
            assert_eq!(result.unwrap_err().field, field);
        }
    }

    #[test]
    fn largest_order_cannot_overflow() {
        let items =
            vec![item("a", NewOrder::QUANTITY_MAX, NewOrder::UNIT_PRICE_MAX_CENTS); NewOrder::ITEMS_MAX];
        let order = NewOrder::parse("Ana", &items, None).unwrap();
        assert_eq!(order.total_cents, 50 * 1_000 * 100_000_000);
    }
}
