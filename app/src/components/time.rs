use leptos::prelude::*;

/// A timestamp from the API (RFC 3339, UTC), shown as the time of day.
/// The machine-readable value stays in `datetime`.
#[component]
pub fn Time(at: String) -> impl IntoView {
    let shown = time_of_day(&at);
    view! { <time class="muted" datetime=at>{shown}</time> }
}

/// `2026-12-02T14:05:09.123Z` → `14:05:09`: the server sends UTC, and the
/// seller reads the time of the order, not its zone.
fn time_of_day(at: &str) -> String {
    at.split_once('T').map_or(at, |(_, time)| time.get(..8).unwrap_or(time)).to_owned()
}

#[cfg(test)]
mod tests {
    use super::time_of_day;

    #[test]
    fn shows_the_time_of_day() {
        assert_eq!(time_of_day("2026-12-02T14:05:09.123Z"), "14:05:09");
        assert_eq!(time_of_day("2026-12-02T14:05Z"), "14:05Z");
        assert_eq!(time_of_day("not a time"), "not a time");
    }
}
