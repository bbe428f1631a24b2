//! The seller's account: change the password, sign out everywhere. Both end
//! every session of the seller, on every device, and disconnect their
//! sockets; after a password change this browser has a new session and
//! loads the dashboard again with it.

use crate::api;
use crate::live::DashboardState;
use crate::navigate::full_page_load;
use crate::pages::auth::Field;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

#[component]
pub fn AccountPanel() -> impl IntoView {
    let state = expect_context::<DashboardState>();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let change = Action::new_local(move |_: &()| async move {
        api::change_password(&current.get_untracked(), &new.get_untracked()).await
    });
    let busy = change.pending();
    let problem = move || match change.value().get() {
        Some(Err(e)) => Some(e.to_string()),
        _ => None,
    };
    Effect::new(move |_| {
        if let Some(Ok(_)) = change.value().get() {
            // Every socket of the seller was disconnected, this one too: start
            // again with the new session's cookie.
            full_page_load("/");
        }
    });
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        change.dispatch_local(());
    };
    view! {
        <section class="card" aria-labelledby="account-heading">
            <h2 id="account-heading">"Your account"</h2>
            <form class="form" method="post" data-testid="change-password" on:submit=on_submit>
                <Field label="Current password" kind="password" name="current_password" autocomplete="current-password" value=current/>
                <Field label="New password (8 characters or more)" kind="password" name="new_password" autocomplete="new-password" value=new/>
                <Show when=move || problem().is_some()>
                    <p class="problem" role="alert" data-testid="password-problem">{problem}</p>
                </Show>
                <button type="submit" class="button" prop:disabled=busy>
                    {move || if busy.get() { "Please wait…" } else { "Change password" }}
                </button>
            </form>
            <p class="muted">"Changing the password signs you out on every other device."</p>
            <div class="actions">
                <button type="button" class="button button--quiet" data-testid="logout-everywhere" on:click=move |_| state.logout_everywhere()>
                    "Sign out everywhere"
                </button>
            </div>
        </section>
    }
}
