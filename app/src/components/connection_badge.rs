use crate::realtime::session::ConnectionStatus;
use leptos::prelude::*;

/// Tells the seller whether new orders can reach this page right now.
#[component]
pub fn ConnectionBadge(status: Signal<ConnectionStatus>) -> impl IntoView {
    view! {
        <span
            class="connection-badge"
            data-testid="connection-status"
            data-status=move || status.get().label()
            role="status"
            aria-live="polite"
        >
            <span class="connection-badge__dot" aria-hidden="true"></span>
            {move || status.get().label()}
        </span>
    }
}
