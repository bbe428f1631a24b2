//! Sign in and sign up. Both answer with the session cookie, then load the
//! dashboard as a new page.

use crate::api::{self, ApiError};
use crate::navigate::full_page_load;
use crate::types::AuthResponse;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

#[component]
pub fn Login() -> impl IntoView {
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let submit = Action::new_local(move |_: &()| async move {
        api::login(&email.get_untracked(), &password.get_untracked()).await
    });
    view! {
        <AuthPage title="Sign in" submit_label="Sign in" submit>
            <Field label="Email" kind="email" name="email" autocomplete="email" value=email/>
            <Field label="Password" kind="password" name="password" autocomplete="current-password" value=password/>
            <p class="muted">"New here? " <a href="/register">"Create your shop"</a></p>
        </AuthPage>
    }
}

#[component]
pub fn Register() -> impl IntoView {
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let shop_name = RwSignal::new(String::new());
    let submit = Action::new_local(move |_: &()| async move {
        api::register(&email.get_untracked(), &password.get_untracked(), &shop_name.get_untracked()).await
    });
    view! {
        <AuthPage title="Create your shop" submit_label="Create account" submit>
            <Field label="Shop name" kind="text" name="shop_name" autocomplete="organization" value=shop_name/>
            <Field label="Email" kind="email" name="email" autocomplete="email" value=email/>
            <Field label="Password (8 characters or more)" kind="password" name="password" autocomplete="new-password" value=password/>
            <p class="muted">"Already selling? " <a href="/login">"Sign in"</a></p>
        </AuthPage>
    }
}

/// The frame both forms share: heading, error line, submit button.
#[component]
fn AuthPage(
    title: &'static str,
    submit_label: &'static str,
    submit: Action<(), Result<AuthResponse, ApiError>>,
    children: Children,
) -> impl IntoView {
    let busy = submit.pending();
    let problem = move || match submit.value().get() {
        Some(Err(e)) => Some(e.to_string()),
        _ => None,
    };
    Effect::new(move |_| {
        if let Some(Ok(_)) = submit.value().get() {
            full_page_load("/");
        }
    });
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        submit.dispatch_local(());
    };
    view! {
        <main class="page page--narrow">
            <h1 class="topbar__title">"LiveShop Link Notify"</h1>
            // POST, so that a submit before the client is ready never puts
            // the password in the address bar.
            <form class="card form" method="post" on:submit=on_submit>
                <h2>{title}</h2>
                <noscript><p class="problem">"This page needs JavaScript to sign you in."</p></noscript>
                {children()}
                <Show when=move || problem().is_some()>
                    <p class="problem" role="alert" data-testid="form-problem">{problem}</p>
                </Show>
                <button type="submit" class="button" prop:disabled=busy>
                    {move || if busy.get() { "Please wait…" } else { submit_label }}
                </button>
            </form>
        </main>
    }
}

/// A labelled input bound to `value`.
#[component]
pub fn Field(
    label: &'static str,
    kind: &'static str,
    name: &'static str,
    #[prop(optional)] autocomplete: &'static str,
    value: RwSignal<String>,
) -> impl IntoView {
    view! {
        <label class="field">
            <span class="field__label">{label}</span>
            <input class="field__input" type=kind name=name autocomplete=autocomplete required bind:value=value/>
        </label>
    }
}
