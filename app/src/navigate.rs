//! Full page loads: after login, logout or a lost session the next page is
//! fetched from the server, so its guard and rendering decide what is shown
//! (and the WASM client starts clean).

/// Loads `path` as a new page. Does nothing on the server.
pub fn full_page_load(path: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(window) = web_sys::window() {
        let _ = window.location().set_href(path);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}
