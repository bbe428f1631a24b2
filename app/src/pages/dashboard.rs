use crate::components::account_panel::AccountPanel;
use crate::components::connection_badge::ConnectionBadge;
use crate::components::notification_centre::NotificationCentre;
use crate::components::orders_list::OrdersList;
use crate::components::stats_panel::StatsPanel;
use crate::components::toasts::Toasts;
use crate::live;
use leptos::prelude::*;

/// The seller's dashboard: live orders, notifications, delivery figures and
/// the truth about the connection.
///
/// The server renders it empty and "connecting"; once hydrated, the WASM
/// client shows what it saved at once and connects (see [`live`]). The
/// dashboard's state is provided here for the components below, and stops
/// when this page goes.
#[component]
pub fn Dashboard() -> impl IntoView {
    let state = live::provide_dashboard();
    let show_details = RwSignal::new(false);

    let shop_link = move || state.seller.get().map(|seller| format!("/shop/{}", seller.id));
    view! {
        <main class="page">
            <header class="topbar">
                <div class="topbar__brand">
                    <h1 class="topbar__title">"LiveShop Link Notify"</h1>
                    <span class="muted" data-testid="shop-name">
                        {move || state.seller.get().map(|seller| seller.shop_name).unwrap_or_default()}
                    </span>
                </div>
                <div class="topbar__actions">
                    <ConnectionBadge/>
                    <button type="button" class="button button--quiet" data-testid="logout" on:click=move |_| state.logout()>
                        "Log out"
                    </button>
                </div>
            </header>
            <Toasts/>
            <Show when=move || state.problem.get().is_some()>
                <p class="problem" role="alert">
                    {move || state.problem.get().unwrap_or_default()}
                    " "
                    <button type="button" class="button button--small button--quiet" on:click=move |_| state.problem.set(None)>
                        "Dismiss"
                    </button>
                </p>
            </Show>
            <div class="grid">
                <OrdersList/>
                <NotificationCentre/>
                <StatsPanel/>
                <section class="card" aria-labelledby="shop-heading">
                    <h2 id="shop-heading">"Your storefront"</h2>
                    <Show
                        when=move || shop_link().is_some()
                        fallback=|| view! { <p class="muted">"Loading…"</p> }
                    >
                        <p>
                            "Customers order at "
                            <a href=shop_link data-testid="shop-link" target="_blank" rel="noopener">
                                {shop_link}
                            </a>
                        </p>
                    </Show>
                    <div class="actions">
                        <button type="button" class="button button--quiet" data-testid="send-test" on:click=move |_| state.send_test()>
                            "Send a test notification"
                        </button>
                        <button
                            type="button"
                            class="button button--quiet"
                            data-testid="toggle-details"
                            aria-expanded=move || show_details.get().to_string()
                            on:click=move |_| show_details.update(|shown| *shown = !*shown)
                        >
                            {move || if show_details.get() { "Hide connection details" } else { "Show connection details" }}
                        </button>
                    </div>
                    <Show when=move || show_details.get()>
                        <dl class="details" data-testid="connection-details">
                            <dt>"Status"</dt>
                            <dd>{move || state.status.get().label()}</dd>
                            <dt>"Session"</dt>
                            <dd data-testid="session-id">
                                {move || state.session.get().sid.unwrap_or_else(|| "none".into())}
                            </dd>
                            <dt>"Heartbeat"</dt>
                            <dd>
                                {move || {
                                    state
                                        .session
                                        .get()
                                        .heartbeat_ms
                                        .map(|ms| format!("every {} s", ms / 1000))
                                        .unwrap_or_else(|| "not yet".into())
                                }}
                            </dd>
                        </dl>
                    </Show>
                </section>
                <AccountPanel/>
            </div>
        </main>
    }
}
