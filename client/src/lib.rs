//! The WASM entry point. cargo-leptos's generated JS calls [`hydrate`] once the
//! module is loaded; from then on the server-rendered page is live.

use wasm_bindgen::prelude::wasm_bindgen;

/// Attaches the Leptos app to the server-rendered `<body>`.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // A second init (hot reload) fails harmlessly.
    let _ = console_log::init_with_level(log::Level::Info);
    leptos::mount::hydrate_body(app::App);
}
