use crate::components::money;
use crate::components::time::Time;
use crate::live::DashboardState;
use leptos::prelude::*;

/// The seller's latest storefront orders, newest first.
#[component]
pub fn OrdersList() -> impl IntoView {
    let state = expect_context::<DashboardState>();
    view! {
        <section class="card" aria-labelledby="orders-heading">
            <h2 id="orders-heading">"Live orders"</h2>
            <Show
                when=move || state.orders.with(|orders| !orders.is_empty())
                fallback=|| view! { <p class="muted">"New orders appear here the moment they are placed."</p> }
            >
                <ul class="feed" data-testid="orders">
                    <For each=move || state.orders.get() key=|order| order.id let:order>
                        <li class="feed__item" data-testid="order" data-order-id=order.id>
                            <div class="feed__text">
                                <strong>{format!("#{} · {}", order.id, order.customer_name)}</strong>
                                <span class="muted">
                                    {order
                                        .items
                                        .iter()
                                        .map(|item| format!("{} × {}", item.quantity, item.name))
                                        .collect::<Vec<_>>()
                                        .join(", ")}
                                </span>
                                <Time at=order.created_at.clone()/>
                            </div>
                            <span class="amount">{money(order.total_cents)}</span>
                        </li>
                    </For>
                </ul>
            </Show>
        </section>
    }
}
