use crate::components::connection_badge::ConnectionBadge;
use crate::realtime::session::ConnectionStatus;
use leptos::prelude::*;

/// What the page knows about the current Socket.IO session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct SessionDetails {
    sid: Option<String>,
    heartbeat_ms: Option<u64>,
}

/// The seller's dashboard: for now, the live-connection indicator.
#[component]
pub fn Dashboard() -> impl IntoView {
    let status = RwSignal::new(ConnectionStatus::Connecting);
    let details = RwSignal::new(SessionDetails::default());
    let show_details = RwSignal::new(false);

    // Effects run only in the browser, after hydration: the server renders
    // "connecting" and the WASM client takes over from there.
    #[cfg(feature = "hydrate")]
    {
        let connection = StoredValue::new_local(None::<crate::realtime::browser::Connection>);
        Effect::new(move |_| {
            let live = crate::realtime::browser::connect(None, move |session| {
                status.set(session.status());
                details.set(SessionDetails {
                    sid: session.handshake().map(|h| h.sid.clone()),
                    heartbeat_ms: session.handshake().map(|h| h.ping_interval),
                });
            });
            connection.set_value(Some(live));
        });
    }

    view! {
        <main class="page">
            <header class="topbar">
                <h1 class="topbar__title">"LiveShop Link Notify"</h1>
                <ConnectionBadge status=status.into()/>
            </header>
            <section class="card">
                <h2>"Live orders"</h2>
                <p class="muted">
                    "New orders appear here the moment they are placed."
                </p>
                <button
                    type="button"
                    class="button button--quiet"
                    data-testid="toggle-details"
                    aria-expanded=move || show_details.get().to_string()
                    on:click=move |_| show_details.update(|shown| *shown = !*shown)
                >
                    {move || if show_details.get() { "Hide connection details" } else { "Show connection details" }}
                </button>
                <Show when=move || show_details.get()>
                    <dl class="details" data-testid="connection-details">
                        <dt>"Status"</dt>
                        <dd>{move || status.get().label()}</dd>
                        <dt>"Session"</dt>
                        <dd data-testid="session-id">
                            {move || details.get().sid.unwrap_or_else(|| "none".into())}
                        </dd>
                        <dt>"Heartbeat"</dt>
                        <dd>
                            {move || {
                                details
                                    .get()
                                    .heartbeat_ms
                                    .map(|ms| format!("every {} s", ms / 1000))
                                    .unwrap_or_else(|| "not yet".into())
                            }}
                        </dd>
                    </dl>
                </Show>
            </section>
        </main>
    }
}
