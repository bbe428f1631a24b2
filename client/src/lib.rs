//! The WASM entry point. cargo-leptos's generated JS calls [`hydrate`] once the
//! module is loaded; from then on the server-rendered page is live.

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
    register_service_worker();
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
