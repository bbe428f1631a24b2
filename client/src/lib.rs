//! The WASM entry point. cargo-leptos's generated JS calls [`hydrate`] once the
//! module is loaded; from then on the server-rendered page is live.

// The dashboard's view types (nested tachys elements) are deep: without
// `erase_components` (off, see Cargo.toml) the compiler needs more room for
// their layout.
#![recursion_limit = "256"]

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen_futures::JsFuture;

/// Attaches the Leptos app to the server-rendered `<body>`, and registers the
/// service worker that lets the installed app open offline.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // A second init (hot reload) fails harmlessly.
    let _ = console_log::init_with_level(log::Level::Info);
    leptos::mount::hydrate_body(app::App);
    mark_hydrated();
    register_service_worker();
}

/// `<html data-hydrated>`: from here on the page's controls are live. Browser
/// tests wait for it before they type, as a person would wait for the page.
fn mark_hydrated() {
    if let Some(root) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.document_element()) {
        let _ = root.set_attribute("data-hydrated", "");
    }
}

/// `/sw.js` (from `client/assets/`), scoped to the whole site. Browsers
/// without service workers, or pages outside a secure context, simply run
/// without one.
fn register_service_worker() {
    let Some(window) = web_sys::window() else { return };
    let container = window.navigator().service_worker();
    if container.is_undefined() {
        return;
    }
    let registration = container.register("/sw.js");
    leptos::task::spawn_local(async move {
        if let Err(e) = JsFuture::from(registration).await {
            log::warn!("service worker not registered: {e:?}");
        }
    });
}
