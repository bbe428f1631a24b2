//! LiveShop Link Notify: the Leptos application shared by the server (SSR) and
//! the browser (hydration), plus the wire types both sides agree on.
//!
//! # Layout
//! - [`types`]: JSON bodies of `docs/CONTRACT.md`, serialised by the server and
//!   parsed by the client.
//! - [`realtime`]: the hand-written Socket.IO client. Its protocol, backoff and
//!   session logic are pure Rust with native tests; only `realtime::browser`
//!   (feature `hydrate`) touches the browser.
//! - [`api`]: the REST calls the pages make (browser only at run time).
//! - [`live`]: the dashboard's state (provided as context to its components)
//!   and actions, fed by the realtime client.
//! - [`pages`] and [`components`]: what the seller and customers see.
//!
//! Features: `ssr` for the server build, `hydrate` for the WASM build. Nothing
//! here may depend on the `server` crate.

pub mod api;
pub mod components;
pub mod live;
pub mod navigate;
pub mod pages;
pub mod realtime;
pub mod security;
pub mod types;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    ParamSegment, StaticSegment,
    components::{Route, Router, Routes},
};

/// The HTML document around the app, rendered by the server on every page load.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    security::apply_page_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="theme-color" content="#0f766e"/>
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                <link rel="manifest" href="/manifest.webmanifest"/>
                <link rel="apple-touch-icon" href="/icons/icon-192.png"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The root component: routes and document metadata.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Stylesheet id="leptos" href="/pkg/liveshop.css"/>
        <Title text="LiveShop Link Notify"/>
        <Router>
            <Routes fallback=pages::not_found::NotFound>
                <Route path=StaticSegment("") view=pages::dashboard::Dashboard/>
                <Route path=StaticSegment("login") view=pages::auth::Login/>
                <Route path=StaticSegment("register") view=pages::auth::Register/>
                <Route path=(StaticSegment("shop"), ParamSegment("seller_id")) view=pages::shop::Storefront/>
            </Routes>
        </Router>
    }
}
