//! Small reusable pieces of the dashboard.

pub mod account_panel;
pub mod connection_badge;
pub mod notification_centre;
pub mod orders_list;
pub mod stats_panel;
pub mod time;
pub mod toasts;

/// Cents as the storefront shows prices: `1250` → `12.50`.
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::money;

    #[test]
    fn cents_are_shown_with_two_decimals() {
        assert_eq!(money(0), "0.00");
        assert_eq!(money(5), "0.05");
        assert_eq!(money(1250), "12.50");
        assert_eq!(money(-199), "-1.99");
    }
}
