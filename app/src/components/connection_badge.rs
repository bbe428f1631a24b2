use crate::live::DashboardState;
use crate::realtime::session::ConnectionStatus;
use leptos::prelude::*;

/// Tells the seller whether new orders can reach this page right now, and
/// when the next attempt is if they cannot. It shows "live" only while the
/// server's heartbeats arrive.
#[component]
pub fn ConnectionBadge() -> impl IntoView {
    let state = expect_context::<DashboardState>();
    let text = move || match state.status.get() {
        ConnectionStatus::Reconnecting { .. } => match state.retry_in_s() {
            Some(seconds) if seconds > 0 => format!("reconnecting in {seconds} s"),
            _ => "reconnecting".to_owned(),
        },
        other => other.label().to_owned(),
    };
    view! {
        <span
            class="connection-badge"
            data-testid="connection-status"
            data-status=move || state.status.get().label()
            role="status"
        >
            <span class="connection-badge__dot" aria-hidden="true"></span>
            {text}
        </span>
    }
}
