//! The public storefront, `/shop/{seller_id}`: where a customer places an
//! order, and the seller's dashboard hears about it.

use crate::api;
use crate::components::money;
use crate::pages::auth::Field;
use crate::types::{NewOrderBody, Order, OrderItem, Shop};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

/// What the shop sells on this demo storefront: (name, price in cents).
const PRODUCTS: [(&str, i64); 4] =
    [("Silk scarf", 2_900), ("Linen tote bag", 1_850), ("Ceramic mug", 1_200), ("Scented candle", 1_590)];

#[component]
pub fn Storefront() -> impl IntoView {
    let params = use_params_map();
    let seller_id = move || params.with(|p| p.get("seller_id").and_then(|id| id.parse::<i64>().ok()));
    let shop = RwSignal::new(None::<Result<Shop, String>>);
    Effect::new(move |_| {
        let Some(id) = seller_id() else {
            shop.set(Some(Err("There is no such shop.".into())));
            return;
        };
        leptos::task::spawn_local(async move {
            shop.set(Some(api::shop(id).await.map_err(|e| match e {
                api::ApiError::Refused { status: 404, .. } => "There is no such shop.".to_owned(),
                other => other.to_string(),
            })));
        });
    });

    let customer = RwSignal::new(String::new());
    let note = RwSignal::new(String::new());
    let product = RwSignal::new(0usize);
    let quantity = RwSignal::new(String::from("1"));
    let place = Action::new_local(move |_: &()| {
        let (name, unit_price_cents) = PRODUCTS[product.get_untracked().min(PRODUCTS.len() - 1)];
        let body = NewOrderBody {
            customer_name: customer.get_untracked(),
            items: vec![OrderItem {
                name: name.to_owned(),
                quantity: quantity.get_untracked().trim().parse().unwrap_or(0),
                unit_price_cents,
            }],
            note: Some(note.get_untracked()).filter(|n| !n.trim().is_empty()),
        };
        let id = seller_id();
        async move {
            match id {
                Some(id) => api::place_order(id, &body).await.map_err(|e| e.to_string()),
                None => Err("There is no such shop.".to_owned()),
            }
        }
    });
    let placed = move || place.value().get();
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        place.dispatch_local(());
    };

    view! {
        <main class="page page--narrow">
            <h1 class="topbar__title" data-testid="shop-title">
                {move || match shop.get() {
                    Some(Ok(shop)) => shop.shop_name,
                    Some(Err(_)) => "Shop not found".to_owned(),
                    None => "Storefront".to_owned(),
                }}
            </h1>
            <Show when=move || matches!(shop.get(), Some(Err(_)))>
                <p class="problem" role="alert">{move || shop.get().and_then(Result::err)}</p>
            </Show>
            <form class="card form" method="post" on:submit=on_submit>
                <h2>"Place an order"</h2>
                <Field label="Your name" kind="text" name="customer_name" autocomplete="name" value=customer/>
                <label class="field">
                    <span class="field__label">"Product"</span>
                    <select
                        class="field__input"
                        name="product"
                        on:change=move |ev| product.set(event_target_value(&ev).parse().unwrap_or(0))
                    >
                        {PRODUCTS
                            .iter()
                            .enumerate()
                            .map(|(i, (name, cents))| {
                                view! { <option value=i.to_string()>{format!("{name} · {}", money(*cents))}</option> }
                            })
                            .collect_view()}
                    </select>
                </label>
                <label class="field">
                    <span class="field__label">"Quantity"</span>
                    <input class="field__input" type="number" name="quantity" min="1" max="1000" required bind:value=quantity/>
                </label>
                <label class="field">
                    <span class="field__label">"Note for the seller (optional)"</span>
                    <input class="field__input" type="text" name="note" bind:value=note/>
                </label>
                <button type="submit" class="button" prop:disabled=move || place.pending().get()>
                    "Place order"
                </button>
                <div role="status" aria-live="polite">
                    {move || match placed() {
                        Some(Ok(order)) => view! { <OrderPlaced order/> }.into_any(),
                        Some(Err(message)) => view! { <p class="problem" data-testid="order-problem">{message}</p> }.into_any(),
                        None => ().into_any(),
                    }}
                </div>
            </form>
        </main>
    }
}

#[component]
fn OrderPlaced(order: Order) -> impl IntoView {
    view! {
        <p class="success" data-testid="order-placed" data-order-id=order.id>
            {format!("Thank you! Order #{} is placed ({}).", order.id, money(order.total_cents))}
        </p>
    }
}
