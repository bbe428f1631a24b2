use crate::live::DashboardState;
use crate::types::Stats;
use leptos::prelude::*;

/// Delivery figures from the server: what was pushed, acknowledged, failed.
#[component]
pub fn StatsPanel() -> impl IntoView {
    let state = expect_context::<DashboardState>();
    let figure = move |pick: fn(&Stats) -> i64| {
        move || state.stats.get().map_or_else(|| "–".to_owned(), |stats| pick(&stats).to_string())
    };
    view! {
        <section class="card" aria-labelledby="stats-heading">
            <h2 id="stats-heading">"Delivery"</h2>
            <dl class="stats" data-testid="stats">
                <div><dt>"Notifications"</dt><dd data-testid="stat-total">{figure(|s| s.total)}</dd></div>
                <div><dt>"Received"</dt><dd data-testid="stat-received">{figure(|s| s.received)}</dd></div>
                <div><dt>"Pending"</dt><dd data-testid="stat-pending">{figure(|s| s.pending)}</dd></div>
                <div><dt>"Failed"</dt><dd data-testid="stat-failed">{figure(|s| s.failed)}</dd></div>
                <div><dt>"Unread"</dt><dd data-testid="stat-unread">{figure(|s| s.unread)}</dd></div>
            </dl>
        </section>
    }
}
