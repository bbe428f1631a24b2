use crate::live::DashboardState;
use leptos::prelude::*;

/// New notifications, briefly, in a polite live region: screen readers
/// announce each one without interrupting the seller.
#[component]
pub fn Toasts() -> impl IntoView {
    let state = expect_context::<DashboardState>();
    view! {
        <div class="toasts" role="status" aria-live="polite" aria-relevant="additions" data-testid="toasts">
            <For each=move || state.toasts.get() key=|toast| toast.seq let:toast>
                <div class="toast" data-testid="toast" data-seq=toast.seq>
                    <div class="toast__text">
                        <strong class="toast__title">{toast.title.clone()}</strong>
                        <span class="toast__body">{toast.body.clone()}</span>
                    </div>
                    <button
                        type="button"
                        class="toast__close"
                        aria-label="Dismiss"
                        on:click=move |_| state.dismiss(toast.seq)
                    >
                        "×"
                    </button>
                </div>
            </For>
        </div>
    }
}
